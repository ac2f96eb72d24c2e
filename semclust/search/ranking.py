"""Ranking: chunk hits aggregated to articles, and article-to-article similarity.

* ``search``: the query vector is matched against chunk vectors; each article scores its best
  chunk, which is returned as the passage. Candidates are fetched in growing rounds until ``k``
  distinct articles are found (or the candidates run out), so filtered queries and articles
  with many chunks still give ``k`` results when ``k`` exist.
* ``related`` and ``similarity``: two articles are compared by their chunk vectors. The default
  ``"chunks"`` method is the symmetric mean of best matches (each chunk of A finds its closest
  chunk in B and vice versa; the two means are averaged), so a long article that shares one
  topic with a short one is not rewarded for its other topics. ``"centroid"`` compares the
  normalised mean chunk vectors.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from semclust.vectors.snapshot import Snapshot

__all__ = [
    "OWN_ROWS_TRIM",
    "SCORE_BLOCK_ELEMENTS",
    "RelatedMethod",
    "article_similarity",
    "candidate_fetch",
    "drop_own_rows",
    "other_rows",
    "rank_articles",
    "rank_related",
    "segment_scores",
]

RelatedMethod = Literal["chunks", "centroid"]

#: An article with at most this many chunks looks for its candidates by asking the index for
#: this many more neighbours per query and dropping its own rows; a longer one searches only the
#: other articles' rows. Either way its own chunks never crowd out the candidates, so finding
#: them costs time linear in the article's chunks (not quadratic, as when its own chunks filled
#: the neighbour lists and the search widened to the whole store).
OWN_ROWS_TRIM = 64

#: Elements of the largest similarity block :func:`segment_scores` holds at once.
SCORE_BLOCK_ELEMENTS = 1 << 24


def candidate_fetch(k: int, total: int) -> int:
    """Neighbours fetched per query vector when looking for ``k`` related articles."""
    return min(total, max(4 * k, 50))


def drop_own_rows(rows: np.ndarray, own: np.ndarray, fetch: int) -> np.ndarray:
    """``rows`` (per query, best first, ``-1`` for none) without the rows in ``own``, cut to
    ``fetch`` per query, order kept.
    """
    rows = np.where(np.isin(rows, own), -1, rows)
    order = np.argsort(rows < 0, axis=1, kind="stable")  # found rows first, in their order
    return np.take_along_axis(rows, order, axis=1)[:, :fetch]


def other_rows(
    snap: Snapshot, queries: np.ndarray, fetch: int, own: np.ndarray, allowed_rows: np.ndarray | None = None
) -> np.ndarray:
    """The ``fetch`` nearest rows of each query among the rows not in ``own`` (and in
    ``allowed_rows``), best first, ``-1`` padded; see :data:`OWN_ROWS_TRIM`.
    """
    if len(own) <= OWN_ROWS_TRIM:
        _, rows = snap.search(queries, fetch + OWN_ROWS_TRIM, allowed_rows)
        return drop_own_rows(rows, own, fetch)
    base = np.arange(snap.size, dtype=np.int64) if allowed_rows is None else allowed_rows
    _, rows = snap.search(queries, fetch, base[~np.isin(base, own)])
    return rows


def article_similarity(a: np.ndarray, b: np.ndarray, method: RelatedMethod = "chunks") -> float:
    """Similarity of two articles given their chunk vectors (rows, unit length)."""
    if len(a) == 0 or len(b) == 0:
        return 0.0
    if method == "centroid":
        ca, cb = a.mean(axis=0), b.mean(axis=0)
        denom = float(np.linalg.norm(ca) * np.linalg.norm(cb))
        return float(ca @ cb / denom) if denom > 0 else 0.0
    sims = a @ b.T
    return float(0.5 * (sims.max(axis=1).mean() + sims.max(axis=0).mean()))


def segment_scores(a: np.ndarray, b: np.ndarray, starts: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Symmetric best-match scores of ``a`` against each segment of ``b``, and for each segment
    the index (into ``b``) of its row closest to any row of ``a``. Works on blocks of ``a``'s
    rows, so memory stays bounded for long articles.
    """
    counts = np.diff(np.append(starts, len(b)))
    step = max(1, SCORE_BLOCK_ELEMENTS // max(1, len(b)))
    col_best = np.full(len(b), -np.inf, dtype=np.float32)
    row_sum = np.zeros(len(starts), dtype=np.float64)
    for i in range(0, len(a), step):
        sims = a[i : i + step] @ b.T  # (block, len(b))
        np.maximum(col_best, sims.max(axis=0), out=col_best)  # each candidate chunk's best match in a
        row_sum += np.maximum.reduceat(sims, starts, axis=1).sum(axis=0)
    col_mean = np.add.reduceat(col_best, starts) / counts
    row_mean = row_sum / len(a)
    scores = 0.5 * (row_mean + col_mean)
    # Best row per segment: argmax of col_best within each segment.
    seg = np.repeat(np.arange(len(starts)), counts)
    order = np.lexsort((-col_best, seg))  # by segment, best first
    best = order[starts]
    return scores.astype(np.float64), best


def rank_articles(
    snap: Snapshot,
    query: np.ndarray,
    k: int,
    allowed_rows: np.ndarray | None = None,
    exclude: frozenset[int] = frozenset(),
) -> list[tuple[int, float, int]]:
    """Top-``k`` articles for one query vector as ``(doc_seq, score, best_row)``, best first."""
    total = snap.size if allowed_rows is None else len(allowed_rows)
    if total == 0:
        return []
    fetch = min(total, max(4 * k, 32))
    q = query.reshape(1, -1)
    while True:
        scores, rows = snap.search(q, fetch, allowed_rows)
        best: dict[int, tuple[float, int]] = {}
        for s, r in zip(scores[0].tolist(), rows[0].tolist()):
            if r < 0:
                continue
            seq = int(snap.doc_seqs[r])
            if seq in exclude:
                continue
            if seq not in best or s > best[seq][0]:
                best[seq] = (s, r)
        if len(best) >= k or fetch >= total:
            break
        fetch = min(total, fetch * 4)
    ranked = sorted(best.items(), key=lambda kv: (-kv[1][0], kv[0]))[:k]
    return [(seq, float(s), int(r)) for seq, (s, r) in ranked]


def rank_related(
    snap: Snapshot,
    vectors: np.ndarray,
    k: int,
    *,
    exclude: frozenset[int],
    allowed_rows: np.ndarray | None = None,
    method: RelatedMethod = "chunks",
) -> list[tuple[int, float, int]]:
    """Articles most similar to an article with chunk ``vectors``, as ``(seq, score, row)``.

    Candidates are the articles owning the nearest chunks of other articles (not in
    ``exclude``) to each of its chunks and to its centroid (:func:`other_rows`); they are then
    scored exactly with :func:`article_similarity`. ``row`` is the candidate's chunk closest to
    any of the article's chunks (the passage to show).
    """
    if len(vectors) == 0:
        return []
    centroid = vectors.mean(axis=0, keepdims=True)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    queries = np.vstack([vectors, centroid]).astype(np.float32)
    own = snap.rows_for_seqs(sorted(exclude))
    if allowed_rows is not None:
        own = own[np.isin(own, allowed_rows)]
    total = (snap.size if allowed_rows is None else len(allowed_rows)) - len(own)
    fetch = candidate_fetch(k, total)
    candidates: set[int] = set()
    while total > 0:
        rows = other_rows(snap, queries, fetch, own, allowed_rows)
        candidates = {int(snap.doc_seqs[r]) for r in rows.ravel().tolist() if r >= 0} - exclude
        if len(candidates) >= 2 * k or fetch >= total:
            break
        fetch = min(total, fetch * 4)
    allowed_set = None if allowed_rows is None else set(allowed_rows.tolist())
    cands: list[int] = []
    groups: list[np.ndarray] = []
    for seq in sorted(candidates):
        rows_b = snap.rows_of(seq)
        if allowed_set is not None:
            rows_b = np.array([r for r in rows_b.tolist() if r in allowed_set], dtype=np.int64)
        if len(rows_b):
            cands.append(seq)
            groups.append(rows_b)
    if not cands:
        return []
    b_rows = np.concatenate(groups)
    starts = np.concatenate([[0], np.cumsum([len(g) for g in groups])[:-1]])
    b_vectors = np.asarray(snap.vectors[b_rows])
    scores, best = segment_scores(vectors, b_vectors, starts)
    if method == "centroid":
        scores = np.array([article_similarity(vectors, b_vectors[a : a + len(g)], method)
                           for a, g in zip(starts.tolist(), groups)])
    scored = [(seq, float(sc), int(b_rows[i])) for seq, sc, i in zip(cands, scores.tolist(), best.tolist())]
    scored.sort(key=lambda t: (-t[1], t[0]))
    return scored[:k]
