"""A deterministic embedder for tests that need many chunks fast, not meaning: word hashes into 64 bins."""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np

from qa.sentences import Span


class HashEmbedding:
    model_id = "test/word-hash-64"
    dimension = 64
    embed_batch_size = 256

    def encode(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        for row, text in enumerate(texts):
            for word in text.lower().split():
                vectors[row, zlib.crc32(word.encode()) % self.dimension] += 1.0
        norms = np.linalg.norm(vectors, axis=1, keepdims=True)
        return vectors / np.where(norms == 0, 1, norms)

    def get_query_embedding(self, query: str) -> list[float]:
        return self.encode([query])[0].tolist()

    def embed_chunks(self, texts: Sequence[str], sentences: Sequence[Sequence[Span]], on_batch=None):
        return self.encode(texts), [self.encode([text[s.start:s.end] for s in spans]) if spans
                                    else np.zeros((0, self.dimension), dtype=np.float32)
                                    for text, spans in zip(texts, sentences)]
