"""A store's queries, each inside one consistent read: rows by id, search, related articles,
stored vectors, chunks and the ``info`` summary.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from semclust._types import Hits
from semclust.chunking import Chunk
from semclust.errors import EmptyStoreError, InvalidArgumentError, NotFoundError
from semclust.search.ranking import RelatedMethod, rank_articles, rank_related
from semclust.search.related import listed_related
from semclust.store.catalog import Catalog, DocRow
from semclust.store.filters import Condition
from semclust.store.hits import build_hits
from semclust.store.views import SnapshotViews
from semclust.vectors.snapshot import Snapshot

__all__ = [
    "article_chunks",
    "check_k",
    "find_row",
    "related_hits",
    "search_hits",
    "store_info",
    "stored_vectors",
]

#: The ``method`` values of ``related`` and ``similarity``.
METHODS = ("chunks", "centroid")


def check_k(k: object) -> None:
    """Raise :class:`~semclust.errors.InvalidArgumentError` unless ``k`` is a whole number >= 1."""
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k must be a whole number of at least 1, got {k!r}")


def find_row(catalog: Catalog, doc_id: str, root: Path, *, canonical: bool = False) -> DocRow:
    """The row of ``doc_id`` (with ``canonical``, of the article it duplicates, if any); an
    unknown id is a :class:`~semclust.errors.NotFoundError`. Call inside a read.
    """
    row = catalog.get_many([doc_id]).get(doc_id)
    if row is None:
        raise NotFoundError(f"no article with id {doc_id!r} in store {root}")
    if canonical and row.duplicate_of is not None:
        return find_row(catalog, row.duplicate_of, root)
    return row


def _check_nonempty(snap: Snapshot, root: Path) -> None:
    if snap.size == 0:
        raise EmptyStoreError(
            f"store {root} has no articles yet; add some first (semclust index PATH --store DIR)"
        )


def _allowed_rows(catalog: Catalog, snap: Snapshot, condition: Condition | None) -> np.ndarray | None:
    if condition is None:
        return None
    return snap.rows_for_seqs(catalog.filtered_seqs(condition))


def search_hits(
    catalog: Catalog, views: SnapshotViews, query_vector: np.ndarray, k: int, condition: Condition | None,
    query: str,
) -> Hits:
    """The ``k`` articles best matching ``query_vector`` among those ``condition`` allows."""
    with views.view() as snap:
        _check_nonempty(snap, views.root.parent)
        ranked = rank_articles(snap, query_vector, k, _allowed_rows(catalog, snap, condition))
        return build_hits(catalog, snap, ranked, query, "search")


def related_hits(
    catalog: Catalog, views: SnapshotViews, doc_id: str, k: int, *, method: RelatedMethod,
    condition: Condition | None, related_k: int,
) -> Hits:
    """The ``k`` articles most similar to ``doc_id`` (from its stored list when it can answer)."""
    if method not in METHODS:
        raise InvalidArgumentError(f"method must be 'chunks' or 'centroid', got {method!r}")
    root = views.root.parent
    with views.view() as snap:
        _check_nonempty(snap, root)
        canonical = find_row(catalog, doc_id, root, canonical=True)
        if method == "chunks" and condition is None:
            listed = listed_related(snap, canonical.seq, k, related_k, catalog)
            if listed is not None:
                return build_hits(catalog, snap, listed, doc_id, "related")
        vectors = np.asarray(snap.vectors[snap.rows_of(canonical.seq)])
        ranked = rank_related(
            snap, vectors, k, exclude=frozenset({canonical.seq}),
            allowed_rows=_allowed_rows(catalog, snap, condition), method=method,
        )
        return build_hits(catalog, snap, ranked, doc_id, "related")


def stored_vectors(catalog: Catalog, views: SnapshotViews, doc_id: str) -> np.ndarray | None:
    """The chunk vectors of stored article ``doc_id`` (a duplicate's are its canonical's), or
    ``None`` when the store has no such article.
    """
    with views.view() as snap:
        if doc_id not in catalog.get_many([doc_id]):
            return None
        row = find_row(catalog, doc_id, views.root.parent, canonical=True)
        return np.asarray(snap.vectors[snap.rows_of(row.seq)])


def article_chunks(catalog: Catalog, doc_id: str, root: Path, *, title_context: bool) -> list[Chunk]:
    """The chunks of article ``doc_id`` as stored (a duplicate's are its canonical's)."""
    with catalog.read():
        row = find_row(catalog, doc_id, root, canonical=True)
        spans = catalog.chunk_spans([row.seq])
    doc = row.doc
    return [
        Chunk(doc_id, idx, doc.text[s:e], s, e, doc.title, title_context and bool(doc.title))
        for _, (idx, s, e) in sorted(spans.items())
    ]


def store_info(
    catalog: Catalog, views: SnapshotViews, manifest: dict[str, Any], related_k: int
) -> dict[str, Any]:
    """Counts, model, chunking and index settings of a store, as a JSON-serialisable dict."""
    root = views.root.parent
    with views.view() as snap:
        counts = catalog.counts()
        gen = catalog.generation()
        index_state = snap.index_info
    size = sum(f.stat().st_size for f in root.rglob("*") if f.is_file())
    return {
        "path": str(root),
        **counts,
        "generation": gen,
        "model": manifest["model"],
        "chunking": manifest["chunking"],
        "index": manifest["index"],
        "index_state": index_state,
        "related": {"k": related_k, "method": "chunks"},
        "format_version": manifest["format_version"],
        "versions": manifest["versions"],
        "bytes_on_disk": size,
    }
