"""HTML for the chat UI: answers with their numbered sources, refusals, errors and the corpus panel.

Every piece of corpus or user text is HTML-escaped here, and every fragment is one line of
HTML inside a block element, so the chat's Markdown renderer passes it through untouched.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Iterator, Mapping, Sequence

from qa.schema import Answer, Citation
from qa.store import IndexedFile

CSS = """
.qa-answer p { margin: 0 0 .6em 0; }
.qa-ref { font-weight: 600; color: var(--color-accent); white-space: nowrap; }
.qa-sources { margin-top: .6em; border-top: 1px solid var(--border-color-primary); padding-top: .4em; }
.qa-sources-title { font-size: .85em; font-weight: 600; text-transform: uppercase; letter-spacing: .04em;
  opacity: .75; margin-bottom: .3em; }
.qa-source { margin: .5em 0 .6em 0; }
.qa-source-head { font-size: .88em; }
.qa-source-head code { font-size: .95em; }
#qa-chat .qa-quote { margin: .2em 0 0 0; padding: .05em .6em; border-left: 3px solid var(--color-accent);
  }
.qa-quote mark, .qa-context mark { background: #fde68a; color: #1f2937; padding: 0 .1em; border-radius: 2px; }
.qa-context { font-size: .88em; margin: .15em 0 0 .2em; }
.qa-context summary { cursor: pointer; opacity: .75; }
.qa-context p { margin: .2em 0 0 0; }
.qa-refusal-banner { border: 1px solid #f59e0b; background: rgba(245, 158, 11, .12); border-radius: 6px;
  padding: .45em .7em; margin-bottom: .5em; }
.qa-refusal-label { font-weight: 700; color: #b45309; margin-right: .4em; }
#qa-chat .qa-refusal .qa-quote { border-left-color: #9ca3af; }
.qa-refusal .qa-quote mark { background: #e5e7eb; }
.qa-error { border: 1px solid #ef4444; background: rgba(239, 68, 68, .1); border-radius: 6px; padding: .45em .7em; }
.qa-error-label { font-weight: 700; color: #b91c1c; margin-right: .4em; }
.qa-pending { opacity: .7; font-style: italic; }
.qa-status-ok { color: #15803d; }
.qa-status-bad { color: #b91c1c; }
#qa-files table, #qa-files td span, #qa-files th span { font-size: var(--text-sm) !important; }
.qa-status ul { margin: .2em 0 .2em 1.2em; }
"""

_MARKER = re.compile(r"\[(\d+)\]")


def _text(text: str) -> str:
    """Escaped text on one line of HTML (line breaks become <br>)."""
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def _with_markers(text: str) -> str:
    """Escaped answer text whose [n] citation markers stay visible and are styled."""
    return _MARKER.sub(r'<span class="qa-ref">[\1]</span>', _text(text))


def user_message(question: str) -> str:
    return f'<div class="qa-question">{_text(question)}</div>'


def pending() -> str:
    return '<div class="qa-pending">Searching the documents…</div>'


def stream_steps(text: str, words_per_step: int = 6) -> Iterator[str]:
    """Growing prefixes of an answer's text, a few words at a time, for streaming it into the chat."""
    words = text.split(" ")
    for end in range(words_per_step, len(words), words_per_step):
        yield " ".join(words[:end])


def partial_answer(text: str) -> str:
    return f'<div class="qa-answer qa-partial"><p>{_with_markers(text)} …</p></div>'


def _highlight(context: str, start: int, end: int) -> str:
    """`context` escaped, with context[start:end] inside <mark>."""
    return f"{_text(context[:start])}<mark>{_text(context[start:end])}</mark>{_text(context[end:])}"


def source_block(citation: Citation) -> str:
    """One numbered source: file, the quoted span highlighted, and its chunk on demand."""
    head = (f'<div class="qa-source-head"><span class="qa-ref">[{citation.number}]</span> '
            f'<code>{html.escape(citation.source)}</code> · characters {citation.start}–{citation.end}</div>')
    quote = f'<div class="qa-quote"><mark>{_text(citation.quote)}</mark></div>'
    offset = citation.start - citation.context_start
    context = ""
    if citation.context and citation.context[offset:offset + len(citation.quote)] == citation.quote:
        body = _highlight(citation.context, offset, offset + len(citation.quote))
        context = f'<details class="qa-context"><summary>Show context</summary><p>{body}</p></details>'
    return f'<div class="qa-source">{head}{quote}{context}</div>'


def _sources(title: str, citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    blocks = "".join(source_block(citation) for citation in citations)
    return f'<div class="qa-sources"><div class="qa-sources-title">{title}</div>{blocks}</div>'


def render_answer(answer: Answer) -> str:
    """An answer with its numbered sources, or a refusal with the closest passages."""
    if answer.refused:
        banner = (f'<div class="qa-refusal-banner"><span class="qa-refusal-label">No answer found.</span>'
                  f"{_text(answer.text)}</div>")
        return f'<div class="qa-refusal">{banner}{_sources("Closest passages (not an answer)", answer.citations)}</div>'
    return f'<div class="qa-answer"><p>{_with_markers(answer.text)}</p>{_sources("Sources", answer.citations)}</div>'


def render_error(message: str) -> str:
    return f'<div class="qa-error"><span class="qa-error-label">Can’t answer:</span>{_text(message)}</div>'


def file_rows(files: Mapping[str, IndexedFile]) -> list[list]:
    """Rows of the corpus table: file, chunks, when it was last indexed (local time)."""
    return [[item.source, item.chunks, time.strftime("%Y-%m-%d %H:%M", time.localtime(item.indexed_at))]
            for item in sorted(files.values(), key=lambda item: item.source)]


def notice(text: str) -> str:
    """A warning about the whole index, e.g. that it is empty."""
    return f'<div class="qa-status"><div class="qa-status-bad">{_text(text)}</div></div>'


def status(ok: Sequence[str] = (), bad: Sequence[str] = ()) -> str:
    """The corpus panel's report: what worked, and each file or step that did not."""
    parts = [f'<div class="qa-status-ok">{_text(line)}</div>' for line in ok]
    if bad:
        items = "".join(f"<li>{_text(line)}</li>" for line in bad)
        parts.append(f'<div class="qa-status-bad">Not indexed:<ul>{items}</ul></div>')
    return f'<div class="qa-status">{"".join(parts)}</div>'
