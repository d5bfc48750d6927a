"""The chat UI entry point (see qa/ui.py)."""
