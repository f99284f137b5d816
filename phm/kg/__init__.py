"""phm.kg."""
