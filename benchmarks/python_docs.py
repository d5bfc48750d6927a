"""Build the Python-docs evaluation corpus: a fixed set of pages of the Python 3.11 HTML docs.

    python benchmarks/python_docs.py OUT [--docs FOLDER]
    qa eval --gold eval/python_docs_gold.jsonl --corpus OUT --out eval-pydocs --no-baseline

Copies the pages below (the questions of eval/python_docs_gold.jsonl were written from them)
from FOLDER, the html/ folder of the Python 3.11 documentation, into OUT, keeping their
relative names (OUT/library/fnmatch.html ...). Without --docs it asks dpkg where Debian's
python3.11-doc package put them. The set mixes sizes, from one-screen modules (colorsys,
getpass) to long references (subprocess, collections) and tutorial chapters.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
from pathlib import Path

PAGES = tuple(f"library/{name}.html" for name in (
    "base64", "bisect", "calendar", "collections", "colorsys", "copy", "csv", "fnmatch",
    "fractions", "functools", "getpass", "glob", "graphlib", "gzip", "heapq", "json", "math",
    "pathlib", "queue", "random", "sched", "secrets", "shlex", "shutil", "statistics",
    "subprocess", "tempfile", "textwrap", "timeit", "uuid", "zoneinfo",
)) + tuple(f"tutorial/{name}.html" for name in (
    "controlflow", "errors", "floatingpoint", "inputoutput", "introduction", "venv",
))

PACKAGE = "python3.11-doc"


def debian_docs_folder() -> Path | None:
    """The html/ folder of Debian's python3.11-doc package, found through its file list; None without it."""
    try:
        listing = subprocess.run(["dpkg", "-L", PACKAGE], capture_output=True, text=True, check=False)
    except FileNotFoundError:  # not a Debian system
        return None
    for line in listing.stdout.splitlines() if listing.returncode == 0 else ():
        if line.endswith("/html/library/fnmatch.html"):
            return Path(line).parents[1]
    return None


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("out", type=Path, help="corpus folder to write (created; the pages are overwritten)")
    parser.add_argument("--docs", type=Path, help=f"the docs' html/ folder (default: from dpkg -L {PACKAGE})")
    args = parser.parse_args()
    docs = args.docs or debian_docs_folder()
    if docs is None:
        sys.exit(f"the Python 3.11 docs were not found: install the Debian package {PACKAGE} "
                 f"(apt-get install {PACKAGE}) or give their html/ folder with --docs")
    missing = [page for page in PAGES if not (docs / page).is_file()]
    if missing:
        sys.exit(f"{docs} lacks {len(missing)} of the pages ({', '.join(missing[:3])} ...): "
                 "is it the html/ folder of the Python 3.11 docs?")
    total = 0
    for page in PAGES:
        target = args.out / page
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(docs / page, target)
        total += target.stat().st_size
    print(f"{len(PAGES)} pages, {total / 1e6:.1f} MB of HTML, in {args.out}")


if __name__ == "__main__":
    main()
