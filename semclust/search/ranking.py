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

__all__ = ["RelatedMethod", "article_similarity", "rank_articles", "rank_related", "segment_scores"]

RelatedMethod = Literal["chunks", "centroid"]


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
    the index (into ``b``) of its row closest to any row of ``a``.
    """
    sims = a @ b.T  # (len(a), len(b))
    col_best = sims.max(axis=0)  # each candidate chunk's best match in a
    counts = np.diff(np.append(starts, len(b)))
    col_mean = np.add.reduceat(col_best, starts) / counts
    row_mean = np.maximum.reduceat(sims, starts, axis=1).mean(axis=0)
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

    Candidates are the articles owning the nearest chunks of each of its chunks and of its
    centroid; they are then scored exactly with :func:`article_similarity`. ``row`` is the
    candidate's chunk closest to any of the article's chunks (the passage to show).
    """
    if len(vectors) == 0:
        return []
    centroid = vectors.mean(axis=0, keepdims=True)
    centroid /= max(float(np.linalg.norm(centroid)), 1e-12)
    queries = np.vstack([vectors, centroid]).astype(np.float32)
    total = snap.size if allowed_rows is None else len(allowed_rows)
    fetch = min(total, max(4 * k, 50))
    candidates: set[int] = set()
    while True:
        _, rows = snap.search(queries, fetch, allowed_rows)
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
