"""Features: windows, process statistics (polars), spectra (numpy); batch == streaming."""
