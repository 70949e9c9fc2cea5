"""fieldcase crypto package."""
