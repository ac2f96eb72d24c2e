"""The HTTP service: related articles, search and documents over one store, plus a widget.

Start it with ``semclust serve --store DIR`` or :func:`serve`; mount or test it with
:func:`create_app`. Needs the ``serve`` extra (``pip install 'semclust[serve]'``).

=======  ===========================  ==========================================================
method   path                         what
=======  ===========================  ==========================================================
GET      ``/related/{id}``            articles related to ``id`` (``k``, ``since``, ``until``,
                                      ``source``), the ranking of :meth:`Store.related`, cached
GET      ``/search``                  articles matching ``q`` (same parameters)
GET      ``/documents/{id}``          one stored article
POST     ``/documents``               add or update a JSON list of articles (API key)
DELETE   ``/documents/{id}``          delete an article (API key)
GET      ``/themes``, ``/themes/{id}``  themes, where the store has fitted ones
GET      ``/health``                  liveness, article count and generation
GET      ``/widget.js``               the embeddable related-articles script
GET      ``/docs``                    OpenAPI documentation
=======  ===========================  ==========================================================

Errors are JSON ``{"error": code, "detail": message}``: 404 unknown id, 422 bad parameters,
401 missing API key, 403 wrong key or writes disabled, 413 body or batch too large, 503 store
locked by another writer. ``/related``, ``/search`` and ``/documents/{id}`` carry an ``ETag``
derived from the store's generation and the parameters, honour ``If-None-Match`` (304), and send
``Cache-Control: public, max-age=...``. Article ids are only ever looked up in the store's
database: nothing a client sends names a file.
"""

from __future__ import annotations

import dataclasses
import hashlib
import hmac
import importlib
import ipaddress
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping, MutableMapping, Sequence
from contextlib import asynccontextmanager
from importlib import resources
from typing import Any, TypeVar

from semclust._types import Hit
from semclust.errors import (
    EmptyStoreError,
    InputError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    SemclustError,
    StoreLockedError,
)
from semclust.store.store import Store

_INSTALL_HINT = "the HTTP service needs FastAPI and uvicorn: pip install 'semclust[serve]'"

try:
    from fastapi import Body, FastAPI, Query, Request, Response, Security
    from fastapi import Path as PathParam
    from fastapi.exceptions import RequestValidationError
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.responses import JSONResponse
    from fastapi.security import APIKeyHeader
    from pydantic import BaseModel, ConfigDict, Field
    from starlette.exceptions import HTTPException as StarletteHTTPException
except ImportError as _err:  # pragma: no cover - exercised in a subprocess test
    raise MissingDependencyError(f"{_INSTALL_HINT} ({_err})") from _err

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_K",
    "DEFAULT_MAX_QUERY_CHARS",
    "MAX_ID_CHARS",
    "create_app",
    "serve",
]

logger = logging.getLogger(__name__)

#: Environment variable read for the API key when none is passed.
API_KEY_ENV = "SEMCLUST_API_KEY"
#: Largest ``k`` accepted by default.
DEFAULT_MAX_K = 100
#: Longest ``q`` accepted by default, in characters.
DEFAULT_MAX_QUERY_CHARS = 1000
#: Largest request body accepted by default (4 MiB).
DEFAULT_MAX_BODY_BYTES = 4 << 20
#: Most articles accepted by one ``POST /documents`` by default.
DEFAULT_MAX_BATCH = 1000
#: Longest article id accepted, in characters.
MAX_ID_CHARS = 256

_T = TypeVar("_T")
_WRITE_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})
_ERROR_CODES = {
    400: "bad_request", 401: "unauthorized", 403: "forbidden", 404: "not_found",
    405: "method_not_allowed", 413: "too_large", 422: "invalid_parameter",
    500: "internal_error", 503: "unavailable",
}
_API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False,
    description="The server's API key (or send `Authorization: Bearer KEY`).",
)


# -- response and request models (they document the API in /docs) -----------------------------


class HitOut(BaseModel):
    """One related or matching article."""

    id: str
    title: str
    url: str | None = None
    score: float = Field(description="cosine similarity, higher is closer")
    passage: str = Field(description="the best-matching chunk of the article")
    source: str | None = None
    published: str | None = None


class HitsOut(BaseModel):
    """A ranked list of articles."""

    id: str | None = Field(None, description="the article asked about (`/related`)")
    query: str | None = Field(None, description="the query text (`/search`)")
    k: int
    generation: int = Field(description="the store generation the results were computed at")
    results: list[HitOut]


class DocumentOut(BaseModel):
    """A stored article."""

    id: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None
    source: str | None = None
    metadata: dict[str, Any]


class ErrorOut(BaseModel):
    """An error: a short code and a message saying what was wrong."""

    error: str
    detail: str


class ArticleIn(BaseModel):
    """An article to add; fields other than these are kept as metadata."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    text: str = Field(min_length=1)
    title: str = ""
    url: str | None = Field(None, max_length=4096)
    published: str | None = Field(None, max_length=40, description="ISO date such as 2024-02-17")
    source: str | None = Field(None, max_length=512)


_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown article id"},
    422: {"model": ErrorOut, "description": "bad parameters"},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no API key sent"},
    403: {"model": ErrorOut, "description": "wrong API key, or writes are disabled"},
    413: {"model": ErrorOut, "description": "body or batch too large"},
    422: {"model": ErrorOut, "description": "bad articles"},
    503: {"model": ErrorOut, "description": "another process is writing to the store"},
}


_ARTICLES_BODY = Body(description="a JSON list of articles: id, text, title, url, published, ...")


class ApiError(Exception):
    """An error answered as JSON with ``status``; the message is shown to the client."""

    def __init__(self, status: int, message: str, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.headers = headers


def _error_response(
    status: int, message: str, headers: Mapping[str, str] | None = None, **extra: Any
) -> JSONResponse:
    body = {"error": _ERROR_CODES.get(status, "error"), "detail": message, **extra}
    all_headers = {"Cache-Control": "no-store", **(headers or {})}
    return JSONResponse(body, status_code=status, headers=all_headers)


# -- the service: the store, caches and the consistency rule ---------------------------------


class _LRU:
    """A small thread-safe LRU of response bodies keyed by ``(generation, key)``.

    Entries of older generations are dropped as soon as a newer generation is stored.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.generation = -1
        self._data: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, generation: int, key: tuple[Any, ...]) -> bytes | None:
        with self._lock:
            if generation != self.generation:
                return None
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, generation: int, key: tuple[Any, ...], value: bytes) -> None:
        if self.size <= 0:
            return
        with self._lock:
            if generation < self.generation:
                return  # computed at a generation that is already superseded
            if generation > self.generation:
                self._data.clear()
                self.generation = generation
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


class _Service:
    """What the routes share: the store, the related-articles cache and the write lock."""

    def __init__(self, store: Store, *, cache_size: int) -> None:
        self.store = store
        self.cache = _LRU(cache_size)
        self.write_lock = threading.Lock()
        self._path_text = str(store.path)
        self._themes: tuple[int, Any] | None = None
        self._themes_lock = threading.Lock()

    def generation(self) -> int:
        return self.store.generation

    def consistent(self, compute: Callable[[], _T]) -> tuple[int, _T]:
        """Run a read and return it with the generation it saw.

        A read that a committing write overlapped (the generation moved meanwhile) is run
        again, so no reply mixes two states of the store.
        """
        for attempt in range(5):
            before = self.store.generation
            try:
                value = compute()
            except Exception as err:
                if attempt == 4 or self.store.generation == before:
                    raise
                logger.debug("a write committed during a read (%r); reading again", err)
                continue
            if self.store.generation == before:
                return before, value
            logger.debug("a write committed during a read; reading again")
        raise ApiError(503, "the store kept changing during the request; try again",
                       {"Retry-After": "1"})

    def scrub(self, message: str) -> str:
        """Remove the store's folder from a message (clients need not learn server paths)."""
        return message.replace(self._path_text, "<store>")

    def related(self, doc_id: str, k: int, filters: dict[str, Any], gen: int) -> tuple[int, bytes]:
        """The reply for ``/related``, from the cache when ``gen`` (just read) has it."""
        key = ("related", doc_id, k, tuple(sorted(filters.items())))
        cached = self.cache.get(gen, key)
        if cached is not None:
            return gen, cached

        def compute() -> list[Hit]:
            try:
                return list(self.store.related(doc_id, k, **filters))
            except EmptyStoreError:
                if doc_id in self.store:
                    return []
                raise NotFoundError(doc_id) from None

        try:
            gen, hits = self.consistent(compute)
        except NotFoundError:
            raise ApiError(404, f"no article with id {doc_id!r}") from None
        results = [_hit_out(h) for h in hits]
        body = _dump({"id": doc_id, "k": k, "generation": gen, "results": results})
        self.cache.put(gen, key, body)
        return gen, body

    def search(self, q: str, k: int, filters: dict[str, Any]) -> tuple[int, bytes]:
        def compute() -> list[Hit]:
            try:
                return list(self.store.search(q, k, **filters))
            except EmptyStoreError:
                return []

        gen, hits = self.consistent(compute)
        results = [_hit_out(h) for h in hits]
        return gen, _dump({"query": q, "k": k, "generation": gen, "results": results})

    def document(self, doc_id: str) -> tuple[int, bytes]:
        try:
            gen, doc = self.consistent(lambda: self.store.get(doc_id))
        except NotFoundError:
            raise ApiError(404, f"no article with id {doc_id!r}") from None
        return gen, _dump({
            "id": doc.id, "title": doc.title, "text": doc.text, "url": doc.url,
            "published": doc.published, "source": doc.source, "metadata": dict(doc.metadata),
        })

    def themes(self) -> tuple[int, Any]:
        """The store's saved themes as JSON data (never fitted here: a fit would stall requests
        for a UMAP run), or a 404 saying how to fit them.
        """
        try:
            saved_themes = importlib.import_module("semclust.store.themes").saved_themes
        except (ImportError, AttributeError):
            raise ApiError(404, "themes are not available in this version of semclust") from None
        with self._themes_lock:  # one computation per generation, however many requests
            if self._themes is not None and self._themes[0] == self.generation():
                return self._themes
            try:
                gen, fitted = self.consistent(lambda: saved_themes(self.store))
            except SemclustError as err:
                logger.info("no themes: %s", err)
                fitted = None
            if not fitted:
                raise ApiError(404, "this store has no fitted themes; fit them first (semclust themes)")
            self._themes = (gen, _jsonable(fitted))
            return self._themes


def _hit_out(hit: Hit) -> dict[str, Any]:
    return {
        "id": hit.doc_id, "title": hit.title, "url": hit.url, "score": hit.score,
        "passage": hit.passage, "source": hit.source, "published": hit.published,
    }


def _dump(data: Any) -> bytes:
    return json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def _jsonable(obj: Any) -> Any:
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return _jsonable(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return _jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): _jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [_jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays
    return _jsonable(tolist()) if callable(tolist) else str(obj)


def _check_id(doc_id: str) -> str:
    """Refuse ids that cannot be stored ones: control characters, ``.``/``..``, too long."""
    if not doc_id or len(doc_id) > MAX_ID_CHARS:
        raise ApiError(422, f"path parameter 'id': expected 1 to {MAX_ID_CHARS} characters")
    if any(ord(c) < 32 or ord(c) == 127 for c in doc_id) or doc_id in (".", ".."):
        raise ApiError(422, "path parameter 'id': control characters, '.' and '..' are not ids")
    return doc_id


def _filters(since: str | None, until: str | None, source: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if since:
        out["since"] = since
    if until:
        out["until"] = until
    if source:
        out["source"] = source
    return out


def _etag(generation: int, *parts: Any) -> str:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode("utf-8")).hexdigest()[:16]
    return f'"g{generation}-{digest}"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


# -- a pure ASGI guard: API key and body size before any body is read -------------------------

_Scope = MutableMapping[str, Any]
_Message = MutableMapping[str, Any]
_Receive = Callable[[], Awaitable[_Message]]
_Send = Callable[[_Message], Awaitable[None]]
_ASGIApp = Callable[[_Scope, _Receive, _Send], Awaitable[None]]


class _RequestGuard:
    """Check the API key of writes and the body size before the app reads the body.

    Also adds ``X-Content-Type-Options: nosniff`` to every response.
    """

    def __init__(self, app: _ASGIApp, *, api_key: str | None, max_body_bytes: int) -> None:
        self.app = app
        self.api_key = api_key
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: _Scope, receive: _Receive, send: _Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return

        async def send_nosniff(message: _Message) -> None:
            if message["type"] == "http.response.start":
                headers = [*message.get("headers", []), (b"x-content-type-options", b"nosniff")]
                message = {**message, "headers": headers}
            await send(message)

        if scope["method"] not in _WRITE_METHODS:
            await self.app(scope, receive, send_nosniff)
            return
        headers = {
            k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope.get("headers", [])
        }
        problem = self._auth_problem(str(scope.get("path", "")), headers)
        if problem is None:
            problem = self._length_problem(headers.get("content-length"))
        if problem is not None:
            await problem(scope, receive, send_nosniff)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > self.max_body_bytes:
                await self._too_large()(scope, receive, send_nosniff)
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

        await self.app(scope, replay, send_nosniff)

    def _auth_problem(self, path: str, headers: dict[str, str]) -> JSONResponse | None:
        if not path.startswith("/documents"):
            return None  # no other write routes: the app answers 405
        if self.api_key is None:
            return _error_response(
                403, "writes are disabled on this server; start it with an API key "
                f"(--api-key or ${API_KEY_ENV}) to allow POST and DELETE",
            )
        sent = headers.get("x-api-key")
        auth = headers.get("authorization", "")
        if sent is None and auth[:7].lower() == "bearer ":
            sent = auth[7:].strip()
        if not sent:
            return _error_response(401, "this request needs the API key: send 'X-API-Key: KEY' or "
                                   "'Authorization: Bearer KEY'", {"WWW-Authenticate": "Bearer"})
        if not hmac.compare_digest(sent.encode("utf-8"), self.api_key.encode("utf-8")):
            return _error_response(403, "wrong API key")
        return None

    def _length_problem(self, length: str | None) -> JSONResponse | None:
        if length is None:
            return None
        try:
            n = int(length)
        except ValueError:
            return _error_response(400, "Content-Length is not a number")
        return self._too_large() if n > self.max_body_bytes else None

    def _too_large(self) -> JSONResponse:
        return _error_response(413, f"request body larger than {self.max_body_bytes} bytes; send "
                               "fewer or shorter articles per request")


# -- the app ----------------------------------------------------------------------------------


def create_app(
    store: Store | str | os.PathLike[str],
    *,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    max_k: int = DEFAULT_MAX_K,
    default_k: int = 10,
    max_query_chars: int = DEFAULT_MAX_QUERY_CHARS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    cache_size: int = 4096,
    cache_max_age: int = 60,
    warm: bool = True,
) -> FastAPI:
    """Build the FastAPI app serving one store.

    Args:
        store: An open :class:`Store`, or the folder of an existing one (opened read-mostly with
            ``create=False``, closed when the app shuts down).
        api_key: Key that ``POST``/``DELETE /documents`` must send (``X-API-Key`` or
            ``Authorization: Bearer``). ``None`` reads ``$SEMCLUST_API_KEY``; with neither,
            writes are disabled (403).
        cors_origins: Origins allowed to call the API from browsers (e.g. the sites that embed
            the widget); ``["*"]`` for any. Empty (the default) sends no CORS headers.
        max_k: Largest ``k`` accepted (422 above it).
        default_k: ``k`` when the request gives none.
        max_query_chars: Longest search query accepted (422 above it).
        max_body_bytes: Largest request body accepted (413 above it).
        max_batch: Most articles one ``POST /documents`` may carry (413 above it).
        cache_size: Related-article lists kept in memory (LRU, per store generation).
        cache_max_age: Seconds browsers and proxies may reuse a reply (``Cache-Control``).
        warm: Load the embedding model now (one embed), so the first search does not stall.

    Raises:
        StoreError: No store at the given folder.
        InvalidArgumentError: A limit out of range.
    """
    if max_k < 1 or not 1 <= default_k <= max_k:
        raise InvalidArgumentError(f"need 1 <= default_k <= max_k, got {default_k} and {max_k}")
    if max_query_chars < 1 or max_body_bytes < 1 or max_batch < 1:
        raise InvalidArgumentError("max_query_chars, max_body_bytes, max_batch must be >= 1")
    owned = not isinstance(store, Store)
    the_store = Store.open(store, create=False) if not isinstance(store, Store) else store
    key = api_key if api_key is not None else os.environ.get(API_KEY_ENV)
    key = key or None  # an empty key is no key
    service = _Service(the_store, cache_size=cache_size)
    if warm:
        the_store.embedder.embed(["semclust warm-up"])
    widget = resources.files("semclust.server").joinpath("widget.js").read_bytes()
    widget_etag = '"' + hashlib.sha256(widget).hexdigest()[:16] + '"'
    cache_control = f"public, max-age={cache_max_age}"

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        if owned:
            the_store.close()

    app = FastAPI(
        title="semclust",
        summary="Related articles, semantic search and themes over a semclust store.",
        version=_version(),
        lifespan=lifespan,
    )
    app.state.semclust = service
    app.add_middleware(_RequestGuard, api_key=key, max_body_bytes=max_body_bytes)
    if cors_origins:
        app.add_middleware(
            CORSMiddleware,
            allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"] if key else ["GET"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-API-Key"],
            expose_headers=["ETag"],
            max_age=600,
        )
    _add_error_handlers(app, service)

    def cached_json(
        request: Request, make: Callable[[int], tuple[int, bytes]], *parts: Any
    ) -> Response:
        gen = service.generation()
        etag = _etag(gen, *parts)
        if _not_modified(request, etag):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
        gen, body = make(gen)
        headers = {"ETag": _etag(gen, *parts), "Cache-Control": cache_control}
        return Response(body, media_type="application/json", headers=headers)

    k_query = Query(default_k, ge=1, le=max_k, description=f"number of articles, 1 to {max_k}")
    since_query = Query(None, max_length=40, description="published on or after (ISO date)")
    until_query = Query(None, max_length=40, description="published on or before (ISO date)")
    source_query = Query(None, max_length=512, description="only articles from this source")
    id_path = PathParam(max_length=MAX_ID_CHARS, description="article id (may contain '/')")

    @app.get("/related/{doc_id:path}", response_model=HitsOut, responses=_ERRORS, tags=["read"])
    def related(
        request: Request,
        doc_id: str = id_path,
        k: int = k_query,
        since: str | None = since_query,
        until: str | None = until_query,
        source: str | None = source_query,
    ) -> Response:
        """Articles related to article ``doc_id``, best first (the ranking of ``Store.related``)."""
        doc_id = _check_id(doc_id)
        filters = _filters(since, until, source)
        parts = ("related", doc_id, k, sorted(filters.items()))
        return cached_json(request, lambda gen: service.related(doc_id, k, filters, gen), *parts)

    @app.get("/search", response_model=HitsOut, responses=_ERRORS, tags=["read"])
    def search(
        request: Request,
        q: str = Query(min_length=1, max_length=max_query_chars, description="free text"),
        k: int = k_query,
        since: str | None = since_query,
        until: str | None = until_query,
        source: str | None = source_query,
    ) -> Response:
        """Articles that best match the query ``q``, best first."""
        filters = _filters(since, until, source)
        parts = ("search", q, k, sorted(filters.items()))
        return cached_json(request, lambda gen: service.search(q, k, filters), *parts)

    @app.get("/documents/{doc_id:path}", response_model=DocumentOut, responses=_ERRORS,
             tags=["read"])
    def get_document(request: Request, doc_id: str = id_path) -> Response:
        """One stored article."""
        doc_id = _check_id(doc_id)
        return cached_json(request, lambda gen: service.document(doc_id), "document", doc_id)

    @app.post("/documents", responses=_WRITE_ERRORS, tags=["write"],
              dependencies=[Security(_API_KEY_HEADER)])
    def add_documents(
        articles: list[ArticleIn] = _ARTICLES_BODY,
    ) -> dict[str, Any]:
        """Add or update articles (an upsert by id). Needs the API key."""
        if len(articles) > max_batch:
            raise ApiError(413, f"{len(articles)} articles in one request; the most is {max_batch}")
        records = [a.model_dump(exclude_none=True) for a in articles]
        with service.write_lock:
            report = the_store.add(records)
        return {**report.to_dict(), "generation": service.generation()}

    @app.delete("/documents/{doc_id:path}", responses=_WRITE_ERRORS | _ERRORS, tags=["write"],
                dependencies=[Security(_API_KEY_HEADER)])
    def delete_document(doc_id: str = id_path) -> dict[str, Any]:
        """Delete one article. Needs the API key."""
        doc_id = _check_id(doc_id)
        try:
            with service.write_lock:
                report = the_store.delete(doc_id)
        except NotFoundError:
            raise ApiError(404, f"no article with id {doc_id!r}") from None
        return {**report.to_dict(), "generation": service.generation()}

    @app.get("/themes", responses={404: _ERRORS[404]}, tags=["read"])
    def themes() -> Response:
        """List the store's themes, where they have been fitted."""
        gen, data = service.themes()
        return Response(_dump({"generation": gen, "themes": data}), media_type="application/json",
                        headers={"Cache-Control": cache_control})

    @app.get("/themes/{theme_id}", responses={404: _ERRORS[404]}, tags=["read"])
    def theme(theme_id: str = PathParam(max_length=64)) -> Response:
        """One theme by id."""
        _, data = service.themes()
        items = data.get("themes", []) if isinstance(data, dict) else data
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and str(item.get("id", item.get("theme_id"))) == theme_id:
                return Response(_dump(item), media_type="application/json",
                                headers={"Cache-Control": cache_control})
        raise ApiError(404, f"no theme with id {theme_id!r}")

    @app.get("/health", tags=["service"])
    def health() -> JSONResponse:
        """Liveness: article count, store generation, model and whether writes are enabled."""
        body = {
            "status": "ok", "articles": len(the_store), "generation": service.generation(),
            "model": the_store.manifest["model"]["name"], "writes": key is not None,
            "version": _version(),
        }
        return JSONResponse(body, headers={"Cache-Control": "no-store"})

    @app.get("/widget.js", include_in_schema=False)
    def widget_js(request: Request) -> Response:
        headers = {"ETag": widget_etag, "Cache-Control": "public, max-age=3600"}
        if _not_modified(request, widget_etag):
            return Response(status_code=304, headers=headers)
        return Response(widget, media_type="text/javascript; charset=utf-8", headers=headers)

    return app


def _add_error_handlers(app: FastAPI, service: _Service) -> None:
    async def api_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, ApiError)
        return _error_response(exc.status, exc.message, exc.headers)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, StarletteHTTPException)
        if exc.status_code == 304 or exc.status_code < 400:
            return Response(status_code=exc.status_code, headers=exc.headers)
        return _error_response(exc.status_code, str(exc.detail), exc.headers)

    async def validation_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        errors = []
        for e in exc.errors():
            loc = [str(p) for p in e.get("loc", ())]
            where = f"{loc[0]} parameter {'.'.join(loc[1:])!r}" if len(loc) > 1 else ".".join(loc)
            errors.append({"location": ".".join(loc), "message": str(e.get("msg", ""))})
            errors[-1]["text"] = f"{where}: {errors[-1]['message']}"
        detail = "; ".join(e.pop("text") for e in errors) or "invalid request"
        return _error_response(422, detail, errors=errors)

    async def semclust_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, SemclustError)
        if isinstance(exc, NotFoundError):
            return _error_response(404, service.scrub(str(exc)))
        if isinstance(exc, (InvalidArgumentError, InputError)):
            return _error_response(422, service.scrub(str(exc)))
        if isinstance(exc, StoreLockedError):
            return _error_response(
                503, "another process is writing to the store; try again shortly",
                {"Retry-After": "1"},
            )
        logger.error("error serving %s: %s", request.url.path, exc, exc_info=exc)
        return _error_response(500, "internal error in the store; see the server log")

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(StarletteHTTPException, http_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(SemclustError, semclust_error)


def _version() -> str:
    from semclust import __version__

    return __version__


def serve(
    store_path: str | os.PathLike[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    log_level: str = "info",
    **options: Any,
) -> None:
    """Serve the store at ``store_path`` over HTTP with uvicorn until interrupted.

    Args:
        store_path: Folder of an existing store.
        host: Address to bind; the default, loopback only, is reachable from this machine alone.
        port: TCP port.
        api_key: Key for ``POST``/``DELETE``; ``None`` reads ``$SEMCLUST_API_KEY``; with
            neither, writes are disabled.
        cors_origins: Browser origins allowed to call the API (none by default).
        log_level: uvicorn's log level.
        **options: More :func:`create_app` options (``max_k``, ``max_body_bytes``, ...).
    """
    try:
        import uvicorn
    except ImportError as err:
        raise MissingDependencyError(f"{_INSTALL_HINT} ({err})") from err
    app = create_app(store_path, api_key=api_key, cors_origins=cors_origins, **options)
    if not _is_loopback(host):
        logger.warning("serving on %s: reachable from other machines; put it behind TLS", host)
    uvicorn.run(app, host=host, port=port, log_level=log_level, server_header=False)
