"""phm.store."""
