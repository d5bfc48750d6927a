"""What every API route obeys: one JSON error shape, the client check (API key or loopback), body limits."""

from __future__ import annotations

import base64
import hmac
import ipaddress
import logging
from collections.abc import Callable
from typing import Annotated

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from qa.config import Settings, parse_logins
from qa.schema import (
    EmptyIndex,
    IndexMismatch,
    InvalidQuestion,
    QAError,
    StoreUnavailable,
    UnknownDocument,
)

log = logging.getLogger(__name__)

API_PREFIXES = ("/api", "/v1", "/healthz")
# QAError subclass -> (status, type); the first match wins, QAError itself is a plain bad request.
_QA_ERRORS: list[tuple[type[QAError], int, str]] = [
    (InvalidQuestion, 400, "invalid_request_error"),
    (UnknownDocument, 404, "not_found_error"),
    (EmptyIndex, 409, "empty_index_error"),
    (IndexMismatch, 409, "index_mismatch_error"),
    (StoreUnavailable, 503, "store_unavailable_error"),
    (QAError, 400, "invalid_request_error"),
]
_BEARER = HTTPBearer(auto_error=False, description="QA_API_KEY, when the server sets one")
_HTTP_TYPES = {401: "authentication_error", 403: "permission_error", 404: "not_found_error",
               405: "invalid_request_error", 409: "conflict_error", 413: "request_too_large_error"}


class ApiError(Exception):
    """An HTTP error with a message for the client."""

    def __init__(self, status: int, message: str, kind: str | None = None, headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status, self.message, self.headers = status, message, headers
        self.kind = kind or _HTTP_TYPES.get(status, "invalid_request_error")


def error_response(status: int, message: str, kind: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """The body every API error has, OpenAI's shape: {"error": {"message": ..., "type": ...}}."""
    return JSONResponse({"error": {"message": message, "type": kind}}, status_code=status, headers=headers)


def qa_error_status(error: QAError) -> tuple[int, str]:
    return next((status, kind) for cls, status, kind in _QA_ERRORS if isinstance(error, cls))


def install_error_handlers(app: FastAPI) -> None:
    """Every failure of an API route becomes a JSON error body; a traceback only ever reaches the log."""

    @app.exception_handler(ApiError)
    async def api_error(request: Request, error: ApiError) -> JSONResponse:
        return error_response(error.status, error.message, error.kind, error.headers)

    @app.exception_handler(QAError)
    async def qa_error(request: Request, error: QAError) -> JSONResponse:
        status, kind = qa_error_status(error)
        return error_response(status, str(error), kind)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, error: RequestValidationError) -> JSONResponse:
        return error_response(422, validation_message(error.errors()), "invalid_request_error")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, error: HTTPException) -> JSONResponse:
        return error_response(error.status_code, str(error.detail), _HTTP_TYPES.get(error.status_code, "error"),
                              getattr(error, "headers", None))

    @app.exception_handler(Exception)
    async def crash(request: Request, error: Exception) -> JSONResponse:
        log.error("%s %s failed", request.method, request.url.path, exc_info=error)
        return error_response(500, "Something went wrong; the server log has the details.", "server_error")


def validation_message(errors: list[dict]) -> str:
    """What was wrong with a request, field by field, without echoing its content."""
    parts = []
    for error in errors[:5]:
        where = ".".join(str(part) for part in error.get("loc", ()) if part != "body") or "body"
        parts.append(f"{where}: {error.get('msg', 'invalid')}")
    return "Invalid request: " + "; ".join(parts)


def key_matches(given: str, expected: str) -> bool:
    """Constant-time comparison, so response times do not leak how much of a key was right."""
    return hmac.compare_digest(given.encode("utf-8"), expected.encode("utf-8"))


def is_loopback(host: str | None) -> bool:
    try:
        return host is not None and ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def client_guard(settings: Settings) -> Callable:
    """A dependency for API routes: the right bearer key when one is set; with a chat login (QA_AUTH) and no
    key, one of its logins as HTTP Basic credentials; with neither, a client on this machine.

    The chat's login covers the API too: behind a reverse proxy every client looks local, so a login
    that only the chat checked could be bypassed through /api or /v1."""
    expected = settings.api_key.get_secret_value() if settings.api_key else None
    logins = dict(parse_logins(settings.auth)) if settings.auth else None

    async def guard(request: Request, credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_BEARER)]) -> None:
        if expected is not None:
            if credentials is None or not key_matches(credentials.credentials, expected):
                raise ApiError(401, "A valid API key is required: send 'Authorization: Bearer <QA_API_KEY>'.",
                               headers={"WWW-Authenticate": "Bearer"})
        elif logins is not None:
            if not basic_login_matches(request.headers.get("authorization", ""), logins):
                raise ApiError(401, "This server requires a login (QA_AUTH): send HTTP Basic credentials of a "
                                    "chat login, or set QA_API_KEY and send it as a bearer token.",
                               headers={"WWW-Authenticate": 'Basic realm="qa"'})
        elif not is_loopback(request.client.host if request.client else None):
            raise ApiError(403, "This server has no API key (QA_API_KEY), so its API only answers clients on "
                                "the same machine.")

    return guard


def basic_login_matches(header: str, logins: dict[str, str]) -> bool:
    """Whether an `Authorization: Basic ...` header holds one of the logins (password compared in constant time)."""
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() != "basic":
        return False
    try:
        user, colon, password = base64.b64decode(encoded.strip(), validate=True).decode("utf-8").partition(":")
    except (ValueError, UnicodeDecodeError):
        return False
    return bool(colon) and user in logins and key_matches(password, logins[user])


class BodyLimit:
    """ASGI middleware: API request bodies over their limit get a 413 JSON error before any route reads them.

    The body is read here (up to the limit) and handed on whole, so a body without a
    Content-Length is held to the same limit as one that declares its size.
    """

    def __init__(self, app: ASGIApp, limit_of: Callable[[str, str], int | None]) -> None:
        self.app = app
        self.limit_of = limit_of  # (method, path) -> byte limit, or None for no limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        limit = self.limit_of(scope["method"], scope["path"]) if scope["type"] == "http" else None
        if limit is None:
            return await self.app(scope, receive, send)
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > limit):
            return await _too_large(limit, scope, receive, send)
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] != "http.request":
                return  # the client went away
            body += message.get("body", b"")
            if len(body) > limit:
                return await _too_large(limit, scope, receive, send)
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replayed() -> Message:
        nonlocal sent
        if sent:
            return await receive()
        sent = True
        return {"type": "http.request", "body": body, "more_body": False}

    return replayed


async def _too_large(limit: int, scope: Scope, receive: Receive, send: Send) -> None:
    response = error_response(413, f"The request body is larger than this server accepts ({limit} bytes).",
                              "request_too_large_error", {"Connection": "close"})
    await response(scope, receive, send)


def body_limits(settings: Settings) -> Callable[[str, str], int | None]:
    """Uploads may be as large as max_upload_bytes, every other API body as max_request_bytes."""

    def limit_of(method: str, path: str) -> int | None:
        if not path.startswith(API_PREFIXES):
            return None  # the chat's own routes: Gradio's limits
        if method == "POST" and path.rstrip("/") == "/api/documents":
            return settings.max_upload_bytes
        return settings.max_request_bytes

    return limit_of
