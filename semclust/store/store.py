"""The :class:`Store`: one folder that wires reading, chunking, embedding, storing and search.

Layout of a store folder::

    manifest.json        format version, model, chunking and index settings, library versions
    store.sqlite         documents, chunks, metadata and the committed generation (WAL mode)
    snapshots/<gen>/     vectors.npy, chunk_ids.npy, doc_seqs.npy, index.json, and index.faiss for
                         an approximate index (see semclust.vectors.snapshot)
    write.lock           held by the one process that may write

The store is a façade: the manifest is built and checked by :mod:`semclust.store.manifest`,
created crash-safely by :mod:`semclust.store.create`, every SQL statement lives in
:mod:`semclust.store.catalog`, filters are :mod:`semclust.store.filters`, consistent reads
:mod:`semclust.store.views`, writes :mod:`semclust.store.writer` (under
:mod:`semclust.store.lock`), hits :mod:`semclust.store.hits`, ranking and the related lists
:mod:`semclust.search`.

Every ``add``/``delete`` builds a new snapshot beside the current one, then commits the SQLite
rows together with the new generation number in one transaction. A crash or ``kill -9`` at any
moment leaves the store at its last committed state; leftovers are cleared by the next writer.
"""

from __future__ import annotations

import datetime as _dt
import os
import time
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semclust._types import AddReport, Document, Hits
from semclust.chunking import Chunk, ChunksFn
from semclust.embeddings import Embedder, get_embedder
from semclust.embeddings.base import check_vectors
from semclust.embeddings.cache import EmbeddingCache, open_cache
from semclust.errors import (
    EmptyInputError,
    InvalidArgumentError,
    NotFoundError,
)
from semclust.ingest.readers import Articles, read
from semclust.search.ranking import RelatedMethod, article_similarity
from semclust.search.related import DEFAULT_RELATED_K, ListsFn
from semclust.store.catalog import Catalog
from semclust.store.create import check_creatable, create_store, open_catalog
from semclust.store.filters import filter_condition
from semclust.store.hits import row_article_ids
from semclust.store.ids import looks_like_id
from semclust.store.lock import write_lock
from semclust.store.manifest import (
    MANIFEST_NAME,
    ChunkSettings,
    check_compatible,
    check_fingerprint,
    new_manifest,
    read_manifest,
)
from semclust.store.reads import (
    article_chunks,
    check_k,
    find_row,
    related_hits,
    search_hits,
    store_info,
    stored_vectors,
)
from semclust.store.views import SnapshotViews
from semclust.store.writer import (
    WriteTarget,
    apply_write,
    check_articles,
    check_deletable,
    collect_batch,
    embed_text,
)

if TYPE_CHECKING:
    from semclust.themes.result import ThemePrediction, Themes

__all__ = ["AddReport", "Store"]


class Store:
    """A persistent collection of articles with semantic search and related articles.

    Open one with :meth:`Store.open`; it is also a context manager. Reads are safe from several
    threads and processes; one process at a time may write (``add``/``delete``).
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        catalog: Catalog,
        embedder: Embedder | None,
        cache: EmbeddingCache | None,
        *,
        progress: bool,
        lock_timeout: float,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self.progress = progress
        self._catalog = catalog
        self._embedder = embedder
        self._cache = cache
        self._lock_timeout = lock_timeout
        self._chunking = ChunkSettings.of(manifest)
        self._views = SnapshotViews(path, self.dimension, catalog)
        self._checked_fingerprint = False

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        model: str | os.PathLike[str] | Embedder | None = None,
        backend: str | None = None,
        create: bool = True,
        index: str | None = None,
        index_threshold: int | None = None,
        ivf_threshold: int | None = None,
        related_k: int = DEFAULT_RELATED_K,
        max_tokens: int | None = None,
        overlap: int = 1,
        title_context: bool = True,
        language: str = "en",
        cache: bool | str | os.PathLike[str] | EmbeddingCache = True,
        progress: bool = False,
        lock_timeout: float = 0.0,
    ) -> Store:
        """Open the store folder at ``path``, creating it if missing (unless ``create=False``).

        Args:
            path: The store folder.
            model: Embedding model name, local path, or an :class:`Embedder`. A new store uses
                it (default: the bundled all-MiniLM-L6-v2); an existing store checks that it is
                the model the store was built with.
            backend: Embedding backend (``"onnx-int8"``, ``"onnx"``, ``"torch"``, ...). A new
                store defaults to ``"auto"`` (:func:`semclust.default_backend`); an
                existing store uses the backend it was built with, and naming another one is an
                :class:`~semclust.errors.EmbeddingMismatchError` (vectors are never mixed).
            create: Create the store if it does not exist.
            index: FAISS index factory string for a new store (default ``"auto"``: exact
                search while small, HNSW past ``index_threshold`` chunks; see
                :mod:`semclust.vectors.snapshot`).
            index_threshold: Chunks above which ``"auto"`` switches to HNSW (new store only).
            ivf_threshold: Chunks from which ``"auto"`` builds a compressed IVF index instead of
                HNSW (new store only; default :data:`semclust.vectors.ann.IVF_THRESHOLD`).
            related_k: Related articles precomputed per article after each commit, so
                ``related(doc_id, k)`` with ``k <= related_k`` and no filter is a table lookup
                (new store only; 0 turns it off).
            max_tokens: Chunk token budget (default: the model's limit).
            overlap: Sentences shared by consecutive chunks.
            title_context: Prepend the title to each chunk's embedded text.
            language: Sentence segmentation language.
            cache: ``True`` for the shared on-disk embedding cache, ``False`` for none, a path,
                or an :class:`~semclust.embeddings.cache.EmbeddingCache`.
            progress: Show progress bars on long work.
            lock_timeout: Seconds a write waits for another writer before
                :class:`~semclust.errors.StoreLockedError`.
        """
        root = Path(path).expanduser()
        embedder: Embedder | None = None
        created = False
        if not (root / MANIFEST_NAME).exists():
            check_creatable(root, create=create)
            embedder = get_embedder(model, backend=backend or "auto")
            manifest = new_manifest(
                embedder, index=index, index_threshold=index_threshold, ivf_threshold=ivf_threshold,
                related_k=related_k, max_tokens=max_tokens, overlap=overlap, title_context=title_context,
                language=language,
            )
            created = create_store(root, manifest)
        manifest = read_manifest(root / MANIFEST_NAME)
        if not created:  # an existing store (or one another process just created)
            embedder = check_compatible(manifest, root, model=model, backend=backend, index=index)
        store = cls(
            root, manifest, open_catalog(root), embedder, open_cache(cache),
            progress=progress, lock_timeout=lock_timeout,
        )
        store._views.latest()  # a missing or damaged snapshot fails here, not on the first query
        return store

    def close(self) -> None:
        """Close the database and cache connections."""
        self._catalog.close()
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, articles={len(self)}, model={self.manifest['model']['name']!r})"

    # -- state ------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use) the store was built with."""
        if self._embedder is None:
            m = self.manifest["model"]
            self._embedder = get_embedder(m["name"], backend=m["backend"])
        if not self._checked_fingerprint:
            check_fingerprint(self.manifest, self._embedder, self.path)
            self._checked_fingerprint = True
        return self._embedder

    @property
    def generation(self) -> int:
        """The committed generation; it changes with every ``add`` or ``delete`` that changes
        the store (later stages key their caches on it).
        """
        with self._catalog.read():
            return self._catalog.generation()

    @property
    def dimension(self) -> int:
        """Length of the store's vectors."""
        return int(self.manifest["model"]["dimension"])

    @property
    def related_k(self) -> int:
        """Related articles precomputed per article (0: none)."""
        return int(self.manifest.get("related", {}).get("k", DEFAULT_RELATED_K))

    def __len__(self) -> int:
        with self._catalog.read():
            return self._catalog.counts()["articles"]

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        with self._catalog.read():
            return doc_id in self._catalog.get_many([doc_id])

    def ids(self) -> list[str]:
        """All article ids, in the order they were first added."""
        with self._catalog.read():
            return self._catalog.doc_ids()

    def get(self, doc_id: str) -> Document:
        """The stored article ``doc_id``; :class:`~semclust.errors.NotFoundError` if unknown."""
        with self._catalog.read():
            return find_row(self._catalog, doc_id, self.path).doc

    def documents(self) -> list[Document]:
        """All stored articles, in insertion order."""
        with self._catalog.read():
            return [r.doc for r in self._catalog.iter_docs()]

    def duplicate_of(self, doc_id: str) -> str | None:
        """The id of the article whose text ``doc_id`` repeats, or ``None``."""
        with self._catalog.read():
            return find_row(self._catalog, doc_id, self.path).duplicate_of

    def info(self) -> dict[str, Any]:
        """Counts, model, chunking and index settings, as a JSON-serialisable dict."""
        return store_info(self._catalog, self._views, self.manifest, self.related_k)

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The chunks of article ``doc_id`` as stored (text, offsets, title context)."""
        return article_chunks(self._catalog, doc_id, self.path, title_context=self._chunking.title_context)

    def embeddings(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The chunk embedding matrix, for later stages that must not re-embed.

        Returns:
            ``(vectors, chunk_ids, doc_ids)``: an ``(n_chunks, dim)`` read-only float32 array
            (memory-mapped), the chunk id of each row, and the article id of each row.
        """
        with self._views.view() as snap:
            return snap.vectors, snap.chunk_ids, row_article_ids(self._catalog, snap)

    # -- writing ----------------------------------------------------------------------------

    def _write_target(self) -> WriteTarget:
        return WriteTarget(
            catalog=self._catalog,
            views=self._views,
            chunking=self._chunking,
            index_factory=str(self.manifest["index"]["factory"]),
            index_threshold=self.manifest["index"].get("threshold"),
            ivf_threshold=self.manifest["index"].get("ivf_threshold"),
            related_k=self.related_k,
            dimension=self.dimension,
            embedder=lambda: self.embedder,
            cache=self._cache,
        )

    def add(
        self,
        docs: Articles | Iterable[Document | Mapping[str, Any] | str] | str | os.PathLike[str],
        *,
        progress: bool | None = None,
        related_lists: ListsFn | None = None,
        chunks: ChunksFn | None = None,
    ) -> AddReport:
        """Add or update articles (an upsert by id) and commit atomically.

        Args:
            docs: What :func:`semclust.read` returns, an iterable of documents/dicts/strings,
                or a path to read.
            progress: Show progress bars (default: the store's setting).
            related_lists: Where the related lists of a whole store are computed (default: in
                this process; :func:`semclust.distributed.build` passes Ray workers). It must
                give the lists :func:`semclust.search.related.iter_related_lists` gives.
            chunks: Where the articles' chunks come from (default: chunked in this process;
                :func:`semclust.distributed.build` passes the chunks its workers made). It gives
                an article's chunks, as :func:`semclust.chunking.chunk_document` would with the
                store's settings, or ``None`` to chunk that article here.

        The same id again replaces the article (re-embedding only if its text or title
        changed); the same text under a new id is recorded as a duplicate of the first article
        and not indexed twice. An id given twice in one batch keeps its last record; the ids
        whose earlier records were so replaced are listed in ``report.replaced_in_batch``.
        Metadata must be JSON values (no NaN or Infinity), and a text at most
        :data:`semclust.ingest.limits.MAX_TEXT_CHARS` characters. Nothing is written if
        anything fails.
        """
        started = time.perf_counter()
        articles = docs if isinstance(docs, Articles) else read(docs)
        incoming, replaced = collect_batch(articles)
        report = AddReport(skipped=list(articles.skipped), replaced_in_batch=replaced)
        report.timings["read"] = time.perf_counter() - started
        if not incoming:
            raise EmptyInputError(
                "no articles to add" + (f" ({len(report.skipped)} skipped)" if report.skipped else "")
            )
        check_articles(incoming)
        with write_lock(self.path, self._lock_timeout):
            progress = self.progress if progress is None else progress
            target = self._write_target()
            target.related_lists = related_lists
            target.chunks = chunks
            apply_write(target, incoming, [], report, progress=progress)
        report.seconds = time.perf_counter() - started
        return report

    def delete(self, ids: str | Iterable[str]) -> AddReport:
        """Delete articles by id and commit atomically; unknown ids raise ``NotFoundError``
        and delete nothing. A duplicate of a deleted article takes its place.
        """
        started = time.perf_counter()
        wanted = [ids] if isinstance(ids, str) else list(dict.fromkeys(ids))
        report = AddReport()
        with write_lock(self.path, self._lock_timeout):
            check_deletable(self._catalog, wanted, self.path)
            apply_write(self._write_target(), {}, wanted, report, progress=self.progress)
        report.seconds = time.perf_counter() - started
        return report

    # -- querying ---------------------------------------------------------------------------

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filters: Mapping[str, Any] | None = None,
        since: str | _dt.date | None = None,
        until: str | _dt.date | None = None,
        **field_filters: Any,
    ) -> Hits:
        """The ``k`` articles that best match ``query``, best first.

        Args:
            query: Free text.
            k: Number of articles wanted (at least 1).
            filters: Metadata filters (see :func:`semclust.store.filters.build_filter`), applied
                before ranking.
            since: Only articles published on or after this ISO date.
            until: Only articles published on or before this ISO date.
            **field_filters: More filters as keywords, e.g. ``source="Reuters"``.

        Returns:
            :class:`Hits`, one per article: score of its best chunk and that chunk as passage.
        """
        check_k(k)
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("the query is empty; give some text to search for")
        condition = filter_condition(filters, field_filters, since, until)
        qvec = check_vectors(self.embedder, [query], self.embedder.embed([query]))[0]
        return search_hits(self._catalog, self._views, qvec, k, condition, query)

    def related(
        self,
        doc_id: str,
        k: int = 10,
        *,
        method: RelatedMethod = "chunks",
        filters: Mapping[str, Any] | None = None,
        since: str | _dt.date | None = None,
        until: str | _dt.date | None = None,
        **field_filters: Any,
    ) -> Hits:
        """The ``k`` articles most similar to article ``doc_id``, excluding it and its duplicates.

        Args:
            doc_id: A stored article's id.
            k: Number of articles wanted.
            method: ``"chunks"`` (compare chunk by chunk) or ``"centroid"`` (mean vectors).
            filters, since, until, field_filters: As for :meth:`search`.
        """
        check_k(k)
        condition = filter_condition(filters, field_filters, since, until)
        return related_hits(
            self._catalog, self._views, doc_id, k, method=method, condition=condition,
            related_k=self.related_k,
        )

    def similarity(
        self, a: str, b: str | None = None, *, text: str | None = None, method: RelatedMethod = "chunks"
    ) -> float:
        """Cosine similarity of article or text ``a`` with article or text ``b``, or with
        ``text`` (always read as a text).

        ``a`` and ``b`` are read as by :meth:`article_vectors`: a stored article's id, else a
        text; a string with no whitespace (``"no-such-id"``) must be a stored id
        (:class:`~semclust.errors.NotFoundError` otherwise), so a mistyped id is never scored
        as text. Give a one-word text as ``text=``.
        """
        if (b is None) == (text is None):
            raise InvalidArgumentError("give one of b (an article id or a text) or text=")
        other = self.article_vectors(b) if b is not None else self.article_vectors(text=text)
        return article_similarity(self.article_vectors(a), other, method)

    def article_vectors(self, item: str | None = None, *, text: str | None = None) -> np.ndarray:
        """The chunk vectors of a stored article, or of a text chunked and embedded like an
        article (through the embedding cache).

        Args:
            item: A stored article's id (a duplicate gives its canonical's vectors), or a text
                with whitespace in it. A string with no whitespace is an id: an unknown one is a
                :class:`~semclust.errors.NotFoundError`, never silently embedded as text.
            text: A text, never looked up as an id.
        """
        if (item is None) == (text is None):
            raise InvalidArgumentError("give one of item (an article id) or text=")
        value = item if item is not None else text
        if not isinstance(value, str) or not value.strip():
            raise InvalidArgumentError("expected an article id or a non-empty text")
        if item is not None:
            vectors = stored_vectors(self._catalog, self._views, item)
            if vectors is not None:
                return vectors
            if looks_like_id(item):
                raise NotFoundError(
                    f"no article with id {item!r} in store {self.path}; a string without spaces is read "
                    f"as an id. To score it as text, pass text={item!r}"
                )
        return embed_text(self.embedder, self._chunking, self._cache, value)

    # -- themes -----------------------------------------------------------------------------

    def themes(
        self,
        *,
        refit: bool = False,
        progress: bool | None = None,
        level: str | int | None = None,
        **params: Any,
    ) -> Themes:
        """The store's themes: fitted on its article vectors the first time, then loaded from
        the store until the corpus changes (a refit keeps theme ids stable at every level).
        ``level``: ``None``/``"themes"`` (the default level, chosen from the data), ``"broad"``,
        ``"fine"`` or a number of themes (see :meth:`Themes.level`). ``params`` go to
        :class:`semclust.themes.model.ThemeModel`. Needs ``pip install 'semclust[themes]'``.
        """
        from semclust.store.themes import store_themes

        return store_themes(
            self, refit=refit, progress=self.progress if progress is None else progress, level=level, **params
        )

    def theme_of(
        self, text_or_doc_id: str | None = None, *, text: str | None = None, **kwargs: Any
    ) -> ThemePrediction:
        """The theme(s) of a stored article (by id) or of a new text (``text=``), or "no theme"
        when it is far from all of them; consistent with the fit. Ids and texts are read as
        :meth:`article_vectors` reads them: a string without white space that is not a stored
        id is a :class:`~semclust.errors.NotFoundError`. Saved themes are used as they are
        (never refitted here, so no UMAP runs); themes are fitted only if the store has none yet.
        """
        from semclust.store.themes import theme_of

        return theme_of(self, text_or_doc_id, text=text, **kwargs)
