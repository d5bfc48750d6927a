"""Questions about API documentation for the reader to train on (`python -m qa.training.api_questions`).

SQuAD-Shifts teaches the reader news, reviews and Wikipedia; users also bring API documentation,
where the answer is often a name in a signature ("secrets.compare_digest(a, b): Return True if…"
for "Which function compares two tokens in constant time?") or a default in it ("width=70").
This writes questions of those two kinds over the docstrings of third-party packages installed
beside qa (never the standard library, whose documentation is the Python docs gold set's corpus),
each entry rendered as the Python docs render one: "module.name(signature): description".
A local Qwen2.5-Coder GGUF writes each question (`python -m qa.models_fetch 1.5b`), greedily, so
a rerun with the same packages and model writes the same file; a question that gives its answer
away is dropped. The output is a SQuAD-format file, one article per module, that training reads
as train-only data (qa/training/data.py).
"""

from __future__ import annotations

import argparse
import ast
import json
import random
import re
import sysconfig
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

PACKAGES = ("pandas", "sklearn", "networkx", "matplotlib", "requests", "click", "jinja2", "sqlalchemy", "nltk", "PIL",
            "bs4", "pygments", "torch", "pydantic", "rich", "sympy", "transformers", "numpy", "scipy", "starlette",
            "fastapi", "tqdm", "huggingface_hub", "openai", "gradio", "chromadb", "llama_index", "tokenizers")
# A section heading alone on its line ("Parameters", "Args:") or a reST directive ends the prose.
_SECTION = re.compile(r"^\s*(?:(?:Parameters|Params|Args|Arguments|Returns?|Yields|Raises|Examples?|Notes?|See Also|"
                      r"Attributes|References|Warnings?|Other Parameters|Keyword Arguments|Methods|Todo)\s*:?\s*$|"
                      r"\.\. )", re.M | re.I)
_ROLE = re.compile(r":(?:[a-z]+:)*[a-z]+:`~?([^`]+)`")
_DEFAULT = re.compile(r"\b(\w+)=(-?\d[\d._e]*|'[^']+'|\"[^\"]+\")")
MAX_CONTEXT = 800
API_QUESTIONS_COUNT = 750  # in qa/training/api_questions.json

FIND = ("Documentation of one Python API:\n{context}\n\nWrite the question a programmer would ask when they need this "
        "but do not know its name. Do not mention its name. Reply with the question only.")
DEFAULT = ("Documentation of one Python API:\n{context}\n\nWrite a question a programmer would ask to learn the default "
           "value of its `{param}` argument, in plain words. Reply with the question only.")


@dataclass(frozen=True)
class ApiEntry:
    module: str
    name: str
    head: str  # "module.name(signature)" or "class module.Name(signature)"
    description: list[str]  # prose paragraphs of the docstring, before its first section


@dataclass(frozen=True)
class Question:
    kind: str  # find (the answer is its name) or default (a default in its signature)
    text: str
    answer: str
    answer_start: int  # in the entry's context


def clean_docstring(doc: str) -> list[str]:
    """The docstring's prose paragraphs, without reST roles and inline markup, up to its first section."""
    doc = _SECTION.split(doc, maxsplit=1)[0]
    doc = re.sub(r"\*\*?([^*]+)\*\*?", r"\1", re.sub(r"`+([^`]+)`+", r"\1", _ROLE.sub(r"\1", doc)))
    paragraphs = [" ".join(p.split()) for p in re.split(r"\n\s*\n", doc)]
    return [p for p in paragraphs if len(p) > 20 and not p.startswith((">>>", "..", "-", "=", "|"))]


def _literal(node: ast.expr) -> str:
    try:
        return repr(ast.literal_eval(node))
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return ast.unparse(node)


def render_signature(args: ast.arguments, method: bool) -> str:
    positional = args.posonlyargs + args.args
    defaults = [None] * (len(positional) - len(args.defaults)) + list(args.defaults)
    parts = [a.arg if d is None else f"{a.arg}={_literal(d)}" for a, d in zip(positional, defaults)]
    if method and parts and parts[0] in ("self", "cls"):
        parts.pop(0)
    if args.vararg:
        parts.append("*" + args.vararg.arg)
    elif args.kwonlyargs:
        parts.append("*")
    parts += [a.arg if d is None else f"{a.arg}={_literal(d)}" for a, d in zip(args.kwonlyargs, args.kw_defaults)]
    if args.kwarg:
        parts.append("**" + args.kwarg.arg)
    return ", ".join(parts)


def _entry(node: ast.stmt, prefix: str, module: str, method: bool) -> ApiEntry | None:
    if not isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) or node.name.startswith("_"):
        return None
    description = clean_docstring(ast.get_docstring(node) or "")
    if not description or re.search(r"deprecated|alias", description[0], re.I):
        return None
    if isinstance(node, ast.ClassDef):
        init = next((n for n in node.body if isinstance(n, ast.FunctionDef) and n.name == "__init__"), None)
        head = f"class {prefix}.{node.name}({render_signature(init.args, True) if init else ''})"
    else:
        head = f"{prefix}.{node.name}({render_signature(node.args, method)})"
    return ApiEntry(module, node.name, head, description)


def api_entries(package_dir: Path) -> Iterator[ApiEntry]:
    """Public functions, classes and methods with a docstring, in file order; private and test modules skipped."""
    for path in sorted(package_dir.rglob("*.py")):
        parts = path.relative_to(package_dir.parent).with_suffix("").parts
        if any(p.startswith("_") or p in ("tests", "test", "testing") for p in parts):
            continue
        module = ".".join(parts)
        try:
            tree = ast.parse(path.read_text(encoding="utf-8", errors="replace"))
        except (SyntaxError, ValueError):
            continue
        for node in tree.body:
            if entry := _entry(node, module, module, False):
                yield entry
            if isinstance(node, ast.ClassDef) and not node.name.startswith("_"):
                for inner in node.body:
                    if entry := _entry(inner, f"{module}.{node.name}", module, True):
                        yield entry


def entry_context(entry: ApiEntry) -> str:
    """The entry as the Python docs render one, its description cut after the last whole sentence that fits."""
    from qa.sentences import sentence_spans

    text = f"{entry.head}: {' '.join(entry.description)}"
    if len(text) <= MAX_CONTEXT:
        return text
    ends = [span.end for span in sentence_spans(text) if span.end <= MAX_CONTEXT]
    return text[: ends[-1]] if ends else text[:MAX_CONTEXT]


def balanced_entries(site: Path, packages: tuple[str, ...], seed: int) -> list[ApiEntry]:
    """Entries of every package in turn (each package's own order shuffled), one description each."""
    rng = random.Random(seed)
    pools = []
    for package in packages:
        entries = list(api_entries(site / package)) if (site / package).is_dir() else []
        rng.shuffle(entries)
        pools.append(entries)
    seen: set[str] = set()
    ordered = []
    for row in range(max(map(len, pools), default=0)):
        for pool in pools:
            if row < len(pool) and pool[row].description[0] not in seen:
                seen.add(pool[row].description[0])
                ordered.append(pool[row])
    return ordered


def _names_answer(question: str, answer: str) -> bool:
    """The answer appears in the question, underscores read as spaces ("get_space_secrets", "get space secrets")."""
    return answer.lower().replace("_", " ") in question.lower().replace("_", " ")


def ask_about(entry: ApiEntry, rng: random.Random, generate: Callable[[str], str]) -> Question | None:
    """One question about the entry, of a kind drawn by `rng`, or None when the model's question is unusable."""
    context = entry_context(entry)
    defaults = [m for m in _DEFAULT.finditer(entry.head) if m.group(2) not in ("0", "1", "-1")]
    if defaults and rng.random() < 0.4:
        found = rng.choice(defaults)
        question = generate(DEFAULT.format(context=context, param=found.group(1))).split("\n")[0].strip()
        kind, answer, start = "default", found.group(2), found.start(2)
    else:
        question = generate(FIND.format(context=context)).split("\n")[0].strip()
        kind, answer, start = "find", entry.name, entry.head.rfind(entry.name + "(")
    words = len(question.split())
    if not question.endswith("?") or not 4 <= words <= 35 or _names_answer(question, answer):
        return None
    return Question(kind, question, answer, start)


def llama_generator(model_path: Path, threads: int = 2) -> Callable[[str], str]:
    import xllamacpp

    params = xllamacpp.CommonParams()
    params.model.path = str(model_path)
    params.n_ctx = 2048
    params.n_parallel = 1
    params.cpuparams.n_threads = threads
    params.cpuparams_batch.n_threads = threads
    server = xllamacpp.Server(params)

    def generate(prompt: str) -> str:
        body = {"messages": [{"role": "user", "content": prompt}], "max_tokens": 64, "temperature": 0.0}
        return server.handle_chat_completions(body)["choices"][0]["message"]["content"].strip()

    return generate


def write_squad(questions: list[tuple[ApiEntry, Question]], out: Path, model: str) -> None:
    """One article per module, one paragraph per entry (in the order asked)."""
    articles: dict[str, dict[str, dict]] = {}
    for number, (entry, question) in enumerate(questions):
        paragraphs = articles.setdefault(entry.module, {})
        context = entry_context(entry)
        paragraph = paragraphs.setdefault(context, {"context": context, "qas": []})
        paragraph["qas"].append({"id": f"api-{number:05d}", "kind": question.kind, "question": question.text,
                                 "answers": [{"text": question.answer, "answer_start": question.answer_start}]})
    data = [{"title": module, "paragraphs": list(paragraphs.values())} for module, paragraphs in articles.items()]
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"version": f"qa api questions, {model}", "data": data}, indent=1) + "\n",
                   encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m qa.training.api_questions", description=__doc__)
    parser.add_argument("--model", type=Path, required=True, help="the GGUF that writes the questions")
    parser.add_argument("--out", type=Path, required=True, help="the SQuAD-format file written")
    parser.add_argument("--count", type=int, default=API_QUESTIONS_COUNT, help="questions kept")
    parser.add_argument("--site", type=Path, default=Path(sysconfig.get_paths()["purelib"]),
                        help="the site-packages folder whose packages are read")
    parser.add_argument("--seed", type=int, default=11)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    entries = balanced_entries(args.site, PACKAGES, args.seed)
    generate = llama_generator(args.model)
    kept: list[tuple[ApiEntry, Question]] = []
    started, asked = time.time(), 0
    for entry in entries:
        if len(kept) >= args.count:
            break
        asked += 1
        if question := ask_about(entry, rng, generate):
            kept.append((entry, question))
            if len(kept) % 50 == 0:
                write_squad(kept, args.out, args.model.name)
                print(f"{len(kept)} kept of {asked} asked, {time.time() - started:.0f} s", flush=True)
    write_squad(kept, args.out, args.model.name)
    print(f"{len(kept)} questions of {asked} asked in {time.time() - started:.0f} s -> {args.out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
