"""Features: windows, process statistics (polars) and spectra (numpy), identical in batch and streaming."""
