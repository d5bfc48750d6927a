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
