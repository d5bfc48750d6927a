"""Fine-tune the reader (qa/reader.py) from all-MiniLM-L6-v2 on the training pairs; fixed seeds, CPU.

One pass over the train articles' questions, each with its group of candidate sentences (the
answer first, then hard negatives; qa/training/data.py). Three losses:
- binary cross-entropy on "answers or not", pair by pair, so the logit stays a calibrated score;
- listwise: the answer's logit against the rest of its group (softmax), because the engine keeps
  the best of the few sentences it reads and a pointwise loss alone did not rank it first;
- the answer's first and last token, normalised over the tokens of every sentence in the group
  (shared normalisation, Clark & Gardner 2018), so span scores compare across sentences and a
  confident span in the wrong sentence is penalised.
Word and position embeddings stay frozen (they are read from the base model at load, so the
repo keeps only what changed).
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
from qa.evaluation.squad import domain_of
from qa.reader import (
    MANIFEST_FILE,
    MAX_LENGTH,
    WEIGHTS_FILE,
    build_network,
    encode_pairs,
    file_sha256,
    trained_parameters,
)
from qa.training.data import API_QUESTIONS_FILE, Pair, batches, build_groups, first_pairs, load_split, repeated

LIST_LOSS_WEIGHT = 1.0
SPAN_LOSS_WEIGHT = 0.5


@dataclass(frozen=True)
class TrainConfig:
    seed: int = 7
    # Above the 88,506 pairs the train articles give (21,908 questions' groups), so all of them: ~60 minutes on
    # two quiet cores. Capped at 64,000 the reader was 1.3 points worse at ranking the answer first (test articles).
    max_pairs: int = 1_000_000
    batch_size: int = 32
    learning_rate: float = 8e-5
    head_learning_rate: float = 1e-3  # the two heads start from scratch
    warmup_share: float = 0.06
    weight_decay: float = 0.01
    max_length: int = MAX_LENGTH
    # Also train on the API documentation questions (qa/training/api_questions.py), technical prose SQuAD-Shifts
    # lacks. Off: the reader trained with them answered fewer of the Python docs questions (README).
    api_questions: bool = False
    api_repeats: int = 3  # they are few (about 3% of the questions): each is seen this many times in the one pass


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


def group_losses(groups: list[list[Pair]], logit, start, end, offsets: np.ndarray):
    """Listwise and shared-normalisation span losses, averaged over the groups of one batch.

    Rows of logit/start/end follow the groups' pairs in order; each group's first pair is its answer.
    """
    import torch

    first, last, usable = span_targets([pair for group in groups for pair in group], offsets)
    outside = torch.from_numpy(offsets[..., 0] < 0)
    start, end = start.masked_fill(outside, -1e4), end.masked_fill(outside, -1e4)
    listwise, pointer, spans, row = [], [], 0, 0
    for group in groups:
        rows = slice(row, row + len(group))
        if len(group) > 1:
            listwise.append(torch.nn.functional.cross_entropy(logit[rows][None], torch.zeros(1, dtype=torch.long)))
        if usable[row]:
            for scores, target in ((start, first[row]), (end, last[row])):
                pointer.append(torch.nn.functional.cross_entropy(scores[rows].reshape(1, -1),
                                                                 torch.tensor([int(target)])))
            spans += 1
        row += len(group)
    loss = logit.new_zeros(())
    if listwise:
        loss = loss + LIST_LOSS_WEIGHT * torch.stack(listwise).mean()
    if pointer:
        loss = loss + SPAN_LOSS_WEIGHT * torch.stack(pointer).sum() / spans
    return loss


def finetune(data_dir: Path, out_dir: Path, config: TrainConfig = TrainConfig(), show_progress: bool = True) -> dict:
    """Train, write the weights and a manifest with their checksum into out_dir, return the manifest."""
    import torch
    from safetensors.torch import save_file
    from tqdm import tqdm
    from transformers import AutoTokenizer, get_linear_schedule_with_warmup

    _seed_everything(config.seed)
    torch.set_num_threads(os.cpu_count() or 1)
    extra = [API_QUESTIONS_FILE] if config.api_questions else []
    sentences, questions, spans = load_split(data_dir, "train", extra)
    groups = build_groups(sentences, questions, spans, config.seed, show_progress)
    api = {q.text for q in questions if q.article.startswith(f"{domain_of(API_QUESTIONS_FILE)}:")}
    groups = first_pairs(repeated(groups, lambda group: group[0].question in api, config.api_repeats, config.seed),
                         config.max_pairs)
    pairs = [pair for group in groups for pair in group]
    packed = batches(groups, config.batch_size, config.seed)
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
    steps = len(packed)
    schedule = get_linear_schedule_with_warmup(optimizer, int(steps * config.warmup_share), steps)
    binary = torch.nn.BCEWithLogitsLoss()

    network.train()
    started = time.time()
    progress = tqdm(packed, total=steps, desc="Training the reader", unit="batch", disable=not show_progress)
    running = 0.0
    for step, batch_groups in enumerate(progress, 1):
        batch = [pair for group in batch_groups for pair in group]
        encoded, offsets = encode_pairs(tokenizer, [p.question for p in batch], [p.sentence for p in batch],
                                        [p.context for p in batch], config.max_length)
        logit, start, end = network(**encoded)
        loss = binary(logit, torch.tensor([float(p.label) for p in batch]))
        loss = loss + group_losses(batch_groups, logit, start, end, offsets)
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
        "api_questions": len(api),
        "train_pairs": len(pairs),
        "train_positives": sum(p.label for p in pairs),
        "train_seconds": round(time.time() - started),
    }
    (out_dir / MANIFEST_FILE).write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    return manifest
