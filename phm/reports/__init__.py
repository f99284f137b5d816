"""phm.reports."""
