"""The service's ASGI request guard, in front of the app: request ids and logging, the API key
and body size of writes (checked before any body is read), and a JSON 500 for any crash.

Every response carries ``X-Request-ID`` (the client's own, when it sent a sane one) and
``X-Content-Type-Options: nosniff``; each request is logged on the ``semclust.server`` logger
with that id, and a crash leaves its traceback there under the same id.
"""

from __future__ import annotations

import hmac
import ipaddress
import logging
import re
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from typing import Any

from fastapi.responses import JSONResponse

__all__ = [
    "API_KEY_ENV",
    "REQUEST_ID_HEADER",
    "REQUEST_ID_SCOPE_KEY",
    "RequestGuard",
    "error_response",
    "is_loopback",
    "request_id_of",
]

logger = logging.getLogger("semclust.server")

#: Environment variable read for the API key when none is passed.
API_KEY_ENV = "SEMCLUST_API_KEY"
#: Response header (and accepted request header) carrying the request id.
REQUEST_ID_HEADER = "X-Request-ID"
#: Where the guard puts the request id in the ASGI scope (for the app's error handlers).
REQUEST_ID_SCOPE_KEY = "semclust.request_id"

_BEARER = "bearer "
_CLIENT_ID = re.compile(r"[A-Za-z0-9._:-]{1,64}")  # a client's own id, used when it is this tame
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_WRITE_PATH_PREFIX = "/documents"
_ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "too_large", 422: "invalid_parameter",
    500: "internal_error", 503: "unavailable",
}

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


def error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    """The JSON error reply ``{"error": code, "detail": message, ...}``, never cached."""
    body = {"error": _ERROR_CODES.get(status, "error"), "detail": message, **extra}
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers)


def request_id_of(scope: Mapping[str, Any]) -> str:
    """The id the guard gave this request (``"-"`` outside the guard)."""
    return str(scope.get(REQUEST_ID_SCOPE_KEY, "-"))


def is_loopback(host: str) -> bool:
    """Whether ``host`` is reachable from this machine only."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


class RequestGuard:
    """The ASGI middleware described in the module docstring."""

    def __init__(self, app: _ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        """Handle one ASGI call (HTTP requests are guarded, anything else passes through)."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])}
        sent_id = headers.get(REQUEST_ID_HEADER.lower(), "")
        rid = sent_id if _CLIENT_ID.fullmatch(sent_id) else uuid.uuid4().hex[:16]
        scope[REQUEST_ID_SCOPE_KEY] = rid
        started = time.perf_counter()
        status = [0]

        async def send_tagged(message: _Message) -> None:
            if message["type"] == "http.response.start":
                status[0] = int(message["status"])
                extra = [(b"x-content-type-options", b"nosniff"), (b"x-request-id", rid.encode())]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        try:
            await self._guarded(scope, receive, send_tagged, headers)
        except Exception:
            logger.exception("request %s failed: %s %s", rid, scope["method"], scope.get("path"))
            if status[0]:
                raise  # the reply had started: nothing more can be sent
            message = f"internal error; see the server log (request id {rid})"
            await error_response(500, message, request_id=rid)(scope, receive, send_tagged)
        finally:
            _log_request(scope, rid, status[0], time.perf_counter() - started)

    async def _guarded(
        self, scope: _Scope, receive: _Receive, send: _Send, headers: Mapping[str, str]
    ) -> None:
        if scope["method"] not in _WRITE_METHODS:
            await self.app(scope, receive, send)
            return
        problem = self._auth_problem(str(scope.get("path", "")), headers)
        if problem is None:
            problem = self._length_problem(headers.get("content-length"))
        if problem is not None:
            await problem(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large()(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        replayed = False

        async def replay() -> _Message:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": bytes(body), "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    def _auth_problem(self, path: str, headers: Mapping[str, str]) -> JSONResponse | None:
        if not path.startswith(_WRITE_PATH_PREFIX):
            return None  # no other write routes: the app answers 405
        if self.api_key is None:
            return error_response(
                403, "writes are disabled on this server; start it with an API key "
                f"(--api-key or ${API_KEY_ENV}) to allow POST and DELETE",
            )
        sent = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if sent is None and auth[: len(_BEARER)].lower() == _BEARER:
            sent = auth[len(_BEARER):].strip()
        if not sent:
            return error_response(401, "this request needs the API key: send 'X-API-Key: KEY' or "
                                  "'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(sent.encode("utf-8"), self.api_key.encode("utf-8")):
            return error_response(403, "wrong API key")
        return None

    def _length_problem(self, length: str | None) -> JSONResponse | None:
        if length is None:
            return None
        try:
            n = int(length)
        except ValueError:
            return error_response(400, "Content-Length is not a number")
        return self._too_large() if n > self.max_body_bytes else None

    def _too_large(self) -> JSONResponse:
        return error_response(413, f"request body larger than {self.max_body_bytes} bytes; send "
                              "fewer or shorter articles per request")


def _log_request(scope: _Scope, rid: str, status: int, seconds: float) -> None:
    client = scope.get("client") or ("-", 0)
    query = scope.get("query_string", b"").decode("latin-1")
    target = str(scope.get("path", "")) + (f"?{query}" if query else "")
    level = logging.WARNING if status >= 500 or status == 0 else logging.INFO
    logger.log(level, '%s %s "%s %s" %d %.1fms', rid, client[0], scope["method"], target,
               status, seconds * 1000)
