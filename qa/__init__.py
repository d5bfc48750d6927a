"""qa: ask questions of a folder of documents, get answers that cite their sources."""

from qa.api import ask, get_engine
from qa.schema import Answer, Citation, Passage, QAError

__all__ = ["Answer", "Citation", "Passage", "QAError", "as_query_engine", "as_retriever", "ask", "get_engine"]


def __getattr__(name: str):
    """The llama-index adapters (qa/llama.py), imported on first use."""
    if name in ("as_query_engine", "as_retriever"):
        from qa import llama

        return getattr(llama, name)
    raise AttributeError(f"module 'qa' has no attribute {name!r}")
