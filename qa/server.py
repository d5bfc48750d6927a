"""qa as a service: the chat and the HTTP APIs in one FastAPI app, one process, one port.

`create_server()` builds the app (no server started); `run()` serves it with uvicorn as the
settings say; `running()` serves it in a background thread (tests, benchmarks).
"""

from __future__ import annotations

import signal
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.middleware.cors import CORSMiddleware

from qa.config import Settings
from qa.engine import Engine
from qa.http_api import Answering, api_router, health_router
from qa.http_common import (
    API_PREFIXES,
    BodyLimit,
    body_limits,
    client_guard,
    install_error_handlers,
    is_loopback,
)
from qa.http_login import ChatLoginRequired, LoginThrottle
from qa.openai_api import openai_router

DESCRIPTION = """Ask questions of a folder of documents; every answer cites the exact spans it quotes.

* `/api`: qa's JSON API (answers with their citations, the indexed files, ingestion).
* `/v1`: an OpenAI-compatible chat-completions endpoint; `citations` and `refused` are extra fields.
* `/`: the chat.

With `QA_API_KEY` set, every API request needs `Authorization: Bearer <key>`; without it,
the API only answers clients on the same machine."""


def create_server(engine: Engine, settings: Settings | None = None, chat: bool = True) -> FastAPI:
    """The APIs over `engine` and, with `chat`, the Gradio chat mounted at the root; no server is started."""
    settings = settings or engine.settings
    app = FastAPI(title="qa", description=DESCRIPTION, version="0.1.0", docs_url="/docs", redoc_url=None)
    install_error_handlers(app)
    guarded = [Depends(client_guard(settings))]
    answering = Answering(engine, settings.api_concurrency)
    app.include_router(health_router(engine), dependencies=guarded)
    app.include_router(api_router(engine, answering), dependencies=guarded)
    app.include_router(openai_router(answering), dependencies=guarded)
    app.add_middleware(BodyLimit, limit_of=body_limits(settings))
    if settings.cors_origins:  # added last: outermost, so even a 413 carries the CORS headers
        app.add_middleware(CORSMiddleware, allow_origins=settings.cors_origins, allow_methods=["GET", "POST", "DELETE"],
                           allow_headers=["Authorization", "Content-Type"])
    if chat:
        import gradio as gr

        from qa.ui import create_app, launch_options

        gr.mount_gradio_app(app, create_app(engine).queue(), path="/", server_name=settings.host,
                            server_port=settings.port, **launch_options(settings))
        gradio_app = next(route.app for route in app.routes if getattr(route, "path", None) == "")
        app.add_middleware(ChatLoginRequired, gradio_app=gradio_app, api_prefixes=API_PREFIXES)
        app.add_middleware(LoginThrottle)  # Gradio's /login has no limit on password guessing
    return app


def startup_notes(settings: Settings) -> list[str]:
    """What the server tells its operator at start: where it listens and who may use the API."""
    base = f"http://{settings.host}:{settings.port}"
    notes = [f"qa: chat on {base}/ ; API on {base}/api and {base}/v1 (docs: {base}/docs)"]
    local = settings.host == "localhost" or is_loopback(settings.host)
    if settings.api_key:
        notes.append("qa: the API requires 'Authorization: Bearer <QA_API_KEY>'.")
    elif settings.auth:
        notes.append("qa: the API requires a chat login (QA_AUTH) as HTTP Basic credentials.")
    elif local:
        notes.append("qa: no QA_API_KEY set: the API answers only clients on this machine.")
    else:
        notes.append(f"qa: WARNING: listening on {settings.host} without QA_API_KEY: API requests from other "
                     "machines get 403. Set QA_API_KEY to serve them.")
    if not local and not settings.auth:
        notes.append(f"qa: WARNING: the chat on {settings.host} has no login; set QA_AUTH=user:password.")
    return notes


def run(settings: Settings | None = None) -> None:
    """Serve the chat and the APIs over the process engine until interrupted."""
    from qa.api import get_engine

    engine = get_engine()
    settings = settings or engine.settings
    app = create_server(engine, settings)
    for note in startup_notes(settings):
        print(note, flush=True)
    _Server(app, settings.host, settings.port).run()


def main() -> int:
    """`python app.py`: serve, or say in one line what stops qa from starting (exit status 2)."""
    from qa.schema import QAError

    try:
        run()
    except (QAError, ValueError) as error:  # bad QA_* settings, a malformed QA_AUTH, an unusable index
        print(f"qa: {error}", file=sys.stderr)
        return 2
    except OSError as error:  # the port is taken, the index folder cannot be written
        print(f"qa: could not start: {error}", file=sys.stderr)
        return 2
    except Exception as error:  # most likely a damaged index (the store names what it knows as a QAError)
        print(f"qa: could not start: {type(error).__name__}: {error}. If the index folder is damaged, "
              "`qa ingest --rebuild` rebuilds it.", file=sys.stderr)
        return 2
    return 0


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """Serve `app` with uvicorn in a background thread; yields its base URL and stops it on exit."""
    server = _Server(app, host, port)
    thread = threading.Thread(target=server.run, name="qa-server", daemon=True)
    thread.start()
    deadline = time.monotonic() + 60
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            server.should_exit = True
            raise RuntimeError(f"the server did not start on {host}:{port}")
        time.sleep(0.05)
    bound = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield f"http://{host}:{bound}"
    finally:
        server.handle_exit(signal.SIGTERM, None)
        thread.join(timeout=30)


class _Server(uvicorn.Server):
    """uvicorn, ending the chat's open heartbeat streams first: stopping need not wait for browsers to leave."""

    def __init__(self, app: FastAPI, host: str, port: int) -> None:
        super().__init__(uvicorn.Config(app, host=host, port=port, log_level="warning", timeout_graceful_shutdown=5))
        self.served_app = app

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        for route in self.served_app.routes:  # the mounted Gradio app ends its heartbeats when its stop event is set
            stop = getattr(getattr(route, "app", None), "stop_event", None)
            if stop is not None:
                stop.set()
        super().handle_exit(sig, frame)
