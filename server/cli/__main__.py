"""`python -m server.cli` runs the `fieldcase` command (used where the script is not on PATH)."""

from server.cli import main

main()
