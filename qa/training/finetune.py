"""Fine-tune the reader (qa/reader.py) from all-MiniLM-L6-v2 on the training pairs; fixed seeds, CPU.

One pass over the pairs of the train articles: binary cross-entropy on "answers or not"
plus, on positives, cross-entropy on the answer's first and last token within the
sentence. Word and position embeddings stay frozen (they are read from the base model at
load, so the repo keeps only what changed).
"""

from __future__ import annotations

import json
import os
import random
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from qa.embedding import MODEL_ID, model_folder
from qa.reader import (
    MANIFEST_FILE,
    MAX_LENGTH,
    WEIGHTS_FILE,
    build_network,
    encode_pairs,
    file_sha256,
    trained_parameters,
)
from qa.training.data import Pair, batches, build_pairs, load_split

SPAN_LOSS_WEIGHT = 0.5


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 7
    max_pairs: int = 64_000  # ~40 minutes on two quiet cores; every question keeps its chance of a positive
    batch_size: int = 32
    learning_rate: float = 8e-5
    head_learning_rate: float = 1e-3  # the two heads start from scratch
    warmup_share: float = 0.06
    weight_decay: float = 0.01
    max_length: int = MAX_LENGTH


def _seed_everything(seed: int) -> None:
    import torch

    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def span_targets(pairs: list[Pair], offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """First and last token of each positive's answer, and which rows have one inside the encoded sentence."""
    starts = np.zeros(len(pairs), dtype=np.int64)
    ends = np.zeros(len(pairs), dtype=np.int64)
    usable = np.zeros(len(pairs), dtype=bool)
    for row, pair in enumerate(pairs):
        if pair.answer is None:
            continue
        left, right = pair.answer
        token_starts, token_ends = offsets[row, :, 0], offsets[row, :, 1]
        overlap = np.flatnonzero((token_starts >= 0) & (token_starts < right) & (token_ends > left))
        if overlap.size:
            starts[row], ends[row], usable[row] = overlap[0], overlap[-1], True
    return starts, ends, usable


def finetune(data_dir: Path, out_dir: Path, config: TrainConfig = TrainConfig(), show_progress: bool = True) -> dict:
    """Train, write the weights and a manifest with their checksum into out_dir, return the manifest."""
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    _seed_everything(config.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    sentences, questions, spans = load_split(data_dir, "train")
    pairs = build_pairs(sentences, questions, spans, config.seed, show_progress)[: config.max_pairs]
    base = model_folder()
    tokenizer = AutoTokenizer.from_pretrained(base, local_files_only=True)
    network = build_network(base)
    for name, parameter in network.named_parameters():
        parameter.requires_grad = trained_parameters(name)
    trainable = [p for p in network.parameters() if p.requires_grad]
    heads = [p for name, p in network.named_parameters() if p.requires_grad and not name.startswith("encoder.")]
    body = [p for name, p in network.named_parameters() if p.requires_grad and name.startswith("encoder.")]
    optimizer = torch.optim.AdamW([{"params": body, "lr": config.learning_rate},
                                   {"params": heads, "lr": config.head_learning_rate}],
                                  weight_decay=config.weight_decay)
    steps = -(-len(pairs) // config.batch_size)
    schedule = get_linear_schedule_with_warmup(optimizer, int(steps * config.warmup_share), steps)
    binary = torch.nn.BCEWithLogitsLoss()
    pointer = torch.nn.CrossEntropyLoss()

    network.train()
    started = time.time()
    progress = tqdm(batches(pairs, config.batch_size, config.seed), total=steps, desc="Training the reader",
                    unit="batch", disable=not show_progress)
    running = 0.0
    for step, batch in enumerate(progress, 1):
        encoded, offsets = encode_pairs(tokenizer, [p.question for p in batch], [p.sentence for p in batch],
                                        [p.context for p in batch], config.max_length)
        logit, start, end = network(**encoded)
        loss = binary(logit, torch.tensor([float(p.label) for p in batch]))
        first, last, usable = span_targets(batch, offsets)
        if usable.any():
            outside = torch.from_numpy(offsets[..., 0] < 0)
            rows = torch.from_numpy(usable)
            start = start.masked_fill(outside, -1e4)[rows]
            end = end.masked_fill(outside, -1e4)[rows]
            loss = loss + SPAN_LOSS_WEIGHT * (pointer(start, torch.from_numpy(first[usable]))
                                              + pointer(end, torch.from_numpy(last[usable])))
        loss.backward()
        torch.nn.utils.clip_grad_norm_(trainable, 1.0)
        optimizer.step()
        schedule.step()
        optimizer.zero_grad()
        running = 0.98 * running + 0.02 * loss.item() if step > 1 else loss.item()
        progress.set_postfix(loss=f"{running:.3f}")

    out_dir.mkdir(parents=True, exist_ok=True)
    state = {name: tensor.detach().half().contiguous() for name, tensor in network.state_dict().items()
             if trained_parameters(name)}
    weights = out_dir / WEIGHTS_FILE
    save_file(state, str(weights))
    manifest = {
        "base_model": MODEL_ID,
        "sha256": file_sha256(weights),
        "max_length": config.max_length,
        "train_config": asdict(config),
        "train_questions": len(questions),
        "train_pairs": len(pairs),
        "train_positives": sum(p.label for p in pairs),
        "train_seconds": round(time.time() - started),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
