"""`python -m qa.training` (`make train`): fine-tune the reader, calibrate the decision, write the model card.

Everything is seeded; on two CPU cores the whole run takes about 70 minutes (fine-tuning
~60 minutes, the dev and test benchmarks ~7). The result replaces qa/models/reader/ (or --out).
"""

from __future__ import annotations

import argparse
import json
import time
from dataclasses import fields
from pathlib import Path

from qa.decision import DECISION_FILE, Decision
from qa.reader import MANIFEST_FILE, default_model_dir
from qa.training.calibrate import (
    CHOSEN,
    QuestionRows,
    collect,
    compare,
    joint_engine,
    load_rows,
    save_rows,
)
from qa.training.card import write_card
from qa.training.data import squad_files
from qa.training.finetune import TrainConfig, finetune

JOINT_SEED = 13


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="python -m qa.training", description=__doc__)
    parser.add_argument("--data", type=Path, default=Path("../shared/data"),
                        help="folder holding squad_shifts_{nyt,amazon,new_wiki}/")
    parser.add_argument("--out", type=Path, default=default_model_dir(), help="where the model is written")
    parser.add_argument("--work", type=Path, default=Path("build/train"), help="scratch folder (indexes, corpora)")
    parser.add_argument("--max-pairs", type=int, default=TrainConfig.max_pairs, help="training pairs used")
    parser.add_argument("--max-length", type=int, default=TrainConfig.max_length,
                        help="tokens of question + sentence + context the reader is trained (and then reads) at; "
                             "with --skip-finetune the length in --out's manifest holds")
    parser.add_argument("--api-questions", action="store_true",
                        help="also train on qa/training/api_questions.json (tried, not shipped: see README)")
    parser.add_argument("--skip-finetune", action="store_true", help="keep the weights in --out, only calibrate")
    parser.add_argument("--reuse-rows", action="store_true",
                        help="refit the decision on the rows the last run read (same reader), without reading again")
    parser.add_argument("--joint-sample", type=int, default=None,
                        help="questions of each kind per joint benchmark (default: all)")
    return parser


def read_split(files: list[Path], split: str, args: argparse.Namespace) -> tuple[list[QuestionRows], list]:
    """The split's joint benchmark read by the engine (or, with --reuse-rows, the rows of the last run)."""
    cache = args.work / f"rows-{split}.pickle"
    rows = load_rows(cache) if args.reuse_rows else None
    engine, items = joint_engine(files, split, args.work, args.out, args.joint_sample, JOINT_SEED, index=rows is None)
    if rows is None:
        rows = collect(engine, items, f"Reading {split} questions")
        save_rows(cache, rows)
    return rows, items


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    files = squad_files(args.data)
    started = time.time()
    config = TrainConfig(max_pairs=args.max_pairs, max_length=args.max_length, api_questions=args.api_questions)
    if not args.skip_finetune:
        finetune(args.data, args.out, config)
    # The engine needs a decision to start; the reader's own logit stands in until calibration replaces it.
    provisional = Decision(("reader_logit",), (1.0,), 0.0, 0.5)
    (args.out / DECISION_FILE).write_text(json.dumps(provisional.to_json(), indent=2) + "\n", encoding="utf-8")

    dev, dev_items = read_split(files, "dev", args)
    test, test_items = read_split(files, "test", args)
    comparisons = compare(dev, test)
    chosen = next(c for c in comparisons if c.variant == CHOSEN)
    decision = {**chosen.decision.to_json(), "fitted_on": f"dev joint benchmark, {len(dev_items)} questions",
                "comparison": [{"variant": c.variant, "dev": c.dev, "test": c.test,
                                "threshold": c.decision.threshold if c.decision else 0.542} for c in comparisons]}
    (args.out / DECISION_FILE).write_text(json.dumps(decision, indent=2) + "\n", encoding="utf-8")
    manifest = json.loads((args.out / MANIFEST_FILE).read_text(encoding="utf-8"))
    trained_with = manifest.get("train_config") or {f.name: getattr(config, f.name) for f in fields(TrainConfig)}
    write_card(args.out, manifest, comparisons, len(dev_items), len(test_items), trained_with)
    print(f"Reader written to {args.out} in {time.time() - started:.0f} s")
    for c in comparisons:
        print(f"{c.variant:32s} test: accuracy {c.test['answerable_accuracy']:.1%}, "
              f"unanswerable answered {c.test['unanswerable_answered']:.1%} (article removed), "
              f"{c.test['same_topic_answered']:.1%} (same topic), "
              f"best sentence holds the answer {c.test['best_sentence_holds_answer']:.1%}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
