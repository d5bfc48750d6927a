"""The chat UI entry point (see qa/ui.py): `python app.py`, or `make run`."""

from qa.ui import launch

if __name__ == "__main__":
    launch()
