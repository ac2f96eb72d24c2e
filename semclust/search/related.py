"""Related-article lists, precomputed after each commit with batched searches.

A store keeps, for every article with vectors, its ``k`` most related articles by the default
``"chunks"`` similarity (see :mod:`semclust.search.ranking`), so ``Store.related`` and the HTTP
service answer from a table instead of searching. The lists are computed by
:func:`related_lists`: every chunk vector (and centroid) of the articles to refresh is sent to
the index in one batched search per :data:`RELATED_BLOCK` articles (written to the table block
by block, so memory stays bounded), the articles owning the neighbours become candidates, and
each candidate is scored exactly in one matrix product per article. The candidate rule is the
same as :func:`semclust.search.ranking.rank_related`'s, so a list equals what a live query returns.

A commit refreshes only the lists it can change: those of new or re-embedded articles, those
that list an article whose vectors went away, and those of the candidates met while computing
the new articles' lists (a new article can only enter the list of an article it is close to).
Everything else keeps its list.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Protocol

import numpy as np

from semclust.search.ranking import (
    OWN_ROWS_TRIM,
    candidate_fetch,
    drop_own_rows,
    other_rows,
    rank_related,
    segment_scores,
)
from semclust.vectors.snapshot import Snapshot

__all__ = [
    "DEFAULT_RELATED_K",
    "RELATED_BLOCK",
    "RELATED_K_STATE",
    "ListsFn",
    "RelatedList",
    "RelatedTable",
    "candidate_fetch",
    "iter_related_lists",
    "listed_related",
    "related_blocks",
    "related_lists",
    "update_related",
]

#: Related articles kept per article (0 turns precomputation off).
DEFAULT_RELATED_K = 20

#: ``(neighbour seqs, exact scores, best chunk rows)`` of one article, best first.
RelatedList = tuple[np.ndarray, np.ndarray, np.ndarray]

#: Computes lists as :func:`iter_related_lists` does, ``(snapshot, seqs, k)`` -> blocks in
#: order: another process's or machine's way of computing them (``semclust.distributed`` runs
#: the blocks on Ray) must give the same lists.
ListsFn = Callable[[Snapshot, Sequence[int], int], Iterator[dict[int, RelatedList]]]

#: The state key recording the list length the stored lists were computed for.
RELATED_K_STATE = "related_k"

#: Articles whose lists are computed in one batched search. The search's candidate matrices
#: grow with its queries (about 3.5 KB per query vector: scores and rows of ``2 * (4k + 64)``
#: candidates before re-ranking), so a store of 1M chunks searched at once would hold about
#: 5 GB of them; in blocks of this many articles it holds tens of MB, and each block's lists
#: are written before the next is computed.
RELATED_BLOCK = 4096


class RelatedTable(Protocol):
    """Where the lists are kept (a store's catalog is one); called inside its write or read."""

    def state(self, key: str, default: str | None = None) -> str | None:
        """A recorded value."""

    def set_state(self, key: str, value: str | int) -> None:
        """Record a value."""

    def listing(self, seqs: Iterable[int]) -> set[int]:
        """Articles whose list names any of ``seqs``."""

    def related_of(self, seq: int, k: int) -> list[tuple[int, float, int]]:
        """``seq``'s stored list as ``(seq, score, chunk_id)``, best first."""

    def replace_related(
        self, drop: Iterable[int], lists: Mapping[int, tuple[Sequence[int], Sequence[float], Sequence[int]]]
    ) -> None:
        """Delete the lists of ``drop`` and of ``lists``' keys, then store ``lists``."""

    def clear_related(self) -> None:
        """Delete every list."""


def _neighbour_rows(
    snap: Snapshot,
    groups: list[np.ndarray],
    queries: np.ndarray,
    owner: np.ndarray,
    n_chunk_q: int,
    fetch: int,
) -> list[np.ndarray]:
    """For each article (its rows in ``groups``), the rows its queries (chunks, then centroid)
    find among the other articles, exactly as :func:`~semclust.search.ranking.rank_related`
    finds them: short articles in one batched search, long ones one at a time.
    """
    short = np.array([len(g) <= OWN_ROWS_TRIM for g in groups])
    q_short = np.concatenate([short[owner], short])
    batch = np.zeros((0, 0), dtype=np.int64)
    if q_short.any():
        _, rows = snap.search(queries[q_short], fetch + OWN_ROWS_TRIM)
        batch = np.full((len(queries), rows.shape[1]), -1, dtype=np.int64)
        batch[q_short] = rows
    offsets = np.concatenate([[0], np.cumsum([len(g) for g in groups])])
    out = []
    for i, own in enumerate(groups):
        picks = np.r_[offsets[i] : offsets[i + 1], n_chunk_q + i]
        if short[i]:
            out.append(drop_own_rows(batch[picks], own, fetch))
        else:
            out.append(other_rows(snap, queries[picks], fetch, own))
    return out


def related_lists(
    snap: Snapshot,
    seqs: Iterable[int],
    k: int = DEFAULT_RELATED_K,
    *,
    neighbours: set[int] | None = None,
) -> dict[int, RelatedList]:
    """The ``k`` most related articles of each article in ``seqs`` (articles without vectors
    are skipped), by the symmetric chunk similarity, with batched index searches (one per
    :data:`RELATED_BLOCK` articles).

    Args:
        snap: The vectors to search.
        seqs: Keys of the articles whose lists are wanted.
        k: Length of each list.
        neighbours: If given, every candidate article met is added to it (the articles whose
            own lists a change to ``seqs`` may affect).
    """
    out: dict[int, RelatedList] = {}
    for block in iter_related_lists(snap, seqs, k, neighbours=neighbours):
        out.update(block)
    return out


def iter_related_lists(
    snap: Snapshot,
    seqs: Iterable[int],
    k: int = DEFAULT_RELATED_K,
    *,
    neighbours: set[int] | None = None,
    block: int | None = None,
) -> Iterator[dict[int, RelatedList]]:
    """:func:`related_lists` a block of at most ``block`` articles (default
    :data:`RELATED_BLOCK`) at a time, in the order of ``seqs``; each article's list is the
    same whatever the blocks.
    """
    if k <= 0:
        return
    for part in related_blocks(snap, seqs, block):
        yield _block_lists(snap, part, k, neighbours)


def related_blocks(snap: Snapshot, seqs: Iterable[int], block: int | None = None) -> list[list[int]]:
    """The articles of ``seqs`` that have vectors in ``snap``, in order, cut into blocks of at
    most ``block`` (default :data:`RELATED_BLOCK`): the blocks every way of computing the lists
    uses, so that each gives the same lists.
    """
    wanted = [int(s) for s in seqs if len(snap.rows_of(int(s)))]
    size = max(1, RELATED_BLOCK if block is None else block)
    return [wanted[start : start + size] for start in range(0, len(wanted), size)]


def _block_lists(
    snap: Snapshot, wanted: list[int], k: int, neighbours: set[int] | None
) -> dict[int, RelatedList]:
    """The lists of ``wanted`` (articles with vectors), with one batched index search."""
    out: dict[int, RelatedList] = {}
    row_groups = [snap.rows_of(s) for s in wanted]
    lengths = np.array([len(r) for r in row_groups], dtype=np.int64)
    chunk_q = np.asarray(snap.vectors[np.concatenate(row_groups)], dtype=np.float32)
    owner = np.repeat(np.arange(len(wanted)), lengths)
    cents = np.zeros((len(wanted), chunk_q.shape[1]), dtype=np.float32)
    np.add.at(cents, owner, chunk_q)
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    fetch = candidate_fetch(k, snap.size)
    found = _neighbour_rows(snap, row_groups, np.vstack([chunk_q, cents]), owner, len(chunk_q), fetch)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    for i, seq in enumerate(wanted):
        a_rows = slice(int(offsets[i]), int(offsets[i + 1]))
        rows = found[i].ravel()
        cands = np.unique(snap.doc_seqs[rows[rows >= 0]])
        cands = cands[cands != seq]
        if neighbours is not None:
            neighbours.update(cands.tolist())
        if len(cands) < 2 * k and fetch < snap.size - lengths[i]:
            # Too few distinct neighbours: the live path widens its search.
            ranked = rank_related(snap, chunk_q[a_rows], k, exclude=frozenset({seq}))
            out[seq] = (
                np.array([r[0] for r in ranked], dtype=np.int64),
                np.array([r[1] for r in ranked], dtype=np.float64),
                np.array([r[2] for r in ranked], dtype=np.int64),
            )
            continue
        if len(cands) == 0:
            out[seq] = (np.zeros(0, np.int64), np.zeros(0, np.float64), np.zeros(0, np.int64))
            continue
        groups = [snap.rows_of(int(c)) for c in cands]
        sizes = np.array([len(g) for g in groups], dtype=np.int64)
        b_rows = np.concatenate(groups)
        starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
        scores, best = segment_scores(chunk_q[a_rows], np.asarray(snap.vectors[b_rows]), starts)
        order = np.lexsort((cands, -scores))[:k]  # best first, ties by key as rank_related
        out[seq] = (cands[order].astype(np.int64), scores[order], b_rows[best[order]].astype(np.int64))
    return out


def update_related(
    snap: Snapshot, changed: set[int], removed: set[int], k: int, table: RelatedTable,
    compute: ListsFn | None = None,
) -> None:
    """Refresh the stored lists that a commit of ``snap`` can change (call inside the write).

    Args:
        snap: The new snapshot.
        changed: Keys of the articles whose vectors are new in ``snap``.
        removed: Keys of the articles whose vectors went away.
        k: List length (0: keep no lists).
        table: Where the lists are stored.
        compute: Computes the lists of a whole store and of the stale ones (default: here,
            :func:`iter_related_lists`); the new articles' own lists, which also collect their
            neighbours, are always computed here.
    """
    if k <= 0:
        return
    articles = snap.seqs()

    def store(blocks: Iterable[dict[int, RelatedList]], drop: set[int]) -> None:
        for lists in blocks:  # written block by block: the lists never all sit in memory
            rows = {seq: (o.tolist(), s.tolist(), snap.chunk_ids[r].tolist())
                    for seq, (o, s, r) in lists.items()}
            table.replace_related(drop, rows)
            drop = set()
        if drop:
            table.replace_related(drop, {})

    def lists_of(seqs: Sequence[int]) -> Iterator[dict[int, RelatedList]]:
        return compute(snap, seqs, k) if compute is not None else iter_related_lists(snap, seqs, k)

    if table.state(RELATED_K_STATE) != str(k) or len(changed) > len(articles) // 2:
        table.clear_related()
        store(lists_of(articles), set())
    else:
        near: set[int] = set()
        listing = table.listing(removed | changed)  # read before the new lists are written
        store(iter_related_lists(snap, changed, k, neighbours=near), removed | changed)
        stale = (near | listing) - changed - removed
        store(lists_of(sorted(stale)), set())
    table.set_state(RELATED_K_STATE, k)


def listed_related(
    snap: Snapshot, seq: int, k: int, stored_k: int, table: RelatedTable
) -> list[tuple[int, float, int]] | None:
    """``seq``'s stored list as ``(seq, score, row)``, or ``None`` when it cannot answer ``k``
    (``k`` above the stored length ``stored_k``, lists of another length, or none stored).
    """
    if k > stored_k or table.state(RELATED_K_STATE) != str(stored_k):
        return None
    listed = table.related_of(seq, k)
    if not listed:
        return None
    cids = np.array([c for _, _, c in listed], dtype=np.int64)
    rows = np.minimum(np.searchsorted(snap.chunk_ids, cids), snap.size - 1)
    if not np.array_equal(snap.chunk_ids[rows], cids):
        return None  # not this snapshot's chunks (should not happen): answer live
    return [(o, s, int(r)) for (o, s, _), r in zip(listed, rows.tolist())]
