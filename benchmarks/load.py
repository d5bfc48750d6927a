"""Load on `qa serve` over loopback: many concurrent clients asking the gold questions; prints numbers only.

    python benchmarks/load.py [--clients 50] [--questions 10]
    python benchmarks/load.py --during-ingest [--api-clients 50 --api-questions 10 --chat-clients 30 --chat-questions 5]

Serves the real app (chat mounted, APIs) on 127.0.0.1 over a temporary indexed copy of seeds/,
then runs the same bounded load three ways: the JSON API (httpx, POST /api/ask), the
OpenAI-compatible endpoint (openai client) and the chat (gradio_client, /ask, which streams
each answer in steps of STREAM_DELAY). Each client asks its questions one after another;
all clients start together. Prints requests, errors, p50/p95 latency and questions/s.

--during-ingest runs the API clients and the chat clients at the same time while another process
runs `qa ingest` on the same index again and again (adding, then removing, copies of the articles),
until both loads end: the load a server meets while its documents are being updated.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
GOLD = ROOT / "eval" / "seeds_gold.jsonl"

Ask = Callable[[str], bool]  # one question -> whether the reply was a proper answer or refusal
Client = tuple[Ask, Callable[[], None]]  # ask, and close the connection


def questions() -> list[str]:
    return [json.loads(line)["question"] for line in GOLD.read_text(encoding="utf-8").splitlines() if line.strip()]


def api_client(url: str) -> Client:
    import httpx

    client = httpx.Client(base_url=url, timeout=300)

    def ask(question: str) -> bool:
        response = client.post("/api/ask", json={"question": question})
        return response.status_code == 200 and "citations" in response.json()

    return ask, client.close


def openai_client(url: str) -> Client:
    import openai

    client = openai.OpenAI(base_url=f"{url}/v1", api_key="not-needed", max_retries=0, timeout=300)

    def ask(question: str) -> bool:
        reply = client.chat.completions.create(model="qa", messages=[{"role": "user", "content": question}])
        return bool(reply.choices[0].message.content) and "citations" in reply.model_extra

    return ask, client.close


def chat_client(url: str) -> Client:
    from gradio_client import Client

    client = Client(f"{url}/", verbose=False)

    def ask(question: str) -> bool:
        client.predict("", api_name="/new_chat")  # unrelated questions: each in its own chat
        messages = client.predict(question, "", api_name="/ask")[2]  # (box, chat list, messages, title, note)
        reply = messages[-1]["content"][0]["text"]
        return "qa-sources" in reply or "qa-refusal" in reply

    return ask, client.close


def run_load(label: str, make_client: Callable[[], Client], pool: list[str], clients: int, each: int) -> dict:
    """`clients` threads, each with its own client, ask `each` questions; all start at once."""
    made = list(ThreadPoolExecutor(max_workers=8).map(lambda _: make_client(), range(clients)))
    start = threading.Barrier(clients + 1)
    latencies: list[float] = []
    errors: list[str] = []
    lock = threading.Lock()

    def session(number: int) -> None:
        ask = made[number][0]
        start.wait()
        for turn in range(each):
            question = pool[(number * each + turn) % len(pool)]
            began = time.perf_counter()
            try:
                ok = ask(question)
                error = None if ok else f"bad reply to {question!r}"
            except Exception as exception:
                error = f"{type(exception).__name__}: {exception}"
            with lock:
                latencies.append(time.perf_counter() - began)
                if error:
                    errors.append(error)

    threads = [threading.Thread(target=session, args=(number,)) for number in range(clients)]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    wall = time.perf_counter() - began
    for _, close in made:
        close()
    cuts = statistics.quantiles(latencies, n=100)
    return {"label": label, "requests": len(latencies), "errors": len(errors), "p50": cuts[49], "p95": cuts[94],
            "wall": wall, "rate": len(latencies) / wall, "first_error": errors[0] if errors else ""}


def ingest_loop(corpus: Path, index: Path, copies: int, stop: threading.Event, runs: list[tuple[int, float, str]]) -> None:
    """Another process ingests the served index until `stop`: copies of the articles added, then removed."""
    env = {**os.environ, "QA_CORPUS_DIR": str(corpus), "QA_INDEX_DIR": str(index), "PYTHONPATH": str(ROOT)}
    originals = sorted(corpus.glob("*.txt"))
    adding = True
    while not stop.is_set():
        for number in range(copies):
            copy = corpus / f"copy_{number:03d}.txt"
            if adding:
                source = originals[number % len(originals)]
                copy.write_text(f"Copy {number}.\n\n{source.read_text(encoding='utf-8')}", encoding="utf-8")
            else:
                copy.unlink(missing_ok=True)
        began = time.perf_counter()
        done = subprocess.run([sys.executable, "-m", "qa", "ingest"], env=env, capture_output=True, text=True,
                              timeout=1800)
        runs.append((done.returncode, time.perf_counter() - began, done.stderr.strip().splitlines()[-1:][0]
                     if done.returncode and done.stderr.strip() else ""))
        adding = not adding


def print_row(row: dict) -> None:
    print(f"{row['label']:<28}{row['requests']:>9}{row['errors']:>8}{row['p50']:>8.3f}{row['p95']:>8.3f}"
          f"{row['wall']:>8.1f}{row['rate']:>13.1f}", flush=True)
    if row["first_error"]:
        print(f"    first error: {row['first_error']}")


def during_ingest(args: argparse.Namespace, url: str, pool: list[str], corpus: Path, index: Path) -> None:
    stop, runs = threading.Event(), []
    ingesting = threading.Thread(target=ingest_loop, args=(corpus, index, args.copies, stop, runs))
    print(f"{args.api_clients} API clients x {args.api_questions} questions and {args.chat_clients} chat clients x "
          f"{args.chat_questions} questions at once, on {url} ({os.cpu_count()} CPUs), while another process runs "
          f"`qa ingest` on the same index ({args.copies} copies of the articles added, then removed, in turn)")
    print(f"{'interface':<28}{'requests':>9}{'errors':>8}{'p50 s':>8}{'p95 s':>8}{'wall s':>8}{'questions/s':>13}")
    ingesting.start()
    time.sleep(args.ingest_head_start)  # the ingest is reading and embedding when the clients start
    with ThreadPoolExecutor(max_workers=2) as both:
        api = both.submit(run_load, "JSON API  POST /api/ask", lambda: api_client(url), pool, args.api_clients,
                          args.api_questions)
        chat = both.submit(run_load, "chat      gradio /ask", lambda: chat_client(url), pool, args.chat_clients,
                           args.chat_questions)
        rows = [api.result(), chat.result()]
    stop.set()
    ingesting.join()
    for row in rows:
        print_row(row)
    failed = [run for run in runs if run[0] != 0]
    print(f"ingest runs in the other process: {len(runs)} ({len(failed)} failed), "
          f"{statistics.mean(r[1] for r in runs):.1f} s each" if runs else "ingest runs: none finished")
    if failed:
        print(f"    first ingest failure: {failed[0][2]}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=50)
    parser.add_argument("--questions", type=int, default=10, help="questions per client")
    parser.add_argument("--during-ingest", action="store_true",
                        help="API and chat clients at once while another process ingests the same index")
    parser.add_argument("--api-clients", type=int, default=50)
    parser.add_argument("--api-questions", type=int, default=10)
    parser.add_argument("--chat-clients", type=int, default=30)
    parser.add_argument("--chat-questions", type=int, default=5)
    parser.add_argument("--copies", type=int, default=20, help="article copies the other process adds and removes")
    parser.add_argument("--ingest-head-start", type=float, default=5.0, metavar="S")
    args = parser.parse_args()
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

    from qa.config import Settings
    from qa.engine import Engine
    from qa.server import create_server, running

    pool = questions()
    with tempfile.TemporaryDirectory(prefix="qa-load-") as work:
        shutil.copytree(ROOT / "seeds", Path(work) / "seeds")
        engine = Engine(Settings(corpus_dir=Path(work) / "seeds", index_dir=Path(work) / "index"))
        engine.ingest()
        with running(create_server(engine)) as url:
            for question in pool[:5]:  # warm up
                engine.ask(question)
            if args.during_ingest:
                during_ingest(args, url, pool, Path(work) / "seeds", Path(work) / "index")
                return
            print(f"{args.clients} concurrent clients x {args.questions} questions each, on {url} "
                  f"({os.cpu_count()} CPUs; chat streams answers in steps, API answers at once)")
            print(f"{'interface':<28}{'requests':>9}{'errors':>8}{'p50 s':>8}{'p95 s':>8}{'wall s':>8}"
                  f"{'questions/s':>13}")
            for label, make in (("JSON API  POST /api/ask", lambda: api_client(url)),
                                ("OpenAI    /v1/chat", lambda: openai_client(url)),
                                ("chat      gradio /ask", lambda: chat_client(url))):
                print_row(run_load(label, make, pool, args.clients, args.questions))


if __name__ == "__main__":
    main()
