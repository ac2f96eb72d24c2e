"""Tuning an approximate index's search parameter on the store's own vectors.

``efSearch`` (HNSW) or ``nprobe`` (IVF) is tuned at build time: the newest rows (up to 2,000,
the latest articles) are kept out of the index at first; a seeded sample of
:data:`TUNE_QUERIES` of them searches the older rows exactly and approximately (with
re-ranking), and the parameter climbs its ladder (:data:`EF_SEARCH_LADDER`, or powers of two for
``nprobe`` from a floor) until recall@10 reaches the target (:data:`TARGET_RECALL`; exact ties
count as hits). Then those rows are added. The value, the recall and how it was measured go
into ``index.json``. The sample is seeded; FAISS's multi-threaded graph insertion can still vary
a little from run to run. The recall is that of queries like the stored chunks (new articles,
related-article lookups); queries far from every chunk need more, hence the floors
:data:`MIN_EF_SEARCH` and :data:`MIN_NPROBE` (see ``benchmarks/bench_index.py``). Tuning costs
one exact search of :data:`TUNE_QUERIES` queries (seconds at 1M rows).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semclust.vectors.exact import RowReader, exact_search, rerank

__all__ = [
    "EF_SEARCH_LADDER",
    "MIN_EF_SEARCH",
    "MIN_NPROBE",
    "MIN_NPROBE_FRACTION",
    "TARGET_RECALL",
    "TUNE_QUERIES",
    "apply_params",
    "approx_search",
    "held_out_rows",
    "hnsw_of",
    "nprobe_floor",
    "tunable",
    "tune",
]

#: Default recall@10 an approximate index is tuned to reach on the store's own vectors.
TARGET_RECALL = 0.95
#: The lowest ``efSearch`` used. Tuning measures queries like the stored chunks, which at 1M
#: rows reached 0.95 already at efSearch 16; queries from articles unlike any stored one
#: (text queries are further still from the chunks) got recall@10 0.74 there, 0.92 at 128 and
#: 0.97 at 384 (benchmarks/bench_index.py), so the floor is 384: about 0.3 ms per query at 1M.
MIN_EF_SEARCH = 384
#: ``efSearch`` values tried, in order, when tuning an HNSW index.
EF_SEARCH_LADDER = (MIN_EF_SEARCH, 512, 768, 1024, 1536, 2048)
#: The lowest ``nprobe`` of the automatic IVF index (``"auto"`` above ``IVF_THRESHOLD``): 1/64 of
#: its lists (:data:`MIN_NPROBE_FRACTION`), at least this. At 200k rows in 2,048 lists
#: (benchmarks/bench_index.py, 4-bit codes re-ranked 4x), queries like the stored chunks reached
#: recall@10 0.997 at nprobe 8 and the build-time tuning 1.0 at 32, while queries from held-out
#: articles got 0.939 at 8, 0.967 at 16, 0.983 at 32 and 0.993 at 64 (8-bit codes: 0.943, 0.972,
#: 0.988, 0.999): the tuning only sees the first kind, so the floor, 32 lists there, keeps the
#: second above 0.95 with a margin (0.9 ms per query there). User factory strings
#: (``"IVF1024,PQ48"``) are tuned from ``nprobe`` 1.
MIN_NPROBE = 8
#: The floor's share of the lists (see :data:`MIN_NPROBE`).
MIN_NPROBE_FRACTION = 1 / 64
#: Queries (a seeded sample of the newest rows) used to measure recall when tuning.
TUNE_QUERIES = 200

_TUNE_K = 10
_TUNE_SEED = 0
# At most this many of the newest rows are held out of a new index as tuning queries.
_TUNE_POOL = 2000
# Share of the rows held out as tuning queries (between TUNE_QUERIES and _TUNE_POOL rows).
_HELD_OUT_SHARE = 20
# A hit whose exact score is within this of the k-th true score counts as a tie.
_TIE_TOLERANCE = 1e-6
# nprobe values tried: powers of two up to this exponent.
_MAX_NPROBE_EXPONENT = 20


def hnsw_of(index: Any) -> Any:
    """The HNSW index inside ``index`` (also behind a pre-transform), or ``None``."""
    import faiss

    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexPreTransform):
        inner = faiss.downcast_index(inner.index)
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def nprobe_floor(nlist: int) -> int:
    """The lowest ``nprobe`` of the automatic IVF index with ``nlist`` lists."""
    return min(nlist, max(MIN_NPROBE, int(nlist * MIN_NPROBE_FRACTION)))


def tunable(index: Any, min_nprobe: int = 1) -> tuple[str, tuple[int, ...]] | None:
    """The search-time parameter of ``index`` worth tuning, and the values to try."""
    import faiss

    if hnsw_of(index) is not None:
        return "efSearch", EF_SEARCH_LADDER
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        nlist = int(ivf.nlist)
        low = min(nlist, max(1, min_nprobe))
        between = [p for p in (2**i for i in range(_MAX_NPROBE_EXPONENT)) if low < p < nlist]
        return "nprobe", tuple([low, *between] + ([nlist] if low < nlist else []))
    return None


def apply_params(index: Any, params: dict[str, Any]) -> None:
    """Set ``efSearch`` / ``nprobe`` from ``params`` on ``index`` (the others are ignored)."""
    import faiss

    space = faiss.ParameterSpace()
    for name in ("efSearch", "nprobe"):
        if name in params:
            space.set_index_parameter(index, name, int(params[name]))


def approx_search(
    index: Any,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    factor: int,
    search_params: Any = None,
    reader: RowReader | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """``factor * k`` candidates from ``index``, re-ranked exactly from ``vectors`` to ``k``."""
    fetch = min(int(index.ntotal), factor * k)
    _, cand = index.search(queries, fetch, params=search_params)
    return rerank(vectors, queries, cand, k, reader)


def _recall(
    index: Any, vectors: np.ndarray, factor: int, queries: np.ndarray, truth: np.ndarray, kth: np.ndarray
) -> float:
    """Recall@k of the re-ranked approximate search against the exact top-k ``truth`` (a hit
    whose exact score ties the k-th true score ``kth`` counts too).
    """
    k = truth.shape[1]
    scores, got = approx_search(index, vectors, queries, k, factor)
    correct = (
        np.isin(got, truth) if len(truth) == 1 else np.array([np.isin(g, t) for g, t in zip(got, truth)])
    )
    correct |= (got >= 0) & (scores >= kth[:, None] - _TIE_TOLERANCE)
    return float(correct.sum() / truth.size)


def held_out_rows(n: int) -> int:
    """How many of the newest rows are kept out of a new index to be its tuning queries."""
    return min(max(TUNE_QUERIES, n // _HELD_OUT_SHARE), _TUNE_POOL, n // 2)


def tune(
    index: Any, vectors: np.ndarray, start: int, factor: int, target: float, *, min_nprobe: int = 1
) -> tuple[dict[str, int], float, dict[str, Any]]:
    """Tune ``index`` (holding rows ``[0, start)``) with queries from the rows ``[start, n)``
    it does not hold yet, until recall@10 reaches ``target``; returns ``(params, recall, how it
    was measured)`` and leaves the chosen parameter set on ``index``.
    """
    pool = len(vectors) - start
    nq = min(TUNE_QUERIES, pool)
    k = min(_TUNE_K, start)
    how: dict[str, Any] = {
        "queries": nq,
        "k": k,
        "seed": _TUNE_SEED,
        "held_out_rows": pool,
        "indexed_rows": start,
        "rerank_factor": factor,
        "method": "the newest rows were kept out of the index; a seeded sample of them searched "
        "the older rows, re-ranked approximate top-k against exact top-k (exact ties count as "
        "hits); then they were added",
    }
    if k <= 0 or nq <= 0:
        return {}, 1.0, how
    rows = start + np.sort(np.random.default_rng(_TUNE_SEED).choice(pool, nq, replace=False))
    queries = np.asarray(vectors[rows], dtype=np.float32)
    t_scores, truth = exact_search(vectors[:start], queries, k)
    kth = t_scores[:, -1]
    found = tunable(index, min_nprobe)
    if found is None:
        return {}, _recall(index, vectors, factor, queries, truth, kth), how
    name, ladder = found
    recall = 0.0
    value = ladder[0]
    for value in ladder:
        apply_params(index, {name: value})
        recall = _recall(index, vectors, factor, queries, truth, kth)
        if recall >= target:
            break
    return {name: int(value)}, recall, how
