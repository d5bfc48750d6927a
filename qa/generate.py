"""A generative answerer for any OpenAI-compatible server (llama.cpp, Ollama, vLLM, OpenAI...),
held to the same standard as the extractive one: every sentence it keeps cites evidence that
contains its words and figures; sentences that do not are dropped, and with none left qa
refuses rather than pass on an unsupported claim.
"""

from __future__ import annotations

import logging
import re

import httpx
import numpy as np
from llama_index.core.schema import NodeWithScore

from qa.answer import REFUSAL_TEXT, ExtractiveAnswerer, ScoredSentence, figures, make_citation
from qa.config import Settings
from qa.retrieve import TermStatistics, keywords
from qa.schema import Citation, QAError
from qa.sentences import sentence_spans
from qa.store import SentenceRecord

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

    def __init__(self, settings: Settings, ranker: ExtractiveAnswerer, client: httpx.Client | None = None) -> None:
        self.settings = settings
        self.ranker = ranker
        self.client = client or httpx.Client(timeout=settings.llm_timeout)

    def _complete(self, question: str, evidence: list[ScoredSentence]) -> str:
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

    def answer(self, question: str, standalone: str, query_vector: np.ndarray, passages: list[NodeWithScore],
               sentences: list[SentenceRecord], statistics: TermStatistics) -> tuple[str, list[Citation], bool]:
        ranked = self.ranker.score(question, standalone, query_vector, passages, sentences, statistics)
        if not ranked or ranked[0].score < self.ranker.refusal_threshold:
            return REFUSAL_TEXT, [make_citation(n, s) for n, s in enumerate(ranked[:3], 1)], True
        evidence = ranked[:EVIDENCE_SENTENCES]
        reply = self._complete(standalone, evidence)
        kept: list[tuple[str, list[int]]] = []
        for span in sentence_spans(reply.replace(NOT_FOUND, "")):
            sentence = reply[span.start:span.end]
            cited = [int(n) for n in _MARKER.findall(sentence) if 1 <= int(n) <= len(evidence)]
            if cited and supported(sentence, [evidence[n - 1].record.text for n in cited]):
                kept.append((sentence, cited))
            else:
                log.info("dropped an unsupported sentence from the model: %r", sentence)
        if not kept:
            return REFUSAL_TEXT, [make_citation(n, s) for n, s in enumerate(ranked[:3], 1)], True
        renumber: dict[int, int] = {}
        for _, cited in kept:
            for n in cited:
                renumber.setdefault(n, len(renumber) + 1)
        lines = [_MARKER.sub(lambda m: f"[{renumber[int(m.group(1))]}]" if int(m.group(1)) in renumber else "", s).strip()
                 for s, _ in kept]
        citations = [make_citation(new, evidence[old - 1]) for old, new in renumber.items()]
        return " ".join(lines), citations, False
