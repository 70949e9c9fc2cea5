"""The web view's pages, one module per area; importing them attaches their routes."""
