"""fieldcase exports package."""
