"""The service object the routes share: the store, the reply cache, the writer thread, themes.

Reads are consistent by construction: the store answers each query from one committed
generation and labels its :class:`~semclust.Hits` with it, and that generation labels the reply
and its ``ETag``. Writes (``POST``/``DELETE``) run one at a time on a single background thread,
so a commit never holds a request thread and readers keep being served while it runs.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import json
import logging
import os
import threading
from collections import OrderedDict
from collections.abc import Callable, Mapping
from pathlib import PurePosixPath, PureWindowsPath
from typing import Any, TypeVar

from semclust._types import AddReport, Hit, Hits
from semclust.errors import ApiError, EmptyStoreError, NotFoundError, SemclustError
from semclust.server.theme_replies import ThemeIndex, index_themes
from semclust.store.store import Store

__all__ = [
    "DEFAULT_CACHE_SIZE",
    "MAX_QUEUED_WRITES",
    "WRITER_NICENESS",
    "ReplyCache",
    "Service",
    "dump_json",
    "public_metadata",
]

logger = logging.getLogger(__name__)

#: Related-article replies kept in memory by default (per store generation).
DEFAULT_CACHE_SIZE = 4096
#: How much the writer thread lowers its CPU priority (Linux ``nice``), so reads go first.
WRITER_NICENESS = 2
#: Most writes waiting for the writer thread; one more is answered 503 (try again later).
MAX_QUEUED_WRITES = 64
#: The metadata field where readers record the file an article came from.
PATH_FIELD = "path"

_T = TypeVar("_T")


def dump_json(data: Any) -> bytes:
    """Compact UTF-8 JSON; NaN and infinity are refused (they are not JSON)."""
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8")


def _is_public_path(value: str) -> bool:
    """A relative path with no ``..`` (neither absolute on POSIX nor on Windows, nor ``~``)."""
    posix = PurePosixPath(value.replace("\\", "/"))
    return not (
        posix.is_absolute() or PureWindowsPath(value).is_absolute() or PureWindowsPath(value).drive
        or value.startswith("~") or ".." in posix.parts
    )


def public_metadata(metadata: Mapping[str, Any]) -> dict[str, Any]:
    """``metadata`` as it may leave the server: a ``path`` only when relative (never absolute)."""
    out = dict(metadata)
    path = out.get(PATH_FIELD)
    if path is not None and not (isinstance(path, str) and _is_public_path(path)):
        del out[PATH_FIELD]
    return out


def _hit_json(hit: Hit) -> dict[str, Any]:
    data = hit.to_dict()
    data["metadata"] = public_metadata(data["metadata"])
    return data


class ReplyCache:
    """A small thread-safe LRU of reply bodies keyed by ``(generation, key)``.

    Entries of older generations are dropped as soon as a newer generation is stored.
    """

    def __init__(self, size: int) -> None:
        self.size = size
        self.generation = -1
        self._data: OrderedDict[tuple[Any, ...], bytes] = OrderedDict()
        self._lock = threading.Lock()

    def get(self, generation: int, key: tuple[Any, ...]) -> bytes | None:
        """The body stored for ``key`` at ``generation``, or ``None``."""
        with self._lock:
            if generation != self.generation:
                return None
            value = self._data.get(key)
            if value is not None:
                self._data.move_to_end(key)
            return value

    def put(self, generation: int, key: tuple[Any, ...], value: bytes) -> None:
        """Keep ``value`` for ``key`` at ``generation`` (ignored for a superseded generation)."""
        if self.size <= 0:
            return
        with self._lock:
            if generation < self.generation:
                return
            if generation > self.generation:
                self._data.clear()
                self.generation = generation
            self._data[key] = value
            self._data.move_to_end(key)
            while len(self._data) > self.size:
                self._data.popitem(last=False)

    def __len__(self) -> int:
        return len(self._data)


def _lower_priority() -> None:
    """Lower the calling thread's CPU priority (Linux: ``nice`` is per thread); best effort."""
    with contextlib.suppress(AttributeError, OSError):  # not Linux, or not permitted
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), WRITER_NICENESS)


class Service:
    """What the routes share: the store, the reply cache, the writer thread and the themes."""

    def __init__(self, store: Store, *, cache_size: int = DEFAULT_CACHE_SIZE) -> None:
        self.store = store
        self.cache = ReplyCache(cache_size)
        self._path_text = str(store.path)
        self._themes: ThemeIndex | None = None
        self._themes_lock = threading.Lock()
        self._writer: concurrent.futures.ThreadPoolExecutor | None = None
        self._writer_lock = threading.Lock()
        self._queued_writes = 0

    def generation(self) -> int:
        """The store's committed generation now."""
        return self.store.generation

    def scrub(self, message: str) -> str:
        """Remove the store's folder from a message (clients need not learn server paths)."""
        return message.replace(self._path_text, "<store>")

    # -- writes -------------------------------------------------------------------------------

    def submit_write(self, write: Callable[[], _T]) -> concurrent.futures.Future[_T]:
        """Run ``write`` on the single writer thread (started on first use); writes queue up,
        at most :data:`MAX_QUEUED_WRITES` of them (503 beyond).
        """
        with self._writer_lock:
            if self._queued_writes >= MAX_QUEUED_WRITES:
                raise ApiError(503, f"{self._queued_writes} writes are already waiting; try again "
                               "shortly", {"Retry-After": "1"})
            if self._writer is None:
                self._writer = concurrent.futures.ThreadPoolExecutor(
                    max_workers=1, thread_name_prefix="semclust-writer", initializer=_lower_priority
                )
            self._queued_writes += 1
            future = self._writer.submit(write)
        future.add_done_callback(self._write_done)
        return future

    def _write_done(self, future: concurrent.futures.Future[Any]) -> None:
        with self._writer_lock:
            self._queued_writes -= 1

    def add(self, records: list[dict[str, Any]]) -> dict[str, Any]:
        """Add articles (on the writer thread; call through :meth:`submit_write`)."""
        return self._write_reply(self.store.add(records))

    def delete(self, doc_id: str) -> dict[str, Any]:
        """Delete an article (on the writer thread; call through :meth:`submit_write`)."""
        try:
            report = self.store.delete(doc_id)
        except NotFoundError:
            raise ApiError(404, f"no article with id {doc_id!r}") from None
        return self._write_reply(report)

    def _write_reply(self, report: AddReport) -> dict[str, Any]:
        return {**report.to_dict(), "generation": self.generation()}

    def close(self) -> None:
        """Let queued writes finish and stop the writer thread."""
        with self._writer_lock:
            writer, self._writer = self._writer, None
        if writer is not None:
            writer.shutdown(wait=True)

    # -- reads --------------------------------------------------------------------------------

    def related(self, doc_id: str, k: int, filters: dict[str, Any], gen: int) -> tuple[int, bytes]:
        """The reply for ``/related`` and its generation, from the cache when ``gen`` (read
        just before) has it.
        """
        key = ("related", doc_id, k, tuple(sorted(filters.items())))
        cached = self.cache.get(gen, key)
        if cached is not None:
            return gen, cached
        try:
            hits = self.store.related(doc_id, k, **filters)
        except EmptyStoreError:
            if doc_id not in self.store:
                raise ApiError(404, f"no article with id {doc_id!r}") from None
            hits = Hits([], query=doc_id, kind="related", generation=gen)
        except NotFoundError:
            raise ApiError(404, f"no article with id {doc_id!r}") from None
        gen = _generation_of(hits, gen)
        body = dump_json({"id": doc_id, "k": k, "generation": gen, "results": _hits_json(hits)})
        self.cache.put(gen, key, body)
        return gen, body

    def search(self, q: str, k: int, filters: dict[str, Any], gen: int) -> tuple[int, bytes]:
        """The reply for ``/search`` and its generation."""
        try:
            hits = self.store.search(q, k, **filters)
        except EmptyStoreError:
            hits = Hits([], query=q, kind="search", generation=gen)
        gen = _generation_of(hits, gen)
        return gen, dump_json({"query": q, "k": k, "generation": gen, "results": _hits_json(hits)})

    def document(self, doc_id: str, gen: int) -> tuple[int, bytes]:
        """The reply for ``/documents/{id}``, labelled with ``gen`` (read just before: a write
        that commits meanwhile makes the label older than the article, so a client revalidates
        rather than keeps a stale copy).
        """
        try:
            doc = self.store.get(doc_id)
        except NotFoundError:
            raise ApiError(404, f"no article with id {doc_id!r}") from None
        return gen, dump_json({
            "id": doc.id, "title": doc.title, "text": doc.text, "url": doc.url,
            "published": doc.published, "source": doc.source,
            "metadata": public_metadata(doc.metadata),
        })

    def theme_index(self) -> ThemeIndex:
        """The store's saved themes, every level of their tree indexed (:mod:`.theme_replies`),
        loaded once per store generation; never fitted here (a fit would stall requests for a
        UMAP run): a 404 says how to fit them.
        """
        try:
            from semclust.store import themes as store_themes
        except ImportError:
            raise ApiError(404, "themes are not available in this installation of semclust") from None
        store_gen = self.generation()
        with self._themes_lock:  # one load per store generation, however many requests
            if self._themes is None or self._themes.store_generation != store_gen:
                try:
                    fitted = store_themes.saved_themes(self.store)
                except SemclustError as err:
                    logger.info("no themes: %s", err)
                    fitted = None
                if not fitted:
                    raise ApiError(404, "this store has no fitted themes; fit them first "
                                   "(semclust themes --store DIR)")
                self._themes = index_themes(fitted, store_gen)
            return self._themes

    def themes(self, level: str | None = None) -> dict[str, Any]:
        """The reply of ``/themes``: the saved themes at ``level`` (``None``: the default one),
        each with ``parent_id``, ``level`` and ``children``, and the corpus ``generation`` they
        describe, the ``store_generation`` and ``stale``.
        """
        index = self.theme_index()
        with self._themes_lock:
            return index.level_reply(level)

    def theme(self, theme_id: str) -> dict[str, Any]:
        """The reply of ``/themes/{id}``: a theme of any level with its parent and children."""
        return self.theme_index().theme_reply(theme_id)


def _generation_of(hits: Hits, fallback: int) -> int:
    return hits.generation if hits.generation is not None else fallback


def _hits_json(hits: Hits) -> list[dict[str, Any]]:
    return [_hit_json(h) for h in hits]
