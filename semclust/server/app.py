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
GET      ``/themes``                  the saved themes at one level of their tree (``level``:
                                      ``broad``, ``default``, ``fine``), each with ``parent_id``,
                                      ``level`` and ``children``
GET      ``/themes/{id}``             a theme of any level, with its parent and children
GET      ``/health``                  liveness, article count and generation
GET      ``/widget.js``               the embeddable related-articles script
GET      ``/docs``                    OpenAPI documentation (works offline)
=======  ===========================  ==========================================================

A hit is :meth:`semclust.Hit.to_dict`, as ``semclust search --json`` prints it. Errors are JSON
``{"error": code, "detail": message}``: 404 unknown id, 422 bad parameters, 401 missing API key,
403 wrong key or writes disabled, 413 body or batch too large, 503 store locked by another
writer, 500 with the ``request_id`` to find in the log. ``/related``, ``/search`` and
``/documents/{id}`` carry an ``ETag`` derived from the store generation the reply was read at
and the parameters, honour ``If-None-Match`` (304), and send ``Cache-Control: public,
max-age=...``. Article ids are only ever looked up in the store's database: nothing a client
sends names a file, and no absolute server path is sent (``metadata.path`` only when relative).

The service's modules: this one (the app and its routes), :mod:`.models` (the API's pydantic
models), :mod:`.service` (the store, cache and writer thread behind the routes),
:mod:`.theme_replies` (the theme tree as ``/themes`` serves it), :mod:`.guard`
(the ASGI request guard: request ids, logging, API key, body limits), :mod:`.handlers` (errors to
HTTP statuses), :mod:`.docs` (offline ``/docs``) and :mod:`.logs` (the logging of ``serve``).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import logging.config
import os
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass
from importlib import resources
from typing import Any, Literal

from semclust.errors import (
    ApiError,
    InvalidArgumentError,
    MissingDependencyError,
)
from semclust.store.store import Store

_INSTALL_HINT = "the HTTP service needs FastAPI and uvicorn: pip install 'semclust[serve]'"

try:
    from fastapi import Body, FastAPI, Query, Request, Response, Security
    from fastapi import Path as PathParam
    from fastapi.middleware.cors import CORSMiddleware
    from fastapi.security import APIKeyHeader

    from semclust.server.docs import add_docs_routes
    from semclust.server.guard import API_KEY_ENV, RequestGuard, is_loopback
    from semclust.server.handlers import add_error_handlers
    from semclust.server.logs import LOG_LEVELS, log_config
    from semclust.server.models import (
        MAX_ID_CHARS,
        MAX_PUBLISHED_CHARS,
        MAX_SOURCE_CHARS,
        ArticleIn,
        DocumentOut,
        ErrorOut,
        HealthOut,
        HitsOut,
        ThemeDetailOut,
        ThemesOut,
        WriteOut,
        id_problem,
    )
    from semclust.server.service import DEFAULT_CACHE_SIZE, Service, dump_json
except ImportError as _err:  # pragma: no cover - exercised in a subprocess test
    raise MissingDependencyError(f"{_INSTALL_HINT} ({_err})") from _err

__all__ = [
    "API_KEY_ENV",
    "DEFAULT_MATH_THREADS",
    "DEFAULT_MAX_BATCH",
    "DEFAULT_MAX_BODY_BYTES",
    "DEFAULT_MAX_K",
    "DEFAULT_MAX_QUERY_CHARS",
    "LOG_LEVELS",
    "MAX_ID_CHARS",
    "create_app",
    "log_config",
    "serve",
]

logger = logging.getLogger(__name__)

#: Largest ``k`` accepted by default.
DEFAULT_MAX_K = 100
#: ``k`` when a request gives none, by default.
DEFAULT_K = 10
#: Longest ``q`` accepted by default, in characters.
DEFAULT_MAX_QUERY_CHARS = 1000
#: Largest request body accepted by default (4 MiB).
DEFAULT_MAX_BODY_BYTES = 4 << 20
#: Most articles accepted by one ``POST /documents`` by default.
DEFAULT_MAX_BATCH = 1000
#: Seconds browsers and proxies may reuse a reply, by default.
DEFAULT_CACHE_MAX_AGE = 60
#: numpy/BLAS (and onnxruntime batch) threads :func:`serve` allows: concurrent requests, not
#: threads inside one request, use the cores (more threads per request fight for them).
DEFAULT_MATH_THREADS = 1
_WIDGET_MAX_AGE = 3600
_CORS_PREFLIGHT_MAX_AGE = 600
_THEME_ID_CHARS = 64

_API_KEY_HEADER = APIKeyHeader(
    name="X-API-Key", auto_error=False,
    description="The server's API key (or send `Authorization: Bearer KEY`).",
)
_ERRORS: dict[int | str, dict[str, Any]] = {
    404: {"model": ErrorOut, "description": "unknown article id"},
    422: {"model": ErrorOut, "description": "bad parameters"},
}
_WRITE_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ErrorOut, "description": "no API key sent"},
    403: {"model": ErrorOut, "description": "wrong API key, or writes are disabled"},
    413: {"model": ErrorOut, "description": "body or batch too large"},
    422: {"model": ErrorOut, "description": "bad articles"},
    503: {"model": ErrorOut, "description": "another process is writing to the store, or too many "
          "writes are waiting"},
}
_ARTICLES_BODY = Body(description="a JSON list of articles: id, text, title, url, published, ...")


@dataclass(frozen=True)
class _Settings:
    """What the routes need besides the service."""

    api_key: str | None
    max_k: int
    default_k: int
    max_query_chars: int
    max_batch: int
    cache_control: str


def create_app(
    store: Store | str | os.PathLike[str],
    *,
    api_key: str | None = None,
    cors_origins: Sequence[str] = (),
    max_k: int = DEFAULT_MAX_K,
    default_k: int = DEFAULT_K,
    max_query_chars: int = DEFAULT_MAX_QUERY_CHARS,
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES,
    max_batch: int = DEFAULT_MAX_BATCH,
    cache_size: int = DEFAULT_CACHE_SIZE,
    cache_max_age: int = DEFAULT_CACHE_MAX_AGE,
    warm: bool = True,
    math_threads: int | None = None,
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
        math_threads: Bound numpy's BLAS/OpenMP threads for the whole process (threadpoolctl)
            and the embedder's batch threads to this many; ``None`` (the default here) leaves
            them alone. :func:`serve` passes :data:`DEFAULT_MATH_THREADS`.

    Raises:
        StoreError: No store at the given folder.
        InvalidArgumentError: A limit out of range.
    """
    if max_k < 1 or not 1 <= default_k <= max_k:
        raise InvalidArgumentError(f"need 1 <= default_k <= max_k, got {default_k} and {max_k}")
    if max_query_chars < 1 or max_body_bytes < 1 or max_batch < 1:
        raise InvalidArgumentError("max_query_chars, max_body_bytes, max_batch must be >= 1")
    if math_threads is not None and math_threads < 1:
        raise InvalidArgumentError(f"math_threads must be at least 1 or None, got {math_threads}")
    owned = not isinstance(store, Store)
    the_store = store if isinstance(store, Store) else Store.open(store, create=False)
    key = (api_key if api_key is not None else os.environ.get(API_KEY_ENV)) or None  # "" is none
    service = Service(the_store, cache_size=cache_size)
    if math_threads is not None:
        _bound_math_threads(the_store, math_threads)
    if warm:
        the_store.embedder.embed(["semclust warm-up"])

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        yield
        service.close()
        if owned:
            the_store.close()

    app = FastAPI(
        title="semclust",
        summary="Related articles, semantic search and themes over a semclust store.",
        version=_version(), lifespan=lifespan, docs_url=None, redoc_url=None,
    )
    app.state.semclust = service
    _add_middleware(app, key, max_body_bytes, cors_origins)
    settings = _Settings(key, max_k, default_k, max_query_chars, max_batch,
                         f"public, max-age={cache_max_age}")
    add_error_handlers(app, service)
    _add_read_routes(app, service, settings)
    _add_write_routes(app, service, settings)
    _add_theme_routes(app, service, settings)
    _add_service_routes(app, service, settings)
    return app


def _add_middleware(app: FastAPI, key: str | None, max_body_bytes: int, cors_origins: Sequence[str]) -> None:
    app.add_middleware(RequestGuard, api_key=key, max_body_bytes=max_body_bytes)
    if cors_origins:  # outside the guard: preflights are answered before it
        app.add_middleware(
            CORSMiddleware, allow_origins=list(cors_origins),
            allow_methods=["GET", "POST", "DELETE"] if key else ["GET"],
            allow_headers=["Authorization", "Content-Type", "If-None-Match", "X-API-Key", "X-Request-ID"],
            expose_headers=["ETag", "X-Request-ID"], max_age=_CORS_PREFLIGHT_MAX_AGE,
        )


def _bound_math_threads(store: Store, threads: int) -> None:
    try:
        from threadpoolctl import threadpool_limits  # type: ignore[import-untyped]
    except ImportError:
        logger.warning("threadpoolctl is not installed, so numpy may start a thread per core for "
                       "every request: pip install 'semclust[serve]'")
    else:
        threadpool_limits(limits=threads)  # process-wide, until changed
    embedder = store.embedder
    current = getattr(embedder, "threads", None)
    if isinstance(current, int) and current > threads:
        embedder.threads = threads  # type: ignore[attr-defined]


def _check_id(doc_id: str) -> str:
    """The read side of the id rule (:func:`~semclust.server.models.id_problem`)."""
    problem = id_problem(doc_id)
    if problem is not None:
        raise ApiError(422, f"path parameter 'id': {problem}")
    return doc_id


def _filters(since: str | None, until: str | None, source: str | None) -> dict[str, Any]:
    given = {"since": since, "until": until, "source": source}
    return {name: value for name, value in given.items() if value}


def _etag(generation: int, *parts: Any) -> str:
    digest = hashlib.sha256(json.dumps([str(p) for p in parts]).encode("utf-8")).hexdigest()[:16]
    return f'"g{generation}-{digest}"'


def _not_modified(request: Request, etag: str) -> bool:
    header = request.headers.get("if-none-match")
    if not header:
        return False
    tags = {t.strip().removeprefix("W/") for t in header.split(",")}
    return "*" in tags or etag in tags


def _json(data: Any, headers: dict[str, str] | None = None) -> Response:
    return Response(dump_json(data), media_type="application/json", headers=headers)


def _add_read_routes(app: FastAPI, service: Service, settings: _Settings) -> None:
    cache_control = settings.cache_control

    def cached_json(request: Request, make: Callable[[int], tuple[int, bytes]], *parts: Any) -> Response:
        gen = service.generation()
        etag = _etag(gen, *parts)
        if _not_modified(request, etag):
            return Response(status_code=304, headers={"ETag": etag, "Cache-Control": cache_control})
        gen, body = make(gen)
        headers = {"ETag": _etag(gen, *parts), "Cache-Control": cache_control}
        return Response(body, media_type="application/json", headers=headers)

    k_query = Query(settings.default_k, ge=1, le=settings.max_k,
                    description=f"number of articles, 1 to {settings.max_k}")
    since_query = Query(None, max_length=MAX_PUBLISHED_CHARS, description="published on or after (ISO date)")
    until_query = Query(None, max_length=MAX_PUBLISHED_CHARS, description="published on or before (ISO date)")
    source_query = Query(None, max_length=MAX_SOURCE_CHARS, description="only articles from this source")
    id_path = PathParam(max_length=MAX_ID_CHARS, description="article id (may contain '/')")

    @app.get("/related/{doc_id:path}", response_model=HitsOut, responses=_ERRORS, tags=["read"])
    def related(
        request: Request, doc_id: str = id_path, k: int = k_query, since: str | None = since_query,
        until: str | None = until_query, source: str | None = source_query,
    ) -> Response:
        """Articles related to article ``doc_id``, best first (the ranking of ``Store.related``)."""
        doc_id = _check_id(doc_id)
        filters = _filters(since, until, source)
        parts = ("related", doc_id, k, sorted(filters.items()))
        return cached_json(request, lambda gen: service.related(doc_id, k, filters, gen), *parts)

    @app.get("/search", response_model=HitsOut, responses=_ERRORS, tags=["read"])
    def search(
        request: Request,
        q: str = Query(min_length=1, max_length=settings.max_query_chars, description="free text"),
        k: int = k_query, since: str | None = since_query, until: str | None = until_query,
        source: str | None = source_query,
    ) -> Response:
        """Articles that best match the query ``q``, best first."""
        filters = _filters(since, until, source)
        parts = ("search", q, k, sorted(filters.items()))
        return cached_json(request, lambda gen: service.search(q, k, filters, gen), *parts)

    @app.get("/documents/{doc_id:path}", response_model=DocumentOut, responses=_ERRORS, tags=["read"])
    def get_document(request: Request, doc_id: str = id_path) -> Response:
        """One stored article."""
        doc_id = _check_id(doc_id)
        return cached_json(request, lambda gen: service.document(doc_id, gen), "document", doc_id)


def _add_write_routes(app: FastAPI, service: Service, settings: _Settings) -> None:
    id_path = PathParam(max_length=MAX_ID_CHARS, description="article id (may contain '/')")
    max_batch = settings.max_batch

    @app.post("/documents", response_model=WriteOut, responses=_WRITE_ERRORS, tags=["write"],
              dependencies=[Security(_API_KEY_HEADER)])
    async def add_documents(articles: list[ArticleIn] = _ARTICLES_BODY) -> Response:
        """Add or update articles (an upsert by id). Needs the API key. Writes run one at a
        time on the service's writer thread; the reply comes once the write has committed.
        """
        if len(articles) > max_batch:
            raise ApiError(413, f"{len(articles)} articles in one request; the most is {max_batch}")
        records = [a.model_dump(exclude_none=True) for a in articles]
        reply = await asyncio.wrap_future(service.submit_write(lambda: service.add(records)))
        return _json(reply, {"Cache-Control": "no-store"})

    @app.delete("/documents/{doc_id:path}", response_model=WriteOut,
                responses=_WRITE_ERRORS | _ERRORS, tags=["write"],
                dependencies=[Security(_API_KEY_HEADER)])
    async def delete_document(doc_id: str = id_path) -> Response:
        """Delete one article. Needs the API key."""
        doc_id = _check_id(doc_id)
        reply = await asyncio.wrap_future(service.submit_write(lambda: service.delete(doc_id)))
        return _json(reply, {"Cache-Control": "no-store"})


def _add_theme_routes(app: FastAPI, service: Service, settings: _Settings) -> None:
    headers = {"Cache-Control": settings.cache_control}
    not_found: dict[int | str, dict[str, Any]] = {
        404: {"model": ErrorOut, "description": "no fitted themes, or no such theme"},
    }
    level_query = Query(
        None, description="level of the theme tree: broad, default (the level the themes were saved "
        "at; `themes` is its name), or fine",
    )

    @app.get("/themes", response_model=ThemesOut, responses=not_found | {422: _ERRORS[422]},
             tags=["read"])
    def themes(level: Literal["broad", "default", "themes", "fine"] | None = level_query) -> Response:
        """The store's saved themes at one level of their tree (default: the saved default
        level), each with its ``parent_id``, ``level`` and ``children`` ids: ``generation`` is
        the corpus generation they were fitted on, ``stale`` says whether the store changed
        since (they are never refitted here).
        """
        return _json(service.themes(level), headers)

    @app.get("/themes/{theme_id}", response_model=ThemeDetailOut, responses=not_found, tags=["read"])
    def theme(theme_id: str = PathParam(max_length=_THEME_ID_CHARS)) -> Response:
        """One theme of any level by id, with its parent and children."""
        return _json(service.theme(theme_id), headers)


def _add_service_routes(app: FastAPI, service: Service, settings: _Settings) -> None:
    widget = resources.files("semclust.server").joinpath("widget.js").read_bytes()
    widget_etag = '"' + hashlib.sha256(widget).hexdigest()[:16] + '"'
    store = service.store

    @app.get("/health", response_model=HealthOut, tags=["service"])
    def health() -> Response:
        """Liveness: article count, store generation, model and whether writes are enabled."""
        return _json({
            "status": "ok", "articles": len(store), "generation": service.generation(),
            "model": store.manifest["model"]["name"], "writes": settings.api_key is not None,
            "version": _version(),
        }, {"Cache-Control": "no-store"})

    @app.get("/widget.js", include_in_schema=False)
    def widget_js(request: Request) -> Response:
        headers = {"ETag": widget_etag, "Cache-Control": f"public, max-age={_WIDGET_MAX_AGE}"}
        if _not_modified(request, widget_etag):
            return Response(status_code=304, headers=headers)
        return Response(widget, media_type="text/javascript; charset=utf-8", headers=headers)

    add_docs_routes(app)


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
    math_threads: int | None = DEFAULT_MATH_THREADS,
    **options: Any,
) -> None:
    """Serve the store at ``store_path`` over HTTP with uvicorn until interrupted.

    This is a program's main function (``semclust serve``): it configures logging
    (:func:`~semclust.server.logs.log_config`), which the library itself never does.

    Args:
        store_path: Folder of an existing store.
        host: Address to bind; the default, loopback only, is reachable from this machine alone.
        port: TCP port.
        api_key: Key for ``POST``/``DELETE``; ``None`` reads ``$SEMCLUST_API_KEY``; with
            neither, writes are disabled.
        cors_origins: Browser origins allowed to call the API (none by default).
        log_level: One of :data:`LOG_LEVELS`; ``info`` logs every request with its id.
        math_threads: numpy/BLAS threads (see :func:`create_app`).
        **options: More :func:`create_app` options (``max_k``, ``max_body_bytes``, ...).
    """
    try:
        import uvicorn
    except ImportError as err:
        raise MissingDependencyError(f"{_INSTALL_HINT} ({err})") from err
    logging.config.dictConfig(log_config(log_level))
    app = create_app(store_path, api_key=api_key, cors_origins=cors_origins,
                     math_threads=math_threads, **options)
    if not is_loopback(host):
        logger.warning("serving on %s: reachable from other machines; put it behind TLS", host)
    uvicorn.run(app, host=host, port=port, log_config=None, log_level=log_level,
                access_log=False, server_header=False)
