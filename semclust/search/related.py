"""Related-article lists, precomputed after each commit with one batched search.

A store keeps, for every article with vectors, its ``k`` most related articles by the default
``"chunks"`` similarity (see :mod:`semclust.search.ranking`), so ``Store.related`` and the HTTP
service answer from a table instead of searching. The lists are computed by
:func:`related_lists`: every chunk vector (and centroid) of the articles to refresh is sent to
the index in **one** batched search, the articles owning the neighbours become candidates, and
each candidate is scored exactly in one matrix product per article. The candidate rule is the
same as :func:`semclust.search.ranking.rank_related`'s, so a list equals what a live query returns.

A commit refreshes only the lists it can change: those of new or re-embedded articles, those
that list an article whose vectors went away, and those of the candidates met while computing
the new articles' lists (a new article can only enter the list of an article it is close to).
Everything else keeps its list.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np

from semclust.search.ranking import rank_related, segment_scores
from semclust.vectors.snapshot import Snapshot

__all__ = ["DEFAULT_RELATED_K", "RelatedList", "candidate_fetch", "related_lists"]

#: Related articles kept per article (0 turns precomputation off).
DEFAULT_RELATED_K = 20

#: ``(neighbour seqs, exact scores, best chunk rows)`` of one article, best first.
RelatedList = tuple[np.ndarray, np.ndarray, np.ndarray]


def candidate_fetch(k: int, total: int) -> int:
    """Neighbours fetched per query vector when looking for ``k`` related articles."""
    return min(total, max(4 * k, 50))


def related_lists(
    snap: Snapshot,
    seqs: Iterable[int],
    k: int = DEFAULT_RELATED_K,
    *,
    neighbours: set[int] | None = None,
) -> dict[int, RelatedList]:
    """The ``k`` most related articles of each article in ``seqs`` (articles without vectors
    are skipped), by the symmetric chunk similarity, with one batched index search.

    Args:
        snap: The vectors to search.
        seqs: Keys of the articles whose lists are wanted.
        k: Length of each list.
        neighbours: If given, every candidate article met is added to it (the articles whose
            own lists a change to ``seqs`` may affect).
    """
    wanted = [int(s) for s in seqs if len(snap.rows_of(int(s)))]
    out: dict[int, RelatedList] = {}
    if not wanted or k <= 0 or snap.size == 0:
        return out
    total = snap.size
    fetch = candidate_fetch(k, total)
    row_groups = [snap.rows_of(s) for s in wanted]
    lengths = np.array([len(r) for r in row_groups], dtype=np.int64)
    q_rows = np.concatenate(row_groups)
    chunk_q = np.asarray(snap.vectors[q_rows], dtype=np.float32)
    owner = np.repeat(np.arange(len(wanted)), lengths)
    cents = np.zeros((len(wanted), chunk_q.shape[1]), dtype=np.float32)
    np.add.at(cents, owner, chunk_q)
    cents /= np.maximum(np.linalg.norm(cents, axis=1, keepdims=True), 1e-12)
    _, nn = snap.search(np.vstack([chunk_q, cents]), fetch)
    nn_seqs = np.where(nn >= 0, snap.doc_seqs[np.maximum(nn, 0)], -1)
    offsets = np.concatenate([[0], np.cumsum(lengths)])
    n_chunk_q = len(chunk_q)
    for i, seq in enumerate(wanted):
        a_rows = slice(int(offsets[i]), int(offsets[i + 1]))
        found = np.concatenate([nn_seqs[a_rows].ravel(), nn_seqs[n_chunk_q + i]])
        cands = np.unique(found[(found >= 0) & (found != seq)])
        if neighbours is not None:
            neighbours.update(cands.tolist())
        if len(cands) < 2 * k and fetch < total:
            # Too few distinct neighbours (long articles): the live path widens its search.
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
