"""phm.ingest."""
