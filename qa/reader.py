"""The learned reader: does this sentence answer this question, and where in it is the answer?

A cross-encoder fine-tuned from the all-MiniLM-L6-v2 weights the engine already ships
(`make train`, qa/training/): the question and a candidate sentence (followed by the
sentence before it, for pronouns) are read together, and two heads give the logit that
the sentence answers the question and, over the sentence's tokens, where the answer
starts and ends. Only what training changed is kept in the repo (the encoder layers,
fp16, ~21 MB); the embeddings come from the base model's folder. A checksum written by
training is verified at load, and the model runs int8-quantized: eight candidates take
~40 ms (p50) on two cores.
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from qa.schema import QAError

WEIGHTS_FILE = "reader.safetensors"
MANIFEST_FILE = "manifest.json"
MAX_LENGTH = 80  # question + sentence + some context; longer pairs lose context first
MAX_ANSWER_TOKENS = 16  # longest span the reader may point at


class ReaderUnavailable(QAError):
    """The reader's weights are missing or do not match their checksum."""


def default_model_dir() -> Path:
    """The trained reader shipped inside the package (qa/models/reader)."""
    return Path(str(resources.files("qa") / "models" / "reader"))


@dataclass(frozen=True)
class Reading:
    """The reader's verdict on one (question, sentence) pair."""

    logit: float  # > 0: more likely than not to answer
    span: tuple[int, int] | None  # characters of the sentence it points at as the answer
    span_score: float = -20.0  # start + end logit of that span: how sure the reader is of where the answer is


def pair_text(sentence: str, context: str, separator: str) -> str:
    """Second segment of a pair: the candidate first, so truncation cuts the context, not the sentence."""
    sentence, context = " ".join(sentence.split()), " ".join(context.split())
    return f"{sentence} {separator} {context}" if context else sentence


def encode_pairs(tokenizer: Any, questions: Sequence[str], sentences: Sequence[str], contexts: Sequence[str],
                 max_length: int = MAX_LENGTH) -> tuple[dict[str, Any], np.ndarray]:
    """Tokenized pairs (torch tensors) and, per token, where it sits in its (whitespace-folded) sentence.

    The second array holds (start, end) character offsets for tokens of the candidate sentence
    and (-1, -1) for every other token, so heads can be read over the sentence alone.
    """
    seconds = [pair_text(s, c, tokenizer.sep_token) for s, c in zip(sentences, contexts)]
    batch = tokenizer(list(questions), seconds, padding=True, truncation="only_second", max_length=max_length,
                      return_offsets_mapping=True, return_tensors="pt")
    offsets = batch.pop("offset_mapping").numpy().copy()
    for row, sentence in enumerate(sentences):
        length = len(" ".join(sentence.split()))
        in_sentence = (np.asarray(batch.sequence_ids(row), dtype=object) == 1) & (offsets[row, :, 1] <= length)
        in_sentence &= offsets[row, :, 1] > offsets[row, :, 0]
        offsets[row][~in_sentence] = -1
    return dict(batch), offsets


def build_network(base_folder: str) -> Any:
    """The base encoder with the reader's two heads, untrained; training and loading share it."""
    import torch
    from transformers import AutoModel
    from transformers.utils import logging as transformers_logging

    class ReaderNetwork(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            # The base model's unused pooler would be reported as "unexpected" at every start.
            transformers_logging.set_verbosity_error()
            transformers_logging.disable_progress_bar()
            self.encoder = AutoModel.from_pretrained(base_folder, local_files_only=True, add_pooling_layer=False)
            hidden = self.encoder.config.hidden_size
            self.dropout = torch.nn.Dropout(0.1)
            self.answers = torch.nn.Linear(hidden, 1)
            self.span = torch.nn.Linear(hidden, 2)

        def forward(self, input_ids, attention_mask, token_type_ids):
            states = self.encoder(input_ids=input_ids, attention_mask=attention_mask,
                                  token_type_ids=token_type_ids).last_hidden_state
            logit = self.answers(self.dropout(states[:, 0])).squeeze(-1)
            start, end = self.span(self.dropout(states)).unbind(-1)
            return logit, start, end

    return ReaderNetwork()


def trained_parameters(name: str) -> bool:
    """Which weights training changes and the repo keeps: all but the word and position embeddings."""
    return not (name.startswith("encoder.embeddings.word_embeddings")
                or name.startswith("encoder.embeddings.position_embeddings"))


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def best_span(start: np.ndarray, end: np.ndarray, offsets: np.ndarray) -> tuple[int, int, float] | None:
    """Characters of the highest-scoring start<=end token pair inside the sentence (at most
    MAX_ANSWER_TOKENS long), and its score."""
    inside = np.flatnonzero(offsets[:, 0] >= 0)
    if inside.size == 0:
        return None
    starts, ends = start[inside], end[inside]
    scores = starts[:, None] + ends[None, :]
    gap = inside[None, :] - inside[:, None]
    scores = np.where((gap >= 0) & (gap < MAX_ANSWER_TOKENS), scores, -np.inf)
    first, last = np.unravel_index(int(np.argmax(scores)), scores.shape)
    return int(offsets[inside[first], 0]), int(offsets[inside[last], 1]), float(scores[first, last])


@functools.lru_cache(maxsize=2)
def load_reader(model_dir: Path) -> Reader:
    """One reader per model folder and process: loading it is the costly part, reading is thread-safe."""
    return Reader(model_dir)


class Reader:
    """Scores (question, sentence) pairs with the trained cross-encoder; loads offline, verifies its weights."""

    def __init__(self, model_dir: Path | None = None, base_folder: str | None = None) -> None:
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        import torch
        from safetensors.torch import load_file
        from transformers import AutoTokenizer

        from qa.embedding import model_folder

        model_dir = model_dir or default_model_dir()
        weights = model_dir / WEIGHTS_FILE
        try:
            manifest = json.loads((model_dir / MANIFEST_FILE).read_text(encoding="utf-8"))
        except (OSError, ValueError) as error:
            raise ReaderUnavailable(f"The reader model in {model_dir} is missing its manifest; run `make train`.") from error
        if not weights.is_file() or file_sha256(weights) != manifest.get("sha256"):
            raise ReaderUnavailable(
                f"The reader weights {weights} are missing or damaged (checksum mismatch); "
                "reinstall qa or run `make train`."
            )
        base_folder = base_folder or model_folder()
        self.manifest = manifest
        # Read pairs at the length the model was trained at: a longer window gives it context it never learned from.
        self.max_length = int(manifest.get("max_length", MAX_LENGTH))
        self.tokenizer = AutoTokenizer.from_pretrained(base_folder, local_files_only=True)
        network = build_network(base_folder)
        state = {name: tensor.float() for name, tensor in load_file(str(weights)).items()}
        missing = [name for name in network.state_dict() if trained_parameters(name) and name not in state]
        if missing:
            raise ReaderUnavailable(f"The reader weights {weights} lack {len(missing)} tensors; run `make train`.")
        network.load_state_dict(state, strict=False)
        network.eval()
        # int8 linear layers: 3x faster on CPU; training calibrated the decision on this same path.
        with warnings.catch_warnings():  # torch's notice that this API moves to torchao
            warnings.simplefilter("ignore")
            self.network = torch.ao.quantization.quantize_dynamic(network, {torch.nn.Linear}, dtype=torch.qint8)
        self._torch = torch

    def read(self, question: str, sentences: Sequence[str], contexts: Sequence[str]) -> list[Reading]:
        """One Reading per sentence; spans index the sentence as given."""
        if not sentences:
            return []
        batch, offsets = encode_pairs(self.tokenizer, [question] * len(sentences), sentences, contexts, self.max_length)
        with self._torch.inference_mode():
            logits, starts, ends = (t.numpy() for t in self.network(**batch))
        readings = []
        for row, sentence in enumerate(sentences):
            found = best_span(starts[row], ends[row], offsets[row])
            if found is None:
                readings.append(Reading(float(logits[row]), None))
            else:
                readings.append(Reading(float(logits[row]), _unfold(sentence, found[:2]), found[2]))
        return readings


def _unfold(sentence: str, span: tuple[int, int] | None) -> tuple[int, int] | None:
    """Map a span of the whitespace-folded sentence (`" ".join(sentence.split())`) back onto the sentence."""
    if span is None:
        return None
    positions: list[int] = []  # original index of each folded character
    for index, char in enumerate(sentence):
        if not char.isspace() or positions and not sentence[positions[-1]].isspace():
            positions.append(index)
    if positions and sentence[positions[-1]].isspace():
        positions.pop()
    start, end = span
    if not 0 <= start < end <= len(positions):
        return None
    return positions[start], positions[end - 1] + 1
