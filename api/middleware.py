"""The request middleware, one pure ASGI layer around the whole app:

* strips a trailing slash before routing, so every path answers with and without one;
* request id (echoed when sane, made otherwise), bound to every log line of the request;
* caps request bodies (413 with the envelope);
* X-Process-Time and the security headers on every response;
* one log line and the HTTP metrics per request, labelled by route template;
* any unexpected exception becomes a 500 envelope, never a stack trace."""

from __future__ import annotations

import itertools
import os
import re
import time
from typing import Any

import orjson
import structlog
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from ledger.logs import get_logger
from ledger.metrics import HTTP_REQUESTS, HTTP_SECONDS

MAX_BODY_BYTES = 1024 * 1024
_SANE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:-]{1,128}$")
_DOCS_PATHS = ("/docs", "/redoc")
_SECURITY_HEADERS = [
    (b"x-content-type-options", b"nosniff"),
    (b"x-frame-options", b"DENY"),
    (b"referrer-policy", b"no-referrer"),
    (b"cross-origin-opener-policy", b"same-origin"),
]
_CSP = (b"content-security-policy", b"default-src 'none'; frame-ancestors 'none'")
# The back office's pages load their own style sheet and script, and post forms to themselves.
_CONSOLE_PATH = "/admin"
_CONSOLE_CSP = (
    b"content-security-policy",
    b"default-src 'none'; style-src 'self'; script-src 'self'; connect-src 'self'; "
    b"img-src 'self'; form-action 'self'; base-uri 'none'; frame-ancestors 'none'",
)
UNMATCHED_ROUTE = "<unmatched>"
log = get_logger("ledger.api")
# Made request ids: a random prefix per process and a counter, as unique as a UUID4 per
# request and without a system call for each (os.urandom showed in the request profile).
_ID_PREFIX = os.urandom(8).hex()
_ID_COUNTER = itertools.count()


def _new_id_prefix() -> None:
    global _ID_PREFIX  # a forked worker must not repeat its parent's ids
    _ID_PREFIX = os.urandom(8).hex()


os.register_at_fork(after_in_child=_new_id_prefix)


class BodyTooLargeError(Exception):
    """The client sent more than MAX_BODY_BYTES."""


class RequestMiddleware:
    def __init__(self, app: ASGIApp, slow_request_ms: float) -> None:
        self.app = app
        self.slow_request_ms = slow_request_ms
        # The labelled metric children, looked up once per (method, route, status).
        self._metrics: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        _strip_trailing_slash(scope)
        request_id = _request_id(scope)
        path: str = scope["path"]
        status = 500
        response_started = False

        async def send_with_headers(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                response_started = True
                status = message["status"]
                headers = [
                    (k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"
                ]
                headers.append((b"x-request-id", request_id.encode()))
                elapsed = time.perf_counter() - started
                headers.append((b"x-process-time", f"{elapsed:.6f}".encode()))
                headers.extend(_SECURITY_HEADERS)
                if path.startswith(_CONSOLE_PATH):
                    headers.append(_CONSOLE_CSP)
                elif not path.startswith(_DOCS_PATHS):
                    headers.append(_CSP)
                message["headers"] = headers
            await send(message)

        with structlog.contextvars.bound_contextvars(request_id=request_id):
            try:
                if _declared_length(scope) > MAX_BODY_BYTES:
                    raise BodyTooLargeError
                await self.app(scope, _capped(receive), send_with_headers)
            except BodyTooLargeError:
                if not response_started:
                    await _send_error(
                        send_with_headers,
                        413,
                        "PAYLOAD_TOO_LARGE",
                        f"the request body exceeds {MAX_BODY_BYTES} bytes",
                    )
            except Exception:
                log.exception("unhandled error", method=scope["method"], path=path)
                if not response_started:
                    await _send_error(
                        send_with_headers, 500, "INTERNAL_ERROR", "an unexpected error occurred"
                    )
            finally:
                self._record(scope, status, time.perf_counter() - started)

    def _record(self, scope: Scope, status: int, seconds: float) -> None:
        route = scope.get("route")
        template = getattr(route, "path", None) or UNMATCHED_ROUTE
        method: str = scope["method"]
        labels = (method, template, status)
        children = self._metrics.get(labels)
        if children is None:
            children = self._metrics[labels] = (
                HTTP_REQUESTS.labels(method, template, str(status)),
                HTTP_SECONDS.labels(method, template, str(status)),
            )
        children[0].inc()
        children[1].observe(seconds)
        duration_ms = round(seconds * 1000, 2)
        fields: dict[str, Any] = {
            "method": method, "route": template, "status": status, "duration_ms": duration_ms
        }  # fmt: skip
        if duration_ms > self.slow_request_ms:
            log.warning("slow request", **fields)
        else:
            log.info("request", **fields)


def _strip_trailing_slash(scope: Scope) -> None:
    path: str = scope["path"]
    if len(path) > 1 and path.endswith("/"):
        scope["path"] = path.rstrip("/") or "/"
        raw = scope.get("raw_path")
        if raw:
            scope["raw_path"] = raw.rstrip(b"/") or b"/"


def _request_id(scope: Scope) -> str:
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            text = bytes(value).decode("latin-1")
            if _SANE_REQUEST_ID.match(text):
                return text
            break
    return f"{_ID_PREFIX}{next(_ID_COUNTER):016x}"


def _declared_length(scope: Scope) -> int:
    for name, value in scope.get("headers", []):
        if name == b"content-length":
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def _capped(receive: Receive) -> Receive:
    """Counts the bytes actually received: a missing or false Content-Length does not help."""
    received = 0

    async def capped_receive() -> Message:
        nonlocal received
        message = await receive()
        if message["type"] == "http.request":
            received += len(message.get("body", b""))
            if received > MAX_BODY_BYTES:
                raise BodyTooLargeError
        return message

    return capped_receive


async def _send_error(send: Send, status: int, code: str, message: str) -> None:
    body = orjson.dumps(
        {"success": False, "error": {"code": code, "message": message, "details": None}}
    )
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-type", b"application/json"),
                (b"content-length", str(len(body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})
