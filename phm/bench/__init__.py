"""`phm bench NAME`: the benchmark commands (apps layer) and their shared result files."""
