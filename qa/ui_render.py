"""HTML for the chat UI: answers with their numbered sources, refusals, errors and the corpus panel.

Every piece of corpus or user text is HTML-escaped here, and every fragment is one line of
HTML inside a block element, so the chat's Markdown renderer passes it through untouched.
"""

from __future__ import annotations

import html
import re
import time
from collections.abc import Mapping, Sequence

from qa.answer import Partial
from qa.history import DONE, FAILED, PENDING, Turn
from qa.schema import Answer, Citation, Passage
from qa.store_records import IndexedFile
from qa.ui_text import answer_markdown

_MARKER = re.compile(r"\[(\d+)\]")


def _text(text: str) -> str:
    """Escaped text on one line of HTML (line breaks become <br>)."""
    return html.escape(text).replace("\r\n", "\n").replace("\n", "<br>")


def _attr(text: str) -> str:
    """Text for an HTML attribute value (quotes escaped; line breaks kept as entities)."""
    return html.escape(text, quote=True).replace("\n", "&#10;")


def _with_markers(text: str) -> str:
    """Escaped answer text whose [n] markers are buttons that lead to their source."""
    return _MARKER.sub(r'<button type="button" class="qa-ref" data-ref="\1" title="Show source \1">[\1]</button>',
                       _text(text))


def user_message(question: str) -> str:
    return f'<div class="qa-question">{_text(question)}</div>'


_USER_MESSAGE = re.compile(r'\s*<div class="qa-question">(.*)</div>\s*', re.DOTALL)


def question_of(message: str) -> str:
    """The question inside a user message's HTML, or `message` itself if it is not one.

    The chat's Edit box starts with the message's content; chat.js swaps in the plain text, and this
    undoes the HTML should an edit arrive without that swap."""
    wrapped = _USER_MESSAGE.fullmatch(message)
    if wrapped is None:
        return message
    return html.unescape(wrapped.group(1).replace("<br>", "\n"))


def pending() -> str:
    return '<div class="qa-pending">Searching the documents…</div>'


def _highlight(context: str, start: int, end: int) -> str:
    """`context` escaped, with context[start:end] inside <mark>."""
    return f"{_text(context[:start])}<mark>{_text(context[start:end])}</mark>{_text(context[end:])}"


def _marked_quote(citation: Citation) -> str:
    """The quote inside <mark>, the part the reader points at as the answer in <strong>."""
    before, answer, after = citation.quote_parts()
    bold = f"<strong>{_text(answer)}</strong>" if answer else ""
    return f"<mark>{_text(before)}{bold}{_text(after)}</mark>"


def source_block(citation: Citation) -> str:
    """One numbered source: file, the quoted span highlighted, its chunk on demand, a link to the whole file."""
    opener = (f'<button type="button" class="qa-open" data-source="{_attr(citation.source)}" '
              f'data-start="{citation.start}" data-end="{citation.end}">Open document</button>')
    head = (f'<div class="qa-source-head"><span class="qa-ref-label">[{citation.number}]</span> '
            f'<code>{html.escape(citation.source)}</code>{html.escape(citation.page_note)}'
            f' · characters {citation.start}–{citation.end} {opener}</div>')
    quote = f'<div class="qa-quote">{_marked_quote(citation)}</div>'
    offset = citation.start - citation.context_start
    context = ""
    if citation.context and citation.context[offset:offset + len(citation.quote)] == citation.quote:
        body = _highlight(citation.context, offset, offset + len(citation.quote))
        context = f'<details class="qa-context"><summary>Show context</summary><p>{body}</p></details>'
    return f'<div class="qa-source" data-ref="{citation.number}">{head}{quote}{context}</div>'


def _sources(title: str, citations: Sequence[Citation]) -> str:
    if not citations:
        return ""
    blocks = "".join(source_block(citation) for citation in citations)
    return f'<div class="qa-sources"><div class="qa-sources-title">{title}</div>{blocks}</div>'


def _read_as(answer: Answer) -> str:
    """How a follow-up was read, when that differs from what was typed, with a way to correct it."""
    standalone = answer.standalone_question
    if not standalone or " ".join(standalone.split()) == " ".join(answer.question.split()):
        return ""
    return (f'<div class="qa-read-as"><span class="qa-read-as-label">Read as:</span> {_text(standalone)} '
            f'<button type="button" class="qa-read-as-edit" data-question="{_attr(standalone)}">Correct it</button>'
            "</div>")


def _copy_button(answer: Answer) -> str:
    return (f'<div class="qa-actions"><button type="button" class="qa-copy" '
            f'data-copy="{_attr(answer_markdown(answer))}">Copy answer</button></div>')


def render_answer(answer: Answer) -> str:
    """An answer with its numbered sources, or a refusal with the closest passages."""
    if answer.refused:
        banner = (f'<div class="qa-refusal-banner"><span class="qa-refusal-label">No answer found.</span> '
                  f"{_text(answer.text)}{' ' + _text(answer.reason) if answer.reason else ''}</div>")
        sources = _sources("Closest passages (not an answer)", answer.citations)
        return f'<div class="qa-refusal">{_read_as(answer)}{banner}{sources}{_copy_button(answer)}</div>'
    note = f'<p class="qa-answer-note">{_text(answer.reason)}</p>' if answer.reason else ""
    return (f'<div class="qa-answer">{_read_as(answer)}<p>{_with_markers(answer.text)}</p>{note}'
            f'{_sources("Sources", answer.citations)}{_copy_button(answer)}</div>')


def render_error(message: str) -> str:
    return f'<div class="qa-error"><span class="qa-error-label">Can’t answer:</span> {_text(message)}</div>'


def stopped() -> str:
    return '<div class="qa-stopped">Stopped. Ask again, or press Retry.</div>'


def render_provisional(partial: Partial) -> str:
    """An answer being written: the claims already checked, then the unchecked rest, marked as such."""
    checked = f'<div class="qa-answer-text">{_with_markers(partial.checked)}</div>' if partial.checked else ""
    unchecked = f'<div class="qa-unchecked">{_text(partial.pending)}</div>' if partial.pending else ""
    return (f'<div class="qa-pending qa-provisional">{checked}{unchecked}'
            '<div class="qa-note">Writing; each sentence is checked against its source before it stays.</div></div>')


def messages(turns: list[Turn], provisional: Mapping[int, Partial] | None = None) -> list[dict]:
    """The chat's messages for a conversation: each question, then its answer or what became of it
    (`provisional` holds what is being written for pending turns, by turn id)."""
    result = []
    for turn in turns:
        result.append({"role": "user", "content": user_message(turn.question)})
        if turn.status == PENDING and provisional and turn.id in provisional:
            reply = render_provisional(provisional[turn.id])
        elif turn.status == PENDING:
            reply = pending()
        elif turn.status == DONE and turn.answer is not None:
            reply = render_answer(turn.answer)
        elif turn.status == FAILED:
            reply = render_error(turn.error)
        else:
            reply = stopped()
        result.append({"role": "assistant", "content": reply})
    return result


def file_rows(files: Mapping[str, IndexedFile]) -> list[list]:
    """Rows of the corpus table: file, chunks, when it was last indexed (local time)."""
    return [[item.source, item.chunks, time.strftime("%Y-%m-%d %H:%M", time.localtime(item.indexed_at))]
            for item in sorted(files.values(), key=lambda item: item.source)]


def chunks_view(source: str, chunks: Sequence[Passage]) -> str:
    """The indexed chunks of one file, numbered, with their spans."""
    if not chunks:
        return notice(f"{source} has no chunks in the index.")
    items = "".join(f'<li><div class="qa-chunk-head">characters {chunk.start}–{chunk.end}</div>'
                    f"<p>{_text(chunk.text)}</p></li>" for chunk in chunks)
    return (f'<div class="qa-viewer"><div class="qa-viewer-title"><code>{html.escape(source)}</code>: '
            f'{len(chunks)} chunk{"" if len(chunks) == 1 else "s"}</div><ol class="qa-chunks">{items}</ol></div>')


def document_view(source: str, text: str, start: int | None = None, end: int | None = None) -> str:
    """A whole document as indexed, the cited span (if any) marked."""
    if start is not None and end is not None and 0 <= start < end <= len(text):
        body = f'{_text(text[:start])}<mark id="qa-cited">{_text(text[start:end])}</mark>{_text(text[end:])}'
    else:
        body = _text(text)
    return (f'<div class="qa-viewer"><div class="qa-viewer-title"><code>{html.escape(source)}</code></div>'
            f'<div class="qa-document">{body}</div></div>')


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


def note(text: str, ok: bool = False) -> str:
    """A short message under the question box or in the documents panel that stays until the next action."""
    kind = "qa-status-ok" if ok else "qa-status-bad"
    return f'<div class="qa-note {kind}" role="status">{_text(text)}</div>'
