"""Speed and memory of qa on this machine; prints numbers, asserts nothing.

    python benchmarks/bench.py [--copies 20] [--rounds 3]

1. Ingestion overhead: chunks/s of the whole pipeline (read, chunk, embed with sentence
   vectors, write to Chroma) next to chunks/s of the bare model (sentence-transformers'
   encode) on the same chunk texts, alternating runs so both see the same machine load.
2. Warm ask() latency p50/p95 over the gold questions of the seeds.
3. Cold start: a new process from launch to its first answer, index already built.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
GOLD = ROOT / "eval" / "seeds_gold.jsonl"


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def make_corpus(folder: Path, copies: int) -> None:
    """The seed articles, `copies` times under distinct names, so timings cover hundreds of chunks."""
    folder.mkdir(parents=True)
    for copy in range(copies):
        for article in sorted(SEEDS.iterdir()):
            (folder / f"{copy:03d}-{article.name}").write_text(f"Copy {copy}.\n\n" + article.read_text())


def ingestion_overhead(work: Path, copies: int, rounds: int) -> dict:
    from sentence_transformers import SentenceTransformer

    from qa.config import Settings
    from qa.embedding import MiniLMEmbedding, model_folder
    from qa.engine import Engine

    corpus = work / "corpus"
    make_corpus(corpus, copies)
    embedder = MiniLMEmbedding()
    bare = SentenceTransformer(model_folder(), device="cpu")
    pipeline_times, bare_times, chunks = [], [], 0
    for round_number in range(rounds):
        engine = Engine(Settings(corpus_dir=corpus, index_dir=work / f"index-{round_number}"), embedder=embedder)
        started = time.perf_counter()
        report = engine.ingest()
        pipeline_times.append(time.perf_counter() - started)
        chunks = report.chunks_embedded
        texts = [node.text for node in engine.store.all_chunks()]
        started = time.perf_counter()
        bare.encode(texts, batch_size=embedder.embed_batch_size, normalize_embeddings=True, show_progress_bar=False)
        bare_times.append(time.perf_counter() - started)
    pipeline, model = min(pipeline_times), min(bare_times)
    return {"chunks": chunks, "files": copies * len(list(SEEDS.iterdir())),
            "pipeline_chunks_per_s": chunks / pipeline, "bare_model_chunks_per_s": chunks / model,
            "overhead_percent": 100 * (pipeline / model - 1), "pipeline_s": pipeline_times, "bare_s": bare_times}


def warm_latency(work: Path, rounds: int) -> dict:
    from qa.config import Settings
    from qa.engine import Engine

    corpus = work / "seeds"
    shutil.copytree(SEEDS, corpus)
    engine = Engine(Settings(corpus_dir=corpus, index_dir=work / "seeds-index"))
    engine.ingest()
    gold = [json.loads(line) for line in GOLD.read_text().splitlines() if line.strip()]
    for item in gold[:3]:
        engine.ask(item["question"], item["history"])
    times = []
    for _ in range(rounds):
        for item in gold:
            started = time.perf_counter()
            engine.ask(item["question"], item["history"])
            times.append(1000 * (time.perf_counter() - started))
    return {"questions": len(times), "p50_ms": statistics.median(times), "p95_ms": percentile(times, 0.95),
            "max_ms": max(times)}


def cold_start(work: Path, runs: int) -> dict:
    env = {**os.environ, "QA_CORPUS_DIR": str(work / "seeds"), "QA_INDEX_DIR": str(work / "seeds-index")}
    script = "from qa import ask; print(ask('Which battery suppliers did Xiaomi pick?').text)"
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        result = subprocess.run([sys.executable, "-c", script], env=env, capture_output=True, text=True, check=True)
        times.append(time.perf_counter() - started)
        assert "CATL" in result.stdout, result.stdout + result.stderr
    peak_mb = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return {"runs": times, "median_s": statistics.median(times), "peak_rss_mb": peak_mb}


def help_time(runs: int) -> list[float]:
    """Seconds for `qa --help` in a fresh interpreter: `import qa` must stay light (no llama-index, Chroma, torch)."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        subprocess.run([sys.executable, "-m", "qa", "--help"], capture_output=True, check=True, cwd=ROOT)
        times.append(time.perf_counter() - started)
    return times


def report_ingestion(ingest: dict) -> None:
    print(f"ingestion: {ingest['chunks']} chunks from {ingest['files']} files")
    print(f"  pipeline   {ingest['pipeline_chunks_per_s']:7.1f} chunks/s  (runs: "
          + ", ".join(f"{t:.1f}s" for t in ingest["pipeline_s"]) + ")")
    print(f"  bare model {ingest['bare_model_chunks_per_s']:7.1f} chunks/s  (runs: "
          + ", ".join(f"{t:.1f}s" for t in ingest["bare_s"]) + ")")
    print(f"  overhead   {ingest['overhead_percent']:+6.1f}%  (target <= 10%)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--copies", type=int, default=20, help="copies of the seeds in the ingestion corpus")
    parser.add_argument("--rounds", type=int, default=3, help="repetitions of each measurement")
    parser.add_argument("--skip-ingestion", action="store_true", help="measure only latency and cold start")
    args = parser.parse_args()
    helps = help_time(max(5, args.rounds))
    print(f"qa --help: median {statistics.median(helps):.2f} s  (runs: " + ", ".join(f"{t:.2f}s" for t in helps)
          + ")  (target < 1 s)")
    with tempfile.TemporaryDirectory(prefix="qa-bench-") as folder:
        work = Path(folder)
        if not args.skip_ingestion:
            report_ingestion(ingestion_overhead(work, args.copies, args.rounds))
        warm = warm_latency(work, args.rounds)
        print(f"warm ask(): {warm['questions']} questions  p50 {warm['p50_ms']:.1f} ms  p95 {warm['p95_ms']:.1f} ms  "
              f"max {warm['max_ms']:.1f} ms  (target p50 <= 150 ms, p95 <= 300 ms)")
        cold = cold_start(work, max(3, args.rounds))
        print(f"cold start to first answer: median {cold['median_s']:.2f} s  (runs: "
              + ", ".join(f"{t:.2f}s" for t in cold["runs"]) + f")  peak RSS {cold['peak_rss_mb']:.0f} MB  (target <= 10 s)")


if __name__ == "__main__":
    main()
