"""The `qa` command: ingest a folder, ask a question, chat in the terminal, evaluate."""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from qa.evaluation.cli import DESCRIPTION as EVAL_DESCRIPTION
from qa.evaluation.cli import add_arguments as add_eval_arguments
from qa.schema import Answer, QAError

DESCRIPTION = """Ask questions of a folder of documents; every answer cites the passages it quotes.

Settings come from QA_* environment variables (see README), e.g. QA_CORPUS_DIR, QA_INDEX_DIR."""


def _print_answer(answer: Answer, debug: bool = False) -> None:
    out = sys.stdout
    print(answer.text, file=out)
    if answer.reason:
        print(f"({answer.reason})", file=out)
    if answer.citations:
        print("\nClosest passages:" if answer.refused else "\nSources:", file=out)
        for citation in answer.citations:
            where = f"{citation.source}{citation.page_note} (characters {citation.start}-{citation.end})"
            print(f"  [{citation.number}] {where}", file=out)
            print(f"      \"{' '.join(citation.quote_marked().split())}\"", file=out)
    if debug and answer.dropped:  # what a generative answerer wrote that the citation check refused
        print("\nDropped by the citation check:", file=out)
        for dropped in answer.dropped:
            cited = "".join(f"[{n}]" for n in dropped.cited)
            print(f"  - \"{dropped.text}\" {cited}: {dropped.reason}", file=out)


def cmd_ingest(args: argparse.Namespace) -> int:
    from qa.config import get_settings
    from qa.engine import Engine

    engine = Engine(get_settings(), rebuilding=args.rebuild)
    folder = args.folder or engine.settings.corpus_dir
    report = engine.ingest(folder, rebuild=args.rebuild, show_progress=True)
    print(f"Indexed {folder}: {report.summary()}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    from qa.api import get_engine

    _print_answer(get_engine().ask(" ".join(args.question)), debug=args.debug)
    return 0


def cmd_chat(args: argparse.Namespace) -> int:
    from qa.api import get_engine

    conversation = get_engine().conversation()
    print("Ask about the documents; follow-up questions work. Empty line or Ctrl-D to leave.")
    while True:
        try:
            question = input("\nyou> ")
        except (EOFError, KeyboardInterrupt):
            print()
            return 0
        if not question.strip():
            return 0
        try:
            answer = conversation.ask(question)
        except QAError as error:
            print(f"qa: {error}")
            continue
        print()
        _print_answer(answer)


def cmd_serve(args: argparse.Namespace) -> int:
    from qa.config import get_settings
    from qa.server import run

    overrides = {key: value for key, value in (("host", args.host), ("port", args.port)) if value is not None}
    try:
        run(get_settings().model_copy(update=overrides))
    except ValueError as error:  # a malformed QA_AUTH, caught before anything listens
        print(f"qa: {error}", file=sys.stderr)
        return 2
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from qa.evaluation.cli import run

    return run(args)


def cmd_feedback(args: argparse.Namespace) -> int:
    from qa.config import get_settings
    from qa.feedback import export

    lines = export(get_settings().history_folder)
    text = "".join(f"{line}\n" for line in lines)
    if args.output:
        args.output.write_text(text, encoding="utf-8")
        print(f"{len(lines)} gold items written to {args.output}", file=sys.stderr)
    else:
        sys.stdout.write(text)
    return 0


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="qa", description=DESCRIPTION,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("-v", "--verbose", action="store_true", help="log what qa does")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    ingest = commands.add_parser("ingest", help="index a folder (default: the corpus folder, seeds/)")
    ingest.add_argument("folder", nargs="?", type=Path, help="folder of .txt, .md, .html, .pdf and .docx files")
    ingest.add_argument("--rebuild", action="store_true",
                        help="drop the index and build it anew (after changing the model or chunk settings)")
    ingest.set_defaults(run=cmd_ingest)

    ask = commands.add_parser("ask", help="answer one question, then list its numbered sources")
    ask.add_argument("question", nargs="+", help="the question (quote it)")
    ask.add_argument("--debug", action="store_true",
                     help="also list the claims a generative answerer wrote that the citation check dropped, and why")
    ask.set_defaults(run=cmd_ask)

    chat = commands.add_parser("chat", help="a conversation in the terminal")
    chat.set_defaults(run=cmd_chat)

    serve = commands.add_parser("serve", help="serve the chat and the HTTP APIs (/api, /v1) on one port")
    serve.add_argument("--host", help="address to bind (default: QA_HOST, 127.0.0.1)")
    serve.add_argument("--port", type=int, help="port (default: QA_PORT, 7860)")
    serve.set_defaults(run=cmd_serve)

    evaluate = commands.add_parser("eval", help="score the system on gold questions (qa eval --help)",
                                   description=EVAL_DESCRIPTION, formatter_class=argparse.RawDescriptionHelpFormatter)
    add_eval_arguments(evaluate)
    evaluate.set_defaults(run=cmd_eval)

    feedback = commands.add_parser("feedback", help="the chat's answer ratings (qa feedback export)")
    feedback_commands = feedback.add_subparsers(dest="feedback_command", required=True, metavar="ACTION")
    export = feedback_commands.add_parser("export", help="approved answers as gold lines for qa eval --gold")
    export.add_argument("-o", "--output", type=Path, help="file to write (default: standard output)")
    export.set_defaults(run=cmd_feedback)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s")
    try:
        return args.run(args)
    except QAError as error:
        print(f"qa: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        return 130
    except BrokenPipeError:  # `qa ask ... | head`: the reader left; say nothing more, and let exit's flush be silent
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 141


if __name__ == "__main__":
    sys.exit(main())
