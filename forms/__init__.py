"""fieldcase forms package."""
