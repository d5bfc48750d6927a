"""The entry point of `python app.py`: the chat and the HTTP APIs, as `qa serve` (see qa/server.py)."""

import sys

from qa.server import main

if __name__ == "__main__":
    sys.exit(main())
