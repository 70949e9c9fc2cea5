"""fieldcase server package."""
