"""Sentence splitting and document reading time by text size; prints numbers, asserts nothing.

    python benchmarks/split.py [--sizes 1,2,20]

For each size (MB) it builds a text from the seed articles repeated (news prose with
abbreviations, initials and datelines) and times `sentence_spans` on it, then the whole read
of the same bytes as a .txt, .md and .html file (`parse_document`). Linear splitting shows
as a constant MB/s across sizes.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from qa.documents import parse_document  # noqa: E402
from qa.sentences import sentence_spans  # noqa: E402


def seed_text(size: int) -> str:
    articles = "\n\n".join(path.read_text(encoding="utf-8") for path in sorted((ROOT / "seeds").glob("*.txt")))
    return (articles * (size // len(articles) + 1))[:size]


def timed(function, *args) -> tuple[float, object]:
    start = time.perf_counter()
    result = function(*args)
    return time.perf_counter() - start, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="1,2,20", help="sizes in MB, comma-separated")
    args = parser.parse_args()
    print(f"{'size':>6} {'sentences':>10} {'split s':>8} {'MB/s':>6} {'.txt s':>7} {'.md s':>7} {'.html s':>8}")
    for megabytes in (float(size) for size in args.sizes.split(",")):
        text = seed_text(int(megabytes * 1_000_000))
        seconds, spans = timed(sentence_spans, text)
        paragraphs = text.split("\n\n")
        html = "<html><body>" + "".join(f"<p>{p}</p>" for p in paragraphs) + "</body></html>"
        reads = [timed(parse_document, f"bench/doc{suffix}", data.encode("utf-8"))[0]
                 for suffix, data in ((".txt", text), (".md", text), (".html", html))]
        print(f"{megabytes:>4.0f}MB {len(spans):>10,} {seconds:>8.2f} {megabytes / seconds:>6.1f} "
              f"{reads[0]:>7.2f} {reads[1]:>7.2f} {reads[2]:>8.2f}", flush=True)


if __name__ == "__main__":
    main()
