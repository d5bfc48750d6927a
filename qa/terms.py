"""Words as keyword search sees them: lower-cased, stemmed, stopwords out, figures kept whole."""

from __future__ import annotations

import re
from functools import lru_cache
from pathlib import Path

import Stemmer

# Figures stay one token ("7.2382", "300,000"); other words need two characters, as in bm25s.
TOKEN_PATTERN = r"(?u)\d+(?:[.,]\d+)+|\b\w\w+\b"
_TOKEN = re.compile(TOKEN_PATTERN)


@lru_cache(maxsize=1)
def stemmer() -> Stemmer.Stemmer:
    return Stemmer.Stemmer("english")


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    # nltk's English list as llama-index-core bundles it, read directly: going through nltk's
    # data loader costs more than a second of every cold start.
    import llama_index.core

    bundled = Path(llama_index.core.__file__).parent / "_static" / "nltk_cache" / "corpora" / "stopwords" / "english"
    return frozenset(bundled.read_text(encoding="utf-8").split())


def keywords(text: str) -> list[str]:
    """Lower-cased, stemmed content words, as BM25 sees them."""
    words = [word for word in _TOKEN.findall(text.lower()) if word not in stopwords()]
    return stemmer().stemWords(words)
