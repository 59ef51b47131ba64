"""Developer tools run from a checkout (`python -m tools.<name>` at the repository's root); never installed."""
