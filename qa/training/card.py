"""The model card written beside the reader's weights: data, split, metrics, how to retrain."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from qa.training.calibrate import CHOSEN, TARGET_UNANSWERED, Comparison
from qa.training.finetune import LIST_LOSS_WEIGHT, SPAN_LOSS_WEIGHT


def comparison_table(comparisons: list[Comparison]) -> str:
    lines = ["| decision | best sentence holds the answer | answerable accuracy | article removed: answered |"
             " same topic: answered | dev: accuracy / article removed / same topic |",
             "|---|---:|---:|---:|---:|---:|"]
    for c in comparisons:
        lines.append(f"| {c.variant} | {c.test['best_sentence_holds_answer']:.1%} | "
                     f"{c.test['answerable_accuracy']:.1%} | {c.test['unanswerable_answered']:.1%} | "
                     f"{c.test['same_topic_answered']:.1%} | {c.dev['answerable_accuracy']:.1%} / "
                     f"{c.dev['unanswerable_answered']:.1%} / {c.dev['same_topic_answered']:.1%} |")
    return "\n".join(lines)


def api_questions_line(manifest: dict[str, Any]) -> str:
    count = manifest.get("api_questions", 0)
    if not count:
        return ""
    return (f"- {count:,} questions about the API documentation of third-party Python packages (a function's\n"
            "  name or a default in its signature), written by Qwen2.5-Coder-1.5B over their docstrings\n"
            "  (qa/training/api_questions.py, `qa/training/api_questions.json`): train data only.\n")


def write_card(out: Path, manifest: dict[str, Any], comparisons: list[Comparison], dev_questions: int,
               test_questions: int, config: dict[str, Any]) -> Path:
    chosen = next(c for c in comparisons if c.variant == CHOSEN)
    text = f"""# qa reader: answer-sentence selection for extractive answers

A cross-encoder that reads (question, candidate sentence + the sentence before it) and gives
the logit that the sentence answers the question, plus start/end scores over the sentence's
tokens (the answer span shown in bold). Fine-tuned from `{manifest['base_model']}` (the
embedding model qa already ships); this folder holds only what training changed: the six
encoder layers, token-type embeddings, layer norms and the two heads, in fp16
(`reader.safetensors`, sha256 `{manifest['sha256']}`, verified at load). The answer/refuse
decision (`decision.json`) is a logistic model over the reader's logit and the engine's
features ({', '.join(chosen.decision.features)}), thresholded at P >= {chosen.decision.threshold:.4f}.
qa uses it with `QA_DECISION=learned`; the default is still the hand-fitted rule, because on the
seeds gold set this decision refuses far more answerable questions (the README has the numbers).

## Data
- SQuAD-Shifts nyt, amazon reviews and new_wiki (CC BY 4.0), split by article with a fixed
  seed (qa/evaluation/squad.py `split_articles`): 80% train, 10% dev, 10% test.
{api_questions_line(manifest)}- Training groups from the train articles ({manifest['train_questions']:,} questions):
  {manifest['train_positives']:,} questions with their groups, {manifest['train_pairs']:,} pairs. Each group: the
  sentence that holds an accepted answer whole, then its negatives: the sentence after it,
  another sentence of the same paragraph, and the best BM25 matches outside the paragraph (one
  in the same article, one in another). A sentence containing an accepted answer's text is
  never a negative.
- Calibration: the dev articles' joint benchmark ({dev_questions:,} questions: half asked with their
  article in the corpus, half with it removed), run through the real engine, plus a same-topic
  unanswerable version of each answerable question (the sentences holding its answer taken
  away). The threshold is the lowest that answers at most {TARGET_UNANSWERED:.0%} of dev's
  unanswerable questions of both kinds.
- SQuAD v1.1 dev and SQuAD-Shifts reddit were not used for anything.

## Training
One pass, whole groups of at most {config['batch_size']} pairs a batch, AdamW at {config['learning_rate']}
with {config['warmup_share']:.0%} warm-up and linear decay, seed {config['seed']}, max
{config['max_length']} tokens. Loss = binary cross-entropy on each pair + {LIST_LOSS_WEIGHT:g} x the listwise
cross-entropy of the answer against its group + {SPAN_LOSS_WEIGHT:g} x the answer span's start and end
cross-entropy, normalised over the tokens of every sentence in the group (qa/training/finetune.py).
Word and position embeddings frozen. {manifest['train_seconds'] / 60:.0f} minutes on two CPU cores.

## Results on the held-out test articles ({test_questions:,} questions, half unanswerable)
Decided on the best of the candidates the reader read (its sentence must contain an accepted
answer); the full answer path is measured by `qa eval --joint` (README).

{comparison_table(comparisons)}

## Retrain
`make train` (python -m qa.training --data ../shared/data). Same seeds, same data: same model
up to floating-point nondeterminism of multi-threaded CPU kernels.
"""
    path = out / "MODEL_CARD.md"
    path.write_text(text, encoding="utf-8")
    return path
