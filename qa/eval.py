"""`python -m qa.eval` and `qa eval`: the evaluation's entry point (the work is in qa.evaluation)."""

from __future__ import annotations

import sys

from qa.evaluation.cli import main

__all__ = ["main"]

if __name__ == "__main__":
    sys.exit(main())
