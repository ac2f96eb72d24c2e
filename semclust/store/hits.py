"""Ranked ``(article key, score, chunk row)`` triples turned into :class:`~semclust.Hits`."""

from __future__ import annotations

from collections.abc import Sequence

from semclust._types import Hit, Hits
from semclust.errors import StoreFormatError
from semclust.store.catalog import Catalog
from semclust.vectors.snapshot import Snapshot

__all__ = ["build_hits", "row_article_ids"]

#: Decimals a hit's score is rounded to.
SCORE_DECIMALS = 6


def build_hits(
    catalog: Catalog, snap: Snapshot, ranked: Sequence[tuple[int, float, int]], query: str, kind: str
) -> Hits:
    """The hits of ``ranked`` (best first), each with its best chunk as the passage; call inside
    a consistent read. A snapshot or related list that names rows the catalog does not hold is
    a :class:`~semclust.errors.StoreFormatError` naming both files.
    """
    rows = catalog.by_seq([seq for seq, _, _ in ranked])
    chunk_ids = [int(snap.chunk_ids[r]) for _, _, r in ranked]
    spans = catalog.chunks_by_id(chunk_ids)
    missing = sorted({seq for seq, _, _ in ranked} - set(rows)) or sorted(set(chunk_ids) - set(spans))
    if missing:
        raise StoreFormatError(
            f"the vector snapshot {snap.path} or a related list names articles/chunks "
            f"({', '.join(map(str, missing[:5]))}) that {catalog.path} does not hold: the snapshot "
            "belongs to another store or the catalog is damaged; restore the store from a backup"
        )
    hits = []
    for (seq, score, _), cid in zip(ranked, chunk_ids):
        doc = rows[seq].doc
        _, _, start, end = spans[cid]
        hits.append(
            Hit(
                doc_id=doc.id,
                title=doc.title,
                score=round(score, SCORE_DECIMALS),
                passage=doc.text[start:end],
                start=start,
                end=end,
                url=doc.url,
                source=doc.source,
                published=doc.published,
                metadata=dict(doc.metadata),
            )
        )
    return Hits(hits, query=query, kind=kind, generation=snap.generation)


def row_article_ids(catalog: Catalog, snap: Snapshot) -> list[str]:
    """The article id of each row of ``snap`` (call inside a consistent read)."""
    ids = catalog.ids_by_seq(snap.seqs())
    try:
        return [ids[int(s)] for s in snap.doc_seqs.tolist()]
    except KeyError as err:
        raise StoreFormatError(
            f"the vector snapshot {snap.path} has rows of article key {err} that {catalog.path} does "
            "not hold: the snapshot belongs to another store or the catalog is damaged; restore the "
            "store from a backup"
        ) from None
