"""Answers and conversations as Markdown, for the copy button and the export."""

from __future__ import annotations

from collections.abc import Sequence

from qa.schema import Answer, Citation


def _quote_markdown(citation: Citation) -> str:
    before, answer, after = citation.quote_parts()
    text = f"{before}**{answer}**{after}" if answer else before
    return "\n".join(f"> {line}" if line else ">" for line in text.splitlines() or [""])


def citation_markdown(citation: Citation) -> str:
    return (f"[{citation.number}] `{citation.source}`{citation.page_note}, characters {citation.start}–{citation.end}\n"
            f"{_quote_markdown(citation)}")


def answer_markdown(answer: Answer) -> str:
    """The answer text, then its numbered sources with their quotes (the answer span in bold)."""
    if answer.refused:
        parts = [f"No answer found. {answer.text}"]
        title = "Closest passages (not an answer)"
    else:
        parts = [answer.text]
        title = "Sources"
    if answer.citations:
        parts.append(f"{title}:\n\n" + "\n\n".join(citation_markdown(c) for c in answer.citations))
    return "\n\n".join(parts)


def conversation_markdown(title: str, turns: Sequence[tuple[str, Answer | None, str]]) -> str:
    """A whole chat: each question, then its answer (or what happened instead) with its sources."""
    lines = [f"# {title}"]
    for question, answer, note in turns:
        lines.append(f"## {question}")
        lines.append(answer_markdown(answer) if answer is not None else f"_{note}_")
    return "\n\n".join(lines) + "\n"
