"""How qa scales with the number of chunks; prints numbers, asserts nothing.

    python benchmarks/scale.py [--data ../shared/data] [--sizes 1000,10000,30000] [--questions 30] [--docs]
    python benchmarks/scale.py --kept FOLDER --sizes 100000 [--runs 3] [--cold-disk]   (new processes on a --keep run's index)

For each size it builds a corpus of SQuAD-Shifts articles (nyt, new_wiki, amazon; one file per
article, articles repeated under new names once they run out) with at least that many chunks;
with --docs the corpus starts with every HTML page of the Python 3.11 docs (Debian's
python3.11-doc), and `--sizes 0 --docs` measures those pages alone. Then it prints:

- index on disk: qa's index folder next to a plain llama-index + Chroma pipeline
  (VectorStoreIndex over ChromaVectorStore) holding the same chunks and vectors;
- ingest: qa's tokens/s next to the bare model's tokens/s on a sample of the same chunks (timed
  just before and just after the ingest: the mean is the reference);
- re-ingest with nothing changed;
- a new process: RSS after its first answer, cold start to that answer, then warm p50/p95
  over questions of the corpus's articles. With --cold-disk, the index's and the models' files are
  dropped from the page cache before each start (posix_fadvise, no root needed), so it reads them
  from disk as after a reboot; Python's own libraries stay cached.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))  # python_docs.py, next to this script
SETS = ("squad_shifts_nyt", "squad_shifts_new_wiki", "squad_shifts_amazon")


def folder_bytes(folder: Path) -> int:
    return sum(path.stat().st_size for path in folder.rglob("*") if path.is_file() and "history" not in path.parts)


def articles(data: Path) -> list[tuple[str, str, list[str]]]:
    """(name, text, questions) per article of the SQuAD-Shifts sets found under `data`."""
    found = []
    for name in SETS:
        for path in sorted((data / name).glob("*.json")):
            for number, article in enumerate(json.loads(path.read_text(encoding="utf-8"))["data"]):
                paragraphs = article["paragraphs"]
                text = "\n\n".join(p["context"] for p in paragraphs)
                questions = [qa["question"] for p in paragraphs for qa in p["qas"]]
                found.append((f"{name.removeprefix('squad_shifts_')}_{number:05d}", text, questions))
    if not found:
        raise SystemExit(f"no SQuAD-Shifts files under {data}")
    return found


def python_docs(folder: Path, chunker) -> tuple[int, list[str]]:
    """Every HTML page of the Python docs, flattened into `folder`; their chunks and gold questions."""
    from python_docs import debian_docs_folder

    from qa.documents import SkippedFile, parse_document

    docs = debian_docs_folder()
    if docs is None:
        raise SystemExit("--docs: the Python 3.11 docs were not found (Debian package python3.11-doc)")
    total = 0
    for page in sorted(docs.rglob("*.html")):
        target = folder / ("pydocs_" + "_".join(page.relative_to(docs).parts))
        target.write_bytes(page.read_bytes())
        document = parse_document(target.name, target.read_bytes())
        total += 0 if isinstance(document, SkippedFile) else len(chunker.chunk_spans(document.text))
    return total, python_docs_questions()


def python_docs_questions() -> list[str]:
    gold = (ROOT / "eval" / "python_docs_gold.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in gold if line.strip()]


def build_corpus(folder: Path, pool: list[tuple[str, str, list[str]]], chunks: int,
                 docs: bool = False) -> tuple[int, list[str]]:
    """Article files until the corpus has `chunks` chunks; returns the count and some questions."""
    from qa.chunking import SentenceChunker
    from qa.config import Settings

    settings = Settings()
    chunker = SentenceChunker(chunk_size=settings.chunk_size, chunk_overlap=settings.chunk_overlap)
    folder.mkdir(parents=True)
    total, questions = python_docs(folder, chunker) if docs else (0, [])
    copy = 0
    while total < chunks:
        for name, text, asked in pool:
            if total >= chunks:
                break
            # A copy says so in its first line, so no two files hash alike.
            body = text if copy == 0 else f"Copy {copy} of {name}.\n\n{text}"
            (folder / f"{name}_{copy}.txt").write_text(body, encoding="utf-8")
            total += len(chunker.chunk_spans(body))
            questions += asked[:1]
        copy += 1
    return total, questions


def plain_llama_index(index_dir: Path, nodes, vectors, embed_model) -> None:
    """What a plain llama-index + Chroma pipeline stores for the same chunks and vectors."""
    import chromadb
    from chromadb.config import Settings as ChromaSettings
    from llama_index.core import StorageContext, VectorStoreIndex
    from llama_index.core.schema import TextNode
    from llama_index.vector_stores.chroma import ChromaVectorStore

    client = chromadb.PersistentClient(path=str(index_dir), settings=ChromaSettings(anonymized_telemetry=False))
    store = ChromaVectorStore(chroma_collection=client.get_or_create_collection("plain"))
    plain = [TextNode(text=node.text, id_=node.id_, metadata={"source": node.metadata["source"]},
                      embedding=vector.tolist()) for node, vector in zip(nodes, vectors)]
    VectorStoreIndex(plain, storage_context=StorageContext.from_defaults(vector_store=store), embed_model=embed_model,
                     show_progress=False)
    client.close()


def child(corpus: str, index: str, questions: list[str]) -> None:
    """A new process: cold start to its first answer, RSS, then warm latency."""
    started = time.perf_counter()
    os.environ.update(QA_CORPUS_DIR=corpus, QA_INDEX_DIR=index)
    from qa.api import get_engine

    engine = get_engine()
    engine.ask(questions[0])
    cold = time.perf_counter() - started
    rss = int(next(line for line in Path("/proc/self/status").read_text().splitlines()
                   if line.startswith("VmRSS")).split()[1]) / 1024
    times = []
    for question in questions[1:]:
        began = time.perf_counter()
        engine.ask(question)
        times.append(time.perf_counter() - began)
    times.sort()
    print(json.dumps({"cold_s": cold, "rss_mb": rss, "p50_ms": 1000 * statistics.median(times),
                      "p95_ms": 1000 * times[min(len(times) - 1, round(0.95 * (len(times) - 1)))]}))


def new_process(corpus: Path, index: Path, questions: list[str], wanted: int) -> tuple[list[str], dict]:
    """`child` in a fresh interpreter: the questions it asked and what it measured."""
    questions = list(questions)
    random.Random(1).shuffle(questions)
    asked = questions[:wanted + 1]
    done = subprocess.run([sys.executable, __file__, "--child", str(corpus), str(index), json.dumps(asked)],
                          capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(ROOT)}, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-3000:])
    return asked, json.loads(done.stdout.strip().splitlines()[-1])


def evict_from_page_cache(folders: list[Path]) -> int:
    """Drop the files' pages from the page cache, so the next reader gets them from disk; bytes dropped."""
    dropped = 0
    for path in (path for folder in folders for path in folder.rglob("*") if path.is_file()):
        descriptor = os.open(path, os.O_RDONLY)
        try:
            os.posix_fadvise(descriptor, 0, 0, os.POSIX_FADV_DONTNEED)
            dropped += path.stat().st_size
        finally:
            os.close(descriptor)
    return dropped


def measure_kept(work: Path, pool, size: int, questions_wanted: int, runs: int, cold_disk: bool = False) -> None:
    """Only the new-process step, `runs` times, on a corpus and index an earlier `--keep` left in `work`."""
    corpus, index = work / f"corpus-{size}", work / f"index-{size}"
    if not index.is_dir():
        raise SystemExit(f"{index} is missing: run with --keep first")
    docs = any(path.name.startswith("pydocs_") for path in corpus.iterdir())
    questions = python_docs_questions() if docs else []
    questions += [asked[0] for _, _, asked in pool if asked]
    print(f"\n{size:,} chunks kept in {work}:")
    for _ in range(runs):
        if cold_disk:
            from qa.embedding import model_folder
            from qa.reader import default_model_dir

            dropped = evict_from_page_cache([index, Path(model_folder()), default_model_dir()])
            print(f"  {dropped / 1e6:,.0f} MB of index and model files dropped from the page cache")
        asked, started = new_process(corpus, index, questions, questions_wanted)
        print(f"  new process: RSS after first answer {started['rss_mb']:.0f} MB, cold start to first answer "
              f"{started['cold_s']:.1f} s; warm p50 {started['p50_ms']:.0f} ms, p95 {started['p95_ms']:.0f} ms "
              f"over {len(asked) - 1} questions")


def measure(work: Path, pool, size: int, questions_wanted: int, docs: bool) -> None:
    from qa.chunking import to_llama_documents
    from qa.config import Settings
    from qa.documents import SkippedFile, parse_document
    from qa.engine import Engine

    corpus, index = work / f"corpus-{size}", work / f"index-{size}"
    chunks, questions = build_corpus(corpus, pool, size, docs)
    engine = Engine(Settings(corpus_dir=corpus, index_dir=index))
    tokenizer = engine.embedder._tokenizer

    def bare_rate() -> float:
        """The bare model's tokens/s on a sample of the corpus's chunks, as `encode` batches them."""
        files = sorted(corpus.iterdir())
        parsed = [parse_document(path.name, path.read_bytes()) for path in random.Random(0).sample(files, min(len(files), 400))]
        texts = [node.text for node in engine.chunker.get_nodes_from_documents(
            to_llama_documents([document for document in parsed if not isinstance(document, SkippedFile)]))]
        sample = random.Random(0).sample(texts, min(len(texts), 1500))
        sample_tokens = sum(len(tokenizer(text, truncation=True, max_length=512)["input_ids"]) for text in sample)
        began = time.perf_counter()
        engine.embedder.encode(sample)
        return sample_tokens / (time.perf_counter() - began)

    # The machine is shared: the bare model is timed just before and just after the ingest, and
    # the ingest compared with their mean, so a neighbour's load weighs on both sides alike.
    bare_before = bare_rate()
    began = time.perf_counter()
    report = engine.ingest()
    ingest_s = time.perf_counter() - began
    bare_after = bare_rate()
    bare_tokens_s = (bare_before + bare_after) / 2
    nodes = engine.store.all_chunks()
    tokens = sum(len(tokenizer(node.text, truncation=True, max_length=512)["input_ids"]) for node in nodes)
    began = time.perf_counter()
    engine.ingest()
    reingest_s = time.perf_counter() - began
    plain_dir = work / f"plain-{size}"
    all_vectors = []
    for first in range(0, len(nodes), 5000):
        got = engine.store._chunks.get(ids=[n.id_ for n in nodes[first:first + 5000]], include=["embeddings"])
        by_id = dict(zip(got["ids"], got["embeddings"]))
        all_vectors += [by_id[n.id_] for n in nodes[first:first + 5000]]
    plain_llama_index(plain_dir, nodes, all_vectors, engine.embedder)  # nodes carry their vectors: not embedded again
    asked, started = new_process(corpus, index, questions, questions_wanted)
    qa_mb, plain_mb = folder_bytes(index) / 1e6, folder_bytes(plain_dir) / 1e6
    print(f"\n{size:,} chunks wanted: {report.chunks_embedded:,} chunks in {len(report.added):,} files "
          f"({chunks:,} counted while building)")
    print(f"  index on disk: qa {qa_mb:.1f} MB, plain llama-index + Chroma {plain_mb:.1f} MB "
          f"(ratio {qa_mb / plain_mb:.2f}, target <= 2)")
    print(f"  ingest: {ingest_s:.1f} s, {tokens / ingest_s:,.0f} tokens/s; bare model {bare_tokens_s:,.0f} tokens/s "
          f"(before {bare_before:,.0f}, after {bare_after:,.0f}) ({100 * tokens / ingest_s / bare_tokens_s:.0f}%, "
          "target >= 90%)")
    print(f"  re-ingest with nothing changed: {reingest_s:.2f} s (target <= 10 s)")
    print(f"  new process: RSS after first answer {started['rss_mb']:.0f} MB, cold start to first answer "
          f"{started['cold_s']:.1f} s; warm p50 {started['p50_ms']:.0f} ms, p95 {started['p95_ms']:.0f} ms "
          f"over {len(asked) - 1} questions")
    shutil.rmtree(plain_dir)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data",
                        help="folder holding squad_shifts_* (default: ../shared/data)")
    parser.add_argument("--sizes", default="1000,10000,30000", help="corpus sizes in chunks, comma-separated")
    parser.add_argument("--questions", type=int, default=30, help="warm questions per size")
    parser.add_argument("--docs", action="store_true", help="start each corpus with all pages of the Python docs")
    parser.add_argument("--keep", action="store_true", help="keep the corpora and indexes (printed path)")
    parser.add_argument("--kept", type=Path, metavar="FOLDER",
                        help="measure only new processes on the corpora and indexes a --keep run printed")
    parser.add_argument("--runs", type=int, default=3, help="new processes per size with --kept")
    parser.add_argument("--cold-disk", action="store_true",
                        help="with --kept: drop the index and model files from the page cache before each start")
    parser.add_argument("--child", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args.child[0], args.child[1], json.loads(args.child[2]))
        return
    pool = articles(args.data)
    if args.kept:
        for size in (int(s) for s in args.sizes.split(",")):
            measure_kept(args.kept, pool, size, args.questions, args.runs, args.cold_disk)
        return
    work = Path(tempfile.mkdtemp(prefix="qa-scale-"))
    try:
        for size in (int(s) for s in args.sizes.split(",")):
            measure(work, pool, size, args.questions, args.docs)
    finally:
        if args.keep:
            print(f"\nkept {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
