"""Which accepted sentence may open an answer.

The decision says which sentences answer; among those, some make a poor first line. A line of an
interactive session shows an answer at work rather than stating it, and for "What is X?" the
sentence that defines X (a definition list's "X(…): …") is the answer a reader of reference
documentation expects first.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

from qa.terms import stopwords

if TYPE_CHECKING:
    from qa.ranking import Candidate

_SESSION_LINE = re.compile(r"^\s*(>>>|\.\.\.)(\s|$)")
_WHAT_IS = re.compile(r"(?i)^\s*what(?:'s|\s+is|\s+are|\s+does)\s+(?:an?\s+|the\s+)?(?P<term>[a-z_][\w.]*?)(?:\(\))?"
                      r"(?:\s+do)?\s*\?*\s*$")


def is_session_line(sentence: str) -> bool:
    """">>> Point = namedtuple('Point', ['x', 'y'])" and its "... " continuation lines."""
    return bool(_SESSION_LINE.match(sentence))


def defined_term(question: str) -> str | None:
    """The X of "What is X?", "What's an X?", "What does X do?" (None for any other question, and for "What
    is it?")."""
    found = _WHAT_IS.match(question)
    return found.group("term") if found and found.group("term").lower() not in stopwords() else None


def defines(sentence: str, term: str) -> bool:
    """Whether the sentence is the definition-list entry of `term`, under any module path:
    "class collections.OrderedDict([items]): Return…", "@functools.lru_cache(maxsize=128): Decorator…"."""
    name = re.escape(term.split(".")[-1])
    return re.match(rf"(?i)^(?:class\s+|exception\s+|@)?(?:\w+\.)*{name}\s*(?:\(.*?\))?\s*:\s", sentence) is not None


def may_lead(question: str, accepted: Sequence[Candidate]) -> Callable[[Candidate], bool]:
    """The sentences allowed to lead the answer to `question`, given the ones the decision accepted: the
    definitions of what "What is X?" asks about when one is accepted, otherwise anything but a session line."""
    term = defined_term(question)
    definitions = {id(c) for c in accepted if term and defines(c.record.text, term)}
    if definitions:
        return lambda c: id(c) in definitions
    return lambda c: not is_session_line(c.record.text)
