"""Where generated text comes from: any OpenAI-compatible server over HTTP, or llama.cpp in this process.

Both stream: `stream(body)` yields pieces of the reply as the model writes them, and raises
`GeneratorTimeout` once a call runs past its time limit (the caller turns that into a
refusal with the reason) or `GeneratorUnavailable` when there is no model to ask.
"""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Protocol

import httpx

from qa.schema import QAError


class GeneratorUnavailable(QAError):
    """The language model cannot be reached or loaded."""


class GeneratorTimeout(QAError):
    """The language model did not finish within the time allowed for one answer."""


class Generator(Protocol):
    def stream(self, body: dict[str, Any]) -> Iterator[str]: ...


def _delta(chunk: dict[str, Any]) -> str:
    try:
        return chunk["choices"][0].get("delta", {}).get("content") or ""
    except (KeyError, IndexError, AttributeError, TypeError):
        return ""


class OpenAIServer:
    """A chat-completions endpoint (llama.cpp's server, Ollama, vLLM, LM Studio, OpenAI), streamed."""

    def __init__(self, base_url: str, model: str, api_key: str, timeout: float, client: httpx.Client | None = None):
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.model, self.api_key, self.timeout = model, api_key, timeout
        self.client = client or httpx.Client(timeout=httpx.Timeout(timeout, connect=min(timeout, 10.0)))

    def stream(self, body: dict[str, Any]) -> Iterator[str]:
        deadline = time.monotonic() + self.timeout
        body = {**body, "model": self.model, "stream": True}
        headers = {"Authorization": f"Bearer {self.api_key}"}
        try:
            with self.client.stream("POST", self.url, json=body, headers=headers) as response:
                response.raise_for_status()
                for line in response.iter_lines():
                    if time.monotonic() > deadline:
                        raise GeneratorTimeout(f"The language model took longer than {self.timeout:g} s.")
                    if not line.startswith("data:") or line[5:].strip() == "[DONE]":
                        continue
                    yield _delta(json.loads(line[5:]))
        except httpx.TimeoutException as error:
            raise GeneratorTimeout(f"The language model took longer than {self.timeout:g} s.") from error
        except (httpx.HTTPError, ValueError) as error:
            raise GeneratorUnavailable(f"The language model server at {self.url} did not answer: {error}") from error


class LocalLlama:
    """llama.cpp inside this process (the `xllamacpp` wheel), loaded from a GGUF file on first use.

    One call at a time: two cores are busy with one. A call past its time limit is abandoned
    (it still ends by itself within max_tokens) and the caller gets GeneratorTimeout.
    """

    _servers: dict[tuple[str, int, int], Any] = {}
    _load_lock = threading.Lock()

    def __init__(self, model_path: Path | None, threads: int, context: int, timeout: float) -> None:
        self.model_path, self.threads, self.context, self.timeout = model_path, threads, context, timeout
        self._call_lock = threading.Lock()

    def server(self) -> Any:
        if self.model_path is None or not Path(self.model_path).is_file():
            raise GeneratorUnavailable(
                f"No GGUF model at {self.model_path}: set QA_LLM_MODEL_PATH (`python -m qa.models_fetch` assembles one).")
        try:
            import xllamacpp
        except ImportError as error:
            raise GeneratorUnavailable("The local answerer needs llama.cpp: pip install 'qa[local]'.") from error
        key = (str(self.model_path), self.threads, self.context)
        with self._load_lock:  # one copy of the model per process, however many engines
            if key not in self._servers:
                params = xllamacpp.CommonParams()
                params.model.path = str(self.model_path)
                params.n_ctx = self.context
                params.n_parallel = 1
                params.cpuparams.n_threads = self.threads
                params.cpuparams_batch.n_threads = self.threads
                try:
                    self._servers[key] = xllamacpp.Server(params)
                except Exception as error:  # the wheel raises plain exceptions for unreadable files
                    raise GeneratorUnavailable(f"llama.cpp could not load {self.model_path}: {error}") from error
            return self._servers[key]

    def stream(self, body: dict[str, Any]) -> Iterator[str]:
        server = self.server()
        pieces: queue.Queue[tuple[str, Any]] = queue.Queue()

        def run() -> None:
            with self._call_lock:
                try:
                    server.handle_chat_completions({**body, "stream": True}, lambda chunk: pieces.put(("chunk", chunk)))
                except Exception as error:  # reported to the waiting caller
                    pieces.put(("error", error))
                pieces.put(("end", None))

        deadline = time.monotonic() + self.timeout
        threading.Thread(target=run, daemon=True, name="qa-llama").start()
        while True:
            try:
                kind, item = pieces.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                raise GeneratorTimeout(f"The language model took longer than {self.timeout:g} s.") from None
            if kind == "end":
                return
            if kind == "error":
                raise GeneratorUnavailable(f"llama.cpp failed: {item}")
            if isinstance(item, dict) and "error" in item:
                raise GeneratorUnavailable(f"llama.cpp failed: {item['error']}")
            yield _delta(item if isinstance(item, dict) else json.loads(item))
