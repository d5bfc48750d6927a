"""qa: ask questions of a folder of documents, get answers that cite their sources."""

from qa.api import ask, get_engine
from qa.schema import Answer, Citation, Passage, QAError

__all__ = ["Answer", "Citation", "Passage", "QAError", "ask", "get_engine"]
