"""qa: ask questions of a folder of documents, get answers that cite their sources.

`import qa` stays light (`qa --help` must not load llama-index, Chroma or torch): the entry
points are imported on first use.
"""

from qa.schema import Answer, Citation, Passage, QAError

__all__ = ["Answer", "Citation", "Passage", "QAError", "as_query_engine", "as_retriever", "ask", "get_engine"]

_LAZY = {"ask": "qa.api", "get_engine": "qa.api", "as_query_engine": "qa.llama", "as_retriever": "qa.llama"}


def __getattr__(name: str):
    """`qa.ask`, `qa.get_engine` (qa/api.py) and the llama-index adapters (qa/llama.py), imported on first use."""
    if name in _LAZY:
        from importlib import import_module

        return getattr(import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
