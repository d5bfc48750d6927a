"""The entry point of `python app.py`: the chat and the HTTP APIs, as `qa serve` (see qa/server.py)."""

from qa.server import run

if __name__ == "__main__":
    run()
