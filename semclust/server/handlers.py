"""How the service answers errors: the :mod:`semclust.errors` tree mapped to HTTP statuses,
every error as JSON ``{"error": code, "detail": message}``; a 500 names the request id to find
in the log, where the traceback is.
"""

from __future__ import annotations

import logging

from fastapi import FastAPI, Request, Response
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException as StarletteHTTPException

from semclust.errors import (
    ApiError,
    InputError,
    InvalidArgumentError,
    NotFoundError,
    SemclustError,
    StoreLockedError,
)
from semclust.server.guard import error_response, request_id_of
from semclust.server.service import Service

__all__ = ["add_error_handlers"]

logger = logging.getLogger("semclust.server")


def _validation_detail(exc: RequestValidationError) -> tuple[str, list[dict[str, str]]]:
    errors, texts = [], []
    for e in exc.errors():
        loc = [str(p) for p in e.get("loc", ())]
        where = f"{loc[0]} parameter {'.'.join(loc[1:])!r}" if len(loc) > 1 else ".".join(loc)
        message = str(e.get("msg", ""))
        errors.append({"location": ".".join(loc), "message": message})
        texts.append(f"{where}: {message}")
    return "; ".join(texts) or "invalid request", errors


def add_error_handlers(app: FastAPI, service: Service) -> None:
    """Install the handlers described in the module docstring."""
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return error_response(exc.status, exc.message, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return error_response(exc.status_code, str(exc.detail), exc.headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        detail, errors = _validation_detail(exc)
        return error_response(422, detail, errors=errors)

    async def semclust_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SemclustError)
        if isinstance(exc, NotFoundError):
            return error_response(404, service.scrub(str(exc)))
        if isinstance(exc, (InvalidArgumentError, InputError)):
            return error_response(422, service.scrub(str(exc)))
        if isinstance(exc, StoreLockedError):
            return error_response(503, "another process is writing to the store; try again shortly",
                                  {"Retry-After": "1"})
        rid = request_id_of(request.scope)
        logger.error("request %s: error serving %s: %s", rid, request.url.path, exc, exc_info=exc)
        return error_response(500, f"internal error in the store; see the server log (request id "
                              f"{rid})", request_id=rid)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(SemclustError, semclust_error)
