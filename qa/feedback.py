"""Turn the chat's thumbs-up ratings into gold lines for `qa eval` (`qa feedback export`)."""

from __future__ import annotations

import json
from pathlib import Path

from qa.evaluation.gold import item_to_json, parse_item
from qa.history import Feedback, History


def gold_item(feedback: Feedback) -> dict | None:
    """A gold item for an approved answer (or an approved refusal); None for thumbs down."""
    if feedback.rating <= 0:
        return None
    answer = feedback.answer
    base = {"id": f"feedback-{feedback.turn}", "question": feedback.question, "history": feedback.history}
    if answer.refused or not answer.citations:
        data = {**base, "kind": "unanswerable", "answerable": False}
    else:
        spans = [c.quote_parts()[1] for c in answer.citations]
        accepted = [span for span in spans if span] or [answer.citations[0].quote]
        evidence = [{"source": c.source.split("/", 1)[-1], "quote": c.quote, "start": c.start}
                    for c in answer.citations]
        data = {**base, "kind": "followup" if feedback.history else "fact", "answerable": True,
                "answers": list(dict.fromkeys(accepted)), "evidence": evidence}
    return item_to_json(parse_item(data))


def export(history_folder: Path) -> list[str]:
    """JSON lines of every approved answer, oldest first."""
    items = (gold_item(item) for item in History(history_folder).feedback())
    return [json.dumps(item, ensure_ascii=False) for item in items if item is not None]
