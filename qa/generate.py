"""A generative answerer for any OpenAI-compatible server (llama.cpp, Ollama, vLLM, OpenAI...),
held to the same standard as the extractive one: every sentence it keeps cites evidence that
contains its words and figures; sentences that do not are dropped, and with none left qa
refuses rather than pass on an unsupported claim.
"""

from __future__ import annotations

import logging
import re

import httpx

from qa.answer import Draft, figures, make_citation
from qa.config import Settings
from qa.ranking import Candidate, Evidence
from qa.retrieve import keywords
from qa.schema import QAError
from qa.sentences import sentence_spans

log = logging.getLogger(__name__)
EVIDENCE_SENTENCES = 8
NOT_FOUND = "NOT IN DOCUMENTS"
SYSTEM_PROMPT = (
    "You answer questions using only the numbered passages you are given. Write one to three short "
    "sentences. End every sentence with the number of the passage it comes from, in brackets, like [2]. "
    "When passages disagree, give each version with its own number. If the passages do not answer the "
    f"question, reply exactly: {NOT_FOUND}"
)
_MARKER = re.compile(r"\[(\d+)\]")
SUPPORT = 0.6  # share of a sentence's content words that its cited passages must contain


class GeneratorUnavailable(QAError):
    """The language model server did not answer."""


def supported(sentence: str, evidence: list[str]) -> bool:
    """Whether the cited evidence holds the sentence's figures and most of its content words."""
    quoted = " ".join(evidence)
    if not figures(_MARKER.sub("", sentence)) <= figures(quoted):
        return False
    words = set(keywords(_MARKER.sub("", sentence)))
    return bool(words) and len(words & set(keywords(quoted))) / len(words) >= SUPPORT


class GenerativeAnswerer:
    """Asks a chat-completions endpoint to answer from the best sentences, then checks each claim."""

    def __init__(self, settings: Settings, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.client = client or httpx.Client(timeout=settings.llm_timeout)

    def _complete(self, question: str, evidence: list[Candidate]) -> str:
        passages = "\n".join(f"[{n}] {' '.join(s.record.text.split())}" for n, s in enumerate(evidence, 1))
        body = {
            "model": self.settings.llm_model, "temperature": 0,
            "messages": [{"role": "system", "content": SYSTEM_PROMPT},
                         {"role": "user", "content": f"Passages:\n{passages}\n\nQuestion: {question}"}],
        }
        url = self.settings.llm_base_url.rstrip("/") + "/chat/completions"
        try:
            response = self.client.post(url, json=body, headers={"Authorization": f"Bearer {self.settings.llm_api_key}"})
            response.raise_for_status()
            return str(response.json()["choices"][0]["message"]["content"])
        except (httpx.HTTPError, KeyError, IndexError, ValueError) as error:
            raise GeneratorUnavailable(f"The language model server at {url} did not answer: {error}") from error

    def compose(self, evidence: Evidence) -> Draft:
        """The model's sentences that its cited passages support, renumbered; no text when none are."""
        shown = [c for c in evidence.candidates if c.reader_logit is not None][:EVIDENCE_SENTENCES]
        reply = self._complete(evidence.standalone, shown)
        kept: list[tuple[str, list[int]]] = []
        for span in sentence_spans(reply.replace(NOT_FOUND, "")):
            sentence = reply[span.start:span.end]
            cited = [int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(shown)]
            if cited and supported(sentence, [shown[n - 1].record.text for n in cited]):
                kept.append((sentence, cited))
            else:
                log.info("dropped an unsupported sentence from the model: %r", sentence)
        renumber: dict[int, int] = {}
        for _, cited in kept:
            for n in cited:
                renumber.setdefault(n, len(renumber) + 1)
        lines = [_MARKER.sub(lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "", s).strip()
                 for s, _ in kept]
        return Draft(" ".join(lines), [make_citation(new, shown[old - 1]) for old, new in renumber.items()])
