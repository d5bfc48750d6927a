"""A brake on password guessing at the chat's /login: after a few failed logins a client waits, longer each time.

Gradio checks the password and answers 400 on a wrong one, with no limit of its own. This ASGI
middleware sits in front of it, keyed by the client's address: FREE_FAILURES failures are free,
then every further try within the lock-out gets 429 with Retry-After, and each failure doubles
the lock-out (up to MAX_LOCKOUT seconds). A successful login clears the client's record.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.http_common import error_response

FREE_FAILURES = 5
FIRST_LOCKOUT = 1.0  # seconds after the first failure past the free ones
MAX_LOCKOUT = 300.0
FORGET_AFTER = 3600.0  # a client quiet this long starts afresh
MAX_CLIENTS = 10_000  # records kept at most; the oldest go first


@dataclass
class _Record:
    failures: int = 0
    last: float = 0.0


class LoginThrottle:
    """Per-client backoff on failed POST /login (and /login/)."""

    def __init__(self, app: ASGIApp, clock: Callable[[], float] = time.monotonic) -> None:
        self.app = app
        self.clock = clock
        self._records: dict[str, _Record] = {}
        self._lock = threading.Lock()

    def wait_for(self, client: str) -> float:
        """Seconds `client` must still wait before its next login try (0: it may try now)."""
        with self._lock:
            record = self._records.get(client)
            if record is None or record.failures < FREE_FAILURES:
                return 0.0
            lockout = min(FIRST_LOCKOUT * 2 ** (record.failures - FREE_FAILURES), MAX_LOCKOUT)
            return max(0.0, record.last + lockout - self.clock())

    def record(self, client: str, succeeded: bool) -> None:
        now = self.clock()
        with self._lock:
            if succeeded:
                self._records.pop(client, None)
                return
            if len(self._records) >= MAX_CLIENTS:
                self._forget(now)
            record = self._records.setdefault(client, _Record())
            record.failures, record.last = record.failures + 1, now

    def _forget(self, now: float) -> None:
        for client, record in list(self._records.items()):
            if now - record.last > FORGET_AFTER:
                del self._records[client]
        while len(self._records) >= MAX_CLIENTS:  # still full: drop the oldest
            del self._records[min(self._records, key=lambda c: self._records[c].last)]

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "POST" or scope["path"].rstrip("/") != "/login":
            return await self.app(scope, receive, send)
        client = scope["client"][0] if scope.get("client") else "unknown"
        wait = self.wait_for(client)
        if wait > 0:
            seconds = max(1, round(wait + 0.5))
            response = error_response(429, f"Too many failed logins; try again in {seconds} s.", "rate_limit_error",
                                      {"Retry-After": str(seconds)})
            return await response(scope, receive, send)
        status: list[int] = []

        async def watched(message: Message) -> None:
            if message["type"] == "http.response.start":
                status.append(message["status"])
            await send(message)

        await self.app(scope, receive, watched)
        if status:
            self.record(client, succeeded=status[0] < 400)


# What the chat serves without a login when QA_AUTH is set: its login page and what that page loads.
PUBLIC_PATHS = {"/", "/login", "/logout", "/favicon.ico", "/theme.css", "/robots.txt", "/manifest.json",
                "/gradio_api/theme.css", "/gradio_api/app_id", "/gradio_api/startup-events", "/config"}
PUBLIC_PREFIXES = ("/assets/", "/static/", "/svelte/", "/pwa_icon")


def is_public(path: str) -> bool:
    path = path.rstrip("/") or "/"
    return path in PUBLIC_PATHS or path.startswith(PUBLIC_PREFIXES)


class ChatLoginRequired:
    """Deny by default: with QA_AUTH set, every chat route but the login page's needs a logged-in session.

    Gradio checks the login route by route, and some of its routes (/gradio_api/cancel, /reset, /stream/...,
    /heartbeat/...) check none; a route a Gradio upgrade adds is covered here without anyone listing it.
    The API (`api_prefixes`) has its own guard (qa/http_common.py).
    """

    def __init__(self, app: ASGIApp, gradio_app, api_prefixes: tuple[str, ...]) -> None:
        self.app = app
        self.gradio_app = gradio_app  # Gradio's App: its cookie id and the tokens of logged-in sessions
        self.api_prefixes = api_prefixes

    def logged_in(self, scope: Scope) -> bool:
        from starlette.requests import HTTPConnection

        cookies = HTTPConnection(scope).cookies
        cookie_id = self.gradio_app.cookie_id
        token = cookies.get(f"access-token-{cookie_id}") or cookies.get(f"access-token-unsecure-{cookie_id}")
        return token is not None and token in self.gradio_app.tokens

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket") or self.gradio_app.auth is None:
            return await self.app(scope, receive, send)
        path = scope["path"]
        if path.startswith(self.api_prefixes) or path in ("/docs", "/openapi.json", "/docs/oauth2-redirect") \
                or is_public(path) or self.logged_in(scope):
            return await self.app(scope, receive, send)
        if scope["type"] == "websocket":
            return await send({"type": "websocket.close", "code": 1008})
        response = error_response(401, "Log in to the chat first (QA_AUTH).", "authentication_error")
        await response(scope, receive, send)
