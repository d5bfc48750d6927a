"""`qa eval`: score qa (and the llama-index baseline) on a gold set, optionally on a SQuAD sample too."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from qa.schema import QAError

DESCRIPTION = """Answer every question of a gold set with qa and with llama-index out of the box, and
write results.json, report.md and plots to --out. The index is built in --out/index/, never
in the index of `qa ingest`. QA_* settings apply (e.g. QA_TOP_K=8 qa eval). The gold format
is documented in eval/README.md."""


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options of `qa eval`, for this module's parser and for a `qa eval` subparser alike."""
    parser.add_argument("--gold", type=Path, default=Path("eval/seeds_gold.jsonl"), help="gold JSONL file")
    parser.add_argument("--corpus", type=Path, default=Path("seeds"), help="folder the gold questions are about")
    parser.add_argument("--out", type=Path, default=Path("eval-out"), help="folder for the index, results and report")
    parser.add_argument("--min-accuracy", type=float, metavar="X",
                        help="exit with status 1 when qa's accuracy on the gold set is below X (0-1)")
    parser.add_argument("--squad", type=Path, metavar="FILE",
                        help="also evaluate on a sample of this SQuAD-format file")
    parser.add_argument("--squad-sample", type=int, default=300, metavar="N", help="questions drawn from --squad")
    parser.add_argument("--squad-articles", type=int, default=400, metavar="N",
                        help="articles in the SQuAD corpus at least: those of the sampled questions plus others")
    parser.add_argument("--seed", type=int, default=13, help="seed of the SQuAD sample and the joint benchmark")
    parser.add_argument("--joint", action="store_true",
                        help="also run the joint benchmark: the held-out test articles of SQuAD-Shifts, their "
                             "questions plus as many asked with their article removed (answer: a refusal)")
    parser.add_argument("--joint-sample", type=int, metavar="N",
                        help="answerable (and as many unanswerable) questions in the joint benchmark (default: all)")
    parser.add_argument("--data", type=Path, default=Path("../shared/data"), metavar="DIR",
                        help="folder with squad_shifts_{nyt,amazon,new_wiki}/, for --joint")
    parser.add_argument("--max-unanswerable-answered", dest="max_unanswered_answered", type=float, metavar="X",
                        help="exit with status 1 when any dataset answers more than this share (0-1) of its "
                             "unanswerable questions")
    parser.add_argument("--calibrate", action="store_true",
                        help="sweep the refusal threshold and print the best one for the gold set")
    parser.add_argument("--no-baseline", action="store_true", help="skip the llama-index baseline")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa eval", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    add_arguments(parser)
    return parser


def main(argv: list[str] | None = None) -> int:
    """`python -m qa.eval [options]`; 0 when done, 1 when below --min-accuracy, 2 on a usage problem."""
    return run(build_parser().parse_args(argv))


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except QAError as error:  # includes a malformed gold file
        print(f"qa eval: {error}", file=sys.stderr)
        return 2


def _run(args: argparse.Namespace) -> int:
    # Imported here: `qa` imports this module for its options on every command, and these pull in
    # matplotlib, the llama-index vector index and, once an embedder is built, the model.
    from qa.embedding import MiniLMEmbedding
    from qa.evaluation.gold import load_gold
    from qa.evaluation.report import (
        calibration_section,
        suggested_threshold,
        summary_table,
        write_report,
        write_results,
    )
    from qa.evaluation.run import Dataset, evaluate
    from qa.evaluation.squad import build_joint_dataset, build_squad_dataset
    from qa.training.data import squad_files

    datasets = [Dataset(args.corpus.resolve().name, str(args.gold), args.corpus, load_gold(args.gold))]
    if args.squad:
        corpus = args.out / f"squad-{args.squad.stem}"
        items = build_squad_dataset(args.squad, corpus, args.squad_sample, args.seed, args.squad_articles)
        datasets.append(Dataset("squad", f"{args.squad} (sample {len(items)}, seed {args.seed})", corpus, items))
    if args.joint:
        try:
            files = squad_files(args.data)
        except FileNotFoundError as error:
            raise QAError(f"{error} (name the folder with --data)") from error
        items = build_joint_dataset(files, "test", args.out / "joint-test", args.joint_sample, args.seed)
        datasets.append(Dataset("joint", f"SQuAD-Shifts test articles, {len(items)} questions, half unanswerable "
                                         f"(seed {args.seed})", args.out / "joint-test", items))
    args.out.mkdir(parents=True, exist_ok=True)

    embedder = MiniLMEmbedding()
    # The joint benchmark always records the outcomes behind its precision-coverage curve; its
    # comparison with lighter decisions is in the reader's model card, so it runs without the baseline.
    runs = [evaluate(dataset, args.out, embedder, with_baseline=not args.no_baseline and dataset.label != "joint",
                     calibrate=args.calibrate or dataset.label == "joint")
            for dataset in datasets]
    results, report = write_results(runs, args.out), write_report(runs, args.out)

    for run in runs:
        print(f"\n{run.dataset.label} ({len(run.dataset.items)} questions)\n{summary_table(run)}")
    gold_run, suggested = runs[0], suggested_threshold(runs)
    if suggested is not None:
        print(f"\nRefusal threshold sweep on {gold_run.dataset.gold}\n{calibration_section(gold_run, suggested)}")
        for run in runs[1:]:
            print(f"\nThe same thresholds on {run.dataset.label}:\n{calibration_section(run, suggested, table=False)}")
        print(f"\nTo use it: QA_REFUSAL_THRESHOLD={suggested} (the default comes from the reader's calibration).")
    print(f"\nWrote {results} and {report}")

    accuracy = gold_run.ours.summary()["accuracy"] or 0.0
    if args.min_accuracy is not None and accuracy < args.min_accuracy:
        print(f"qa eval: accuracy {accuracy:.3f} on {args.gold} is below --min-accuracy {args.min_accuracy}",
              file=sys.stderr)
        return 1
    if args.max_unanswered_answered is not None:
        for run in runs:
            rate = run.ours.summary()["answered_unanswerable_rate"]
            if rate is not None and rate > args.max_unanswered_answered:
                print(f"qa eval: {rate:.1%} of the unanswerable questions of {run.dataset.label} were answered, "
                      f"above --max-unanswerable-answered {args.max_unanswered_answered}", file=sys.stderr)
                return 1
    return 0
