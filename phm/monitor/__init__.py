"""phm.monitor."""
