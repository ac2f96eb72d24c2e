"""The vector side of a store: an immutable *snapshot* per committed generation.

A snapshot is a folder ``snapshots/<generation>/`` holding

* ``vectors.npy``: the chunk embedding matrix (float32, one row per chunk), memory-mapped on
  open, so opening a big store reads none of it and later stages never re-embed;
* ``chunk_ids.npy`` / ``doc_seqs.npy``: the chunk id and article key of each row;
* ``index.faiss``: the approximate FAISS index over the rows, when there is one;
* ``index.json``: what index was chosen and why (see :attr:`Snapshot.index_info`).

Choosing the index
    The factory value ``"auto"`` (the default) searches **exactly** while the snapshot has fewer
    than :data:`AUTO_THRESHOLD` rows: a blocked matrix product over the memory-mapped vectors,
    no second copy in RAM (about 0.1 ms per 1,000 rows per query on one core). From
    :data:`AUTO_THRESHOLD` rows on it builds :data:`HNSW_FACTORY` (HNSW graph, ``M=32``, codes
    stored as 8-bit scalars, ``efConstruction`` :data:`EF_CONSTRUCTION`). Any other FAISS factory
    string (``"Flat"``, ``"HNSW32"``, ``"IVF1024,PQ96x4fs"``, ...) overrides the choice;
    ``"Flat"`` is exact search.

Tuning
    ``efSearch`` (HNSW) or ``nprobe`` (IVF) is tuned at build time on the store's own vectors:
    the newest rows (up to 2,000, the latest articles) are kept out of the index at first; a
    seeded sample of :data:`TUNE_QUERIES` of them searches the older rows exactly and
    approximately (with re-ranking), and the parameter climbs :data:`EF_SEARCH_LADDER` (or
    powers of two) until recall@10 reaches the target (:data:`TARGET_RECALL`; exact ties count
    as hits). Then those rows are added. The value, the recall and how it was measured go into
    ``index.json``. The sample is seeded; FAISS's multi-threaded graph insertion can still vary
    a little from run to run. The recall is that of queries like the stored chunks (new
    articles, related-article lookups); queries far from every chunk need a higher
    ``efSearch``, hence the floor :data:`MIN_EF_SEARCH` (see ``benchmarks/bench_index.py``).
    Tuning costs one exact search of :data:`TUNE_QUERIES` queries (seconds at 1M rows).

Re-ranking
    Approximate indexes return :data:`RERANK_FACTOR` times the wanted candidates (ten times for
    product-quantised codes, whose order is rougher); these are scored exactly from the
    memory-mapped vectors and cut to ``k``, so every score returned is an exact inner product
    (cosine on unit vectors). A query whose candidates would exceed an eighth of the rows is
    answered by exact search.

Filtered search
    Up to 20,000 allowed rows are scored exactly; more go through FAISS with an ID selector
    (HNSW with ``efSearch`` raised in proportion to the rows filtered out, IVF as tuned), other
    index kinds are searched exactly.

Growth
    When a commit only appends rows (the previous snapshot's rows come first, unchanged: same
    chunk ids), an approximate index is *extended*: the previous ``index.faiss`` is read into
    memory, the new rows are added (``O(new rows * log n)`` graph insertions) and the search
    parameter is tuned again with the new rows (kept when fewer than :data:`TUNE_QUERIES` are
    new); the whole index file is still rewritten (``O(n)`` bytes). Deleted or replaced rows,
    crossing :data:`AUTO_THRESHOLD`, or growing past :data:`REBUILD_GROWTH` times the rows of
    the last full build trigger a full rebuild (HNSW at 1M rows: minutes on 2 cores).

Opening
    ``Snapshot.load`` maps ``vectors.npy`` and (FAISS >= 1.11, ``IO_FLAG_MMAP_IFC``) the index
    codes from their files and reads only the row ids, the article keys and the HNSW graph.

Snapshots are written to a temporary folder, flushed to disk and renamed into place before the
SQLite transaction that makes them current commits; a snapshot is never modified afterwards.
"""

from __future__ import annotations

import contextlib
import copy
import json
import math
import os
import shutil
import time
import weakref
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from semclust._disk import fsync_dir, fsync_file
from semclust.errors import InvalidArgumentError, StoreError, StoreFormatError

__all__ = [
    "AUTO_THRESHOLD",
    "DEFAULT_INDEX",
    "EF_CONSTRUCTION",
    "EF_SEARCH_LADDER",
    "HNSW_FACTORY",
    "INDEX_INFO_VERSION",
    "MIN_EF_SEARCH",
    "REBUILD_GROWTH",
    "RERANK_FACTOR",
    "RERANK_FACTOR_PQ",
    "TARGET_RECALL",
    "TUNE_QUERIES",
    "Snapshot",
    "build_index",
    "exact_search",
    "validate_factory",
]

#: The default factory value: exact search for small snapshots, tuned HNSW for large ones.
DEFAULT_INDEX = "auto"
#: Rows from which ``"auto"`` builds an HNSW index; below it, search is exact. At 50,000 rows
#: exact search takes about 5 ms per query on one core, while building HNSW takes seconds.
AUTO_THRESHOLD = 50_000
#: The FAISS factory string ``"auto"`` uses for large snapshots (HNSW, M=32, 8-bit codes; the
#: exact re-ranking makes up for the quantisation; 0.65 GB at 1M rows of 384 dimensions).
HNSW_FACTORY = "HNSW32,SQ8"
#: Default recall@10 an approximate index is tuned to reach on the store's own vectors.
TARGET_RECALL = 0.95
#: The lowest ``efSearch`` used. Tuning measures queries like the stored chunks, which at 1M
#: rows reached 0.95 already at efSearch 16; queries from articles unlike any stored one
#: (text queries are further still from the chunks) got recall@10 0.74 there, 0.92 at 128 and
#: 0.97 at 384 (benchmarks/bench_index.py), so the floor is 384: about 0.3 ms per query at 1M.
MIN_EF_SEARCH = 384
#: ``efSearch`` values tried, in order, when tuning an HNSW index.
EF_SEARCH_LADDER = (MIN_EF_SEARCH, 512, 768, 1024, 1536, 2048)
#: Queries (a seeded sample of the newest rows) used to measure recall when tuning.
TUNE_QUERIES = 200
#: Approximate candidates fetched per wanted hit, then re-scored exactly.
RERANK_FACTOR = 2
#: The same for product-quantised (``PQ``) or ``LSH`` codes.
RERANK_FACTOR_PQ = 10
#: ``efConstruction`` of the HNSW graphs built here (FAISS's default is 40; 80 raised recall@10
#: at 1M rows from 0.93 to 0.96 at efSearch 192, for 1.7 times the build time).
EF_CONSTRUCTION = 80
#: An appended-to index is rebuilt once it holds this many times the rows of its last full build.
REBUILD_GROWTH = 2.0
#: Version of ``index.json``.
INDEX_INFO_VERSION = 1

_TUNE_K = 10
_TUNE_SEED = 0
# At most this many of the newest rows are held out of a new index as tuning queries.
_TUNE_POOL = 2000
# Filtered queries over at most this many rows are scored exactly.
_EXACT_FILTER_ROWS = 20_000
# efSearch used for a filtered HNSW query grows as 1/(allowed fraction), up to this.
_MAX_FILTER_EF = 4096
# Similarity-matrix elements per block of exact search (64 MiB of float32).
_BLOCK_ELEMENTS = 1 << 24
# At most this many rows train an index that needs training (a seeded sample).
_TRAIN_ROWS = 200_000
_ADD_BATCH = 50_000
# Re-ranking reads at most this many rows with pread (single queries, small batches); big
# batches read through the memory map, which is faster for many rows.
_PREAD_ROWS = 8192
_MISSING = float(np.finfo(np.float32).min)  # score of a "no result" slot, as FAISS uses


def validate_factory(factory: str, dim: int) -> None:
    """Raise :class:`~semclust.errors.StoreError` unless ``factory`` is ``"auto"`` or a FAISS
    index factory string FAISS can build for ``dim``-dimensional vectors.
    """
    if factory == DEFAULT_INDEX:
        return
    import faiss

    try:
        faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        raise StoreError(
            f"invalid FAISS index description {factory!r}: {str(err).splitlines()[0]}; use 'auto' "
            "or a FAISS index factory string (e.g. 'Flat', 'HNSW32,SQ8', 'IVF1024,PQ48')"
        ) from None


def build_index(vectors: np.ndarray, factory: str, *, progress: bool = False) -> Any:
    """Build a FAISS inner-product index from ``factory`` and add ``vectors`` to it.

    Indexes that need training are trained on a seeded sample of at most 200,000 rows; HNSW
    graphs are built with ``efConstruction`` :data:`EF_CONSTRUCTION`.
    """
    index = _new_index(vectors, factory)
    _add(index, vectors, 0, len(vectors), progress=progress)
    return index


def _new_index(vectors: np.ndarray, factory: str) -> Any:
    """An empty FAISS index from ``factory``, trained on (a sample of) ``vectors``."""
    import faiss

    validate_factory(factory, vectors.shape[1])
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    hnsw = _hnsw_of(index)
    if hnsw is not None:
        hnsw.hnsw.efConstruction = EF_CONSTRUCTION
    if not index.is_trained:
        rows = np.arange(len(vectors))
        if len(rows) > _TRAIN_ROWS:
            rows = np.sort(np.random.default_rng(_TUNE_SEED).choice(len(rows), _TRAIN_ROWS, replace=False))
        try:
            index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        except RuntimeError as err:
            raise StoreError(
                f"the FAISS index {factory!r} could not be trained on {len(vectors)} vectors "
                f"({str(err).splitlines()[0]}); use 'auto' or 'Flat' until the store is larger"
            ) from None
    return index


def _add(index: Any, vectors: np.ndarray, start: int, stop: int, *, progress: bool) -> None:
    """Add the rows ``[start, stop)`` of ``vectors`` to ``index`` (which holds ``[0, start)``)."""
    from tqdm.auto import tqdm

    with tqdm(total=stop - start, desc="indexing vectors", unit="vec", disable=not progress) as bar:
        for a in range(start, stop, _ADD_BATCH):
            b = min(stop, a + _ADD_BATCH)
            index.add(np.ascontiguousarray(vectors[a:b], dtype=np.float32))
            bar.update(b - a)


def _top_k(scores: np.ndarray, rows: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` best columns of each row of ``scores`` (ties: lower row number first)."""
    if scores.shape[1] > k:
        part = np.argpartition(-scores, k - 1, axis=1)[:, :k]
        scores = np.take_along_axis(scores, part, axis=1)
        rows = np.take_along_axis(rows, part, axis=1)
    order = np.lexsort((rows, -scores), axis=-1)
    return np.take_along_axis(scores, order, axis=1), np.take_along_axis(rows, order, axis=1)


def exact_search(
    vectors: np.ndarray, queries: np.ndarray, k: int, rows: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Exact top-``k`` inner products of ``queries`` against ``vectors`` (or only its ``rows``).

    Works block by block on a memory-mapped matrix (any float dtype) without copying it.
    Returns ``(scores, rows)`` of shape ``(len(queries), min(k, candidates))``, best first,
    ties broken by the lower row number.
    """
    q = np.ascontiguousarray(queries, dtype=np.float32).reshape(len(queries), -1)
    n = len(vectors) if rows is None else len(rows)
    kk = min(k, n)
    if kk <= 0 or len(q) == 0:
        return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
    out_s, out_r = [], []
    q_batch = max(1, _BLOCK_ELEMENTS // 1024)
    for qa in range(0, len(q), q_batch):
        qq = q[qa : qa + q_batch]
        step = max(1024, _BLOCK_ELEMENTS // len(qq))
        best_s = np.zeros((len(qq), 0), np.float32)
        best_r = np.zeros((len(qq), 0), np.int64)
        for a in range(0, n, step):
            b = min(n, a + step)
            ids = np.arange(a, b, dtype=np.int64) if rows is None else np.asarray(rows[a:b], np.int64)
            block = vectors[a:b] if rows is None else vectors[ids]
            sims = qq @ np.asarray(block, dtype=np.float32).T
            cand_s = np.hstack([best_s, sims])
            cand_r = np.hstack([best_r, np.broadcast_to(ids, sims.shape)])
            best_s, best_r = _top_k(cand_s, cand_r, kk)
        out_s.append(best_s)
        out_r.append(best_r)
    return np.vstack(out_s).astype(np.float32, copy=False), np.vstack(out_r)


class _RowReader:
    """Reads single rows of a ``.npy`` matrix with ``pread`` (Unix): the pages read stay in the
    shared page cache instead of being mapped into the process, as reading through the memory
    map would do with the kernel's fault-around (up to 16 neighbouring pages per row).
    """

    def __init__(self, path: Path, offset: int, dim: int, dtype: np.dtype[Any]) -> None:
        self.dtype = dtype
        self.dim = dim
        self.offset = offset
        self.row_bytes = dim * dtype.itemsize
        self.fd = os.open(path, os.O_RDONLY)
        weakref.finalize(self, os.close, self.fd)

    def read(self, rows: np.ndarray) -> np.ndarray:
        """The rows ``rows`` as float32."""
        pread = os.pread  # type: ignore[attr-defined,unused-ignore]
        data = b"".join(
            pread(self.fd, self.row_bytes, self.offset + r * self.row_bytes) for r in rows.tolist()
        )
        return np.frombuffer(data, self.dtype).reshape(len(rows), self.dim).astype(np.float32, copy=False)


def _rerank(
    vectors: np.ndarray,
    queries: np.ndarray,
    candidates: np.ndarray,
    k: int,
    reader: _RowReader | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Score approximate ``candidates`` (``-1`` for none) exactly and keep the best ``k``."""
    nq, fetch = candidates.shape
    dim = queries.shape[1]
    kk = min(k, fetch)
    out_s = np.full((nq, kk), _MISSING, np.float32)
    out_r = np.full((nq, kk), -1, np.int64)
    batch = max(1, _BLOCK_ELEMENTS // max(1, fetch * dim))
    for a in range(0, nq, batch):
        cand = candidates[a : a + batch]
        valid = cand >= 0
        rows, where = np.unique(np.where(valid, cand, 0), return_inverse=True)  # sorted: file order
        if reader is not None and len(rows) <= _PREAD_ROWS:
            unique_vectors = reader.read(rows)
        else:
            unique_vectors = np.asarray(vectors[rows], dtype=np.float32)
        gathered = unique_vectors[where.reshape(cand.shape)]
        scores = np.einsum("qd,qfd->qf", queries[a : a + batch], gathered)
        scores[~valid] = _MISSING
        s, r = _top_k(scores, np.where(valid, cand, np.iinfo(np.int64).max), kk)
        r[s == _MISSING] = -1
        out_s[a : a + batch], out_r[a : a + batch] = s, r
    return out_s, out_r


def _hnsw_of(index: Any) -> Any:
    """The HNSW index inside ``index`` (also behind a pre-transform), or ``None``."""
    import faiss

    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexPreTransform):
        inner = faiss.downcast_index(inner.index)
    return inner if isinstance(inner, faiss.IndexHNSW) else None


def _rerank_factor(factory: str) -> int:
    lossy = "PQ" in factory.upper() or "LSH" in factory.upper()
    return RERANK_FACTOR_PQ if lossy else RERANK_FACTOR


def _tunable(index: Any) -> tuple[str, tuple[int, ...]] | None:
    """The search-time parameter of ``index`` worth tuning, and the values to try."""
    import faiss

    if _hnsw_of(index) is not None:
        return "efSearch", EF_SEARCH_LADDER
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        ladder = [p for p in (2**i for i in range(20)) if p < ivf.nlist] + [int(ivf.nlist)]
        return "nprobe", tuple(ladder)
    return None


def _kind(index: Any) -> str:
    import faiss

    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexIVF):
        return "ivf"
    if isinstance(inner, faiss.IndexFlat) and inner.metric_type == faiss.METRIC_INNER_PRODUCT:
        return "exact"
    return "faiss"


def _hnsw_info(index: Any) -> dict[str, Any]:
    inner = _hnsw_of(index)
    if inner is None:
        return {}
    m = int(inner.hnsw.nb_neighbors(1))  # type: ignore[attr-defined]
    return {"M": m, "efConstruction": int(inner.hnsw.efConstruction)}


def _apply_params(index: Any, params: dict[str, Any]) -> None:
    import faiss

    space = faiss.ParameterSpace()
    for name in ("efSearch", "nprobe"):
        if name in params:
            space.set_index_parameter(index, name, int(params[name]))


def _approx_search(
    index: Any,
    vectors: np.ndarray,
    queries: np.ndarray,
    k: int,
    factor: int,
    search_params: Any = None,
    reader: _RowReader | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    fetch = min(int(index.ntotal), factor * k)
    _, cand = index.search(queries, fetch, params=search_params)
    return _rerank(vectors, queries, cand, k, reader)


def _recall(
    index: Any, vectors: np.ndarray, factor: int, queries: np.ndarray, truth: np.ndarray, kth: np.ndarray
) -> float:
    """Recall@k of the re-ranked approximate search against the exact top-k ``truth`` (a hit
    whose exact score ties the k-th true score ``kth`` counts too).
    """
    k = truth.shape[1]
    scores, got = _approx_search(index, vectors, queries, k, factor)
    correct = (
        np.isin(got, truth) if len(truth) == 1 else np.array([np.isin(g, t) for g, t in zip(got, truth)])
    )
    correct |= (got >= 0) & (scores >= kth[:, None] - 1e-6)
    return float(correct.sum() / truth.size)


def _held_out_rows(n: int) -> int:
    """How many of the newest rows are kept out of a new index to be its tuning queries."""
    return min(max(TUNE_QUERIES, n // 20), _TUNE_POOL, n // 2)


def _tune(
    index: Any, vectors: np.ndarray, start: int, factor: int, target: float
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
    tunable = _tunable(index)
    if tunable is None:
        return {}, _recall(index, vectors, factor, queries, truth, kth), how
    name, ladder = tunable
    recall = 0.0
    value = ladder[0]
    for value in ladder:
        _apply_params(index, {name: value})
        recall = _recall(index, vectors, factor, queries, truth, kth)
        if recall >= target:
            break
    return {name: int(value)}, recall, how


def _read_faiss(path: Path, *, mapped: bool) -> Any:
    """Read a FAISS index; ``mapped`` maps its codes from the file instead of reading them
    (FAISS >= 1.11). A mapped index must never be added to.
    """
    import faiss

    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", None) if mapped else None
    if flag is not None:
        with contextlib.suppress(RuntimeError):
            return faiss.read_index(str(path), flag)
    return faiss.read_index(str(path))


class _Filter(NamedTuple):
    params: Any  # FAISS SearchParameters with a selector
    selector: Any  # referenced here so that it outlives the search


def _is_exact(factory: str) -> bool:
    return factory.replace(" ", "") == "Flat"


class Snapshot:
    """The vectors of one committed generation (read-only)."""

    def __init__(
        self,
        generation: int,
        vectors: np.ndarray,
        chunk_ids: np.ndarray,
        doc_seqs: np.ndarray,
        index: Any,
        info: dict[str, Any] | None = None,
        path: Path | None = None,
    ) -> None:
        self.generation = generation
        self.vectors = vectors
        self.chunk_ids = chunk_ids
        self.doc_seqs = doc_seqs
        self.index = index  # None: exact search over ``vectors``
        self.path = path  # the snapshot's folder, None for one not on disk
        self._reader: _RowReader | None = None
        if index is not None and path is not None and isinstance(vectors, np.memmap) and hasattr(os, "pread"):
            self._reader = _RowReader(
                path / "vectors.npy", int(vectors.offset), vectors.shape[1], vectors.dtype
            )
        self._info: dict[str, Any] = dict(info) if info else {"kind": "exact", "rows": len(chunk_ids)}
        self._groups_cache: dict[int, np.ndarray] | None = None

    @property
    def size(self) -> int:
        """Number of chunk vectors."""
        return int(self.vectors.shape[0])

    @property
    def index_info(self) -> dict[str, Any]:
        """How this snapshot is searched, as recorded in its ``index.json``.

        Keys: ``format_version``; ``requested`` (``"auto"`` or the user's factory string);
        ``kind`` (``"exact"``, ``"hnsw"``, ``"ivf"`` or ``"faiss"``); ``factory`` (the FAISS
        factory string built, ``None`` for exact); ``params`` (``M``, ``efConstruction``,
        ``efSearch`` or ``nprobe``); ``rerank_factor``; ``recall_at_10`` and ``recall_measured``
        (how); ``target_recall``; ``rows``; ``threshold`` (for ``"auto"``); ``built``
        (``"full"``, ``"extended"``, ``"none"`` for exact, ``"unknown"`` for snapshots written
        before ``index.json`` existed); ``rows_at_full_build``; ``build_seconds``.
        """
        return copy.deepcopy(self._info)

    @property
    def _groups(self) -> dict[int, np.ndarray]:
        # Built on first use, so that opening a big store stays fast.
        if self._groups_cache is None:
            order = np.argsort(self.doc_seqs, kind="stable")
            seqs, starts, counts = np.unique(self.doc_seqs[order], return_index=True, return_counts=True)
            self._groups_cache = {
                int(s): order[a : a + c] for s, a, c in zip(seqs.tolist(), starts.tolist(), counts.tolist())
            }
        return self._groups_cache

    @classmethod
    def empty(cls, dim: int) -> Snapshot:
        """The snapshot of an empty store."""
        return cls(
            0,
            np.zeros((0, dim), dtype=np.float32),
            np.zeros(0, dtype=np.int64),
            np.zeros(0, dtype=np.int64),
            None,
        )

    @staticmethod
    def folder(root: Path, generation: int) -> Path:
        """Where generation ``generation`` lives under ``root``."""
        return root / f"{generation:010d}"

    @classmethod
    def load(cls, root: Path, generation: int, dim: int) -> Snapshot:
        """Open a committed snapshot: vectors and index codes memory-mapped, nothing read in full
        but the row ids, the article keys and the index graph.
        """
        if generation == 0:
            return cls.empty(dim)
        folder = cls.folder(root, generation)
        info_path = folder / "index.json"
        try:
            chunk_ids = np.load(folder / "chunk_ids.npy")
            if len(chunk_ids) == 0:
                empty = cls.empty(dim)
                empty.generation = generation
                return empty
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            doc_seqs = np.load(folder / "doc_seqs.npy")
            if info_path.exists():
                info = json.loads(info_path.read_text(encoding="utf-8"))
                version = info.get("format_version")
                if not isinstance(version, int) or version > INDEX_INFO_VERSION:
                    raise StoreFormatError(
                        f"{info_path} has format version {version}; this semclust reads version "
                        f"{INDEX_INFO_VERSION} or older. Upgrade semclust to open this store"
                    )
                index = None
                if info["kind"] != "exact":
                    index = _read_faiss(folder / "index.faiss", mapped=True)
                    _apply_params(index, info.get("params", {}))
            else:  # written before index.json existed: index.faiss only
                index = _read_faiss(folder / "index.faiss", mapped=True)
                kind = _kind(index)
                info = {
                    "format_version": 0,
                    "requested": None,
                    "kind": kind,
                    "factory": None,
                    "params": _hnsw_info(index),
                    "rerank_factor": RERANK_FACTOR if kind in ("exact", "hnsw") else RERANK_FACTOR_PQ,
                    "recall_at_10": 1.0 if kind == "exact" else None,
                    "rows": len(chunk_ids),
                    "built": "unknown",
                }
                if kind == "exact":
                    if index.ntotal != len(chunk_ids):
                        raise StoreFormatError(f"the vector snapshot {folder} does not match its index")
                    index = None  # search the memory-mapped vectors instead of a copy in RAM
        except FileNotFoundError:
            raise
        except StoreFormatError:
            raise
        except (OSError, ValueError, KeyError, RuntimeError) as err:
            if not folder.exists():  # a writer removed it while we read it: the caller retries
                raise FileNotFoundError(f"the vector snapshot {folder} was removed") from None
            raise StoreFormatError(f"the vector snapshot {folder} is damaged: {err}") from None
        if (
            vectors.ndim != 2
            or vectors.shape[1] != dim
            or not (len(vectors) == len(chunk_ids) == len(doc_seqs))
            or (index is not None and index.ntotal != len(chunk_ids))
        ):
            raise StoreFormatError(f"the vector snapshot {folder} does not match the store's manifest")
        return cls(generation, vectors, chunk_ids, doc_seqs, index, info, folder)

    @classmethod
    def write(
        cls,
        root: Path,
        generation: int,
        vectors: np.ndarray,
        chunk_ids: np.ndarray,
        doc_seqs: np.ndarray,
        factory: str = DEFAULT_INDEX,
        *,
        base: Snapshot | None = None,
        auto_threshold: int | None = None,
        target_recall: float | None = None,
        progress: bool = False,
    ) -> None:
        """Write a snapshot durably: temporary folder, fsync, rename.

        Args:
            root: The snapshots folder.
            generation: The new generation number.
            vectors: ``(n, dim)`` unit vectors, one row per chunk.
            chunk_ids: Chunk id of each row (never reused for other vectors).
            doc_seqs: Article key of each row.
            factory: ``"auto"`` or a FAISS index factory string (``"Flat"``: exact search).
            base: The snapshot this one derives from. When its rows are the first rows here
                (same chunk ids, in order), its approximate index is extended instead of rebuilt.
            auto_threshold: Rows from which ``"auto"`` builds HNSW (default
                :data:`AUTO_THRESHOLD`).
            target_recall: Recall@10 the tuning aims for (default :data:`TARGET_RECALL`).
            progress: Show a progress bar while adding vectors to an index.
        """
        import faiss

        threshold = AUTO_THRESHOLD if auto_threshold is None else int(auto_threshold)
        target = TARGET_RECALL if target_recall is None else float(target_recall)
        if threshold < 1:
            raise InvalidArgumentError(f"auto_threshold must be at least 1, got {threshold}")
        if not 0.0 < target <= 1.0:
            raise InvalidArgumentError(f"target_recall must be in (0, 1], got {target}")
        n = len(vectors)
        chosen = factory
        if factory == DEFAULT_INDEX:
            chosen = "Flat" if n < threshold else HNSW_FACTORY
        else:
            validate_factory(factory, vectors.shape[1])
        started = time.perf_counter()
        info: dict[str, Any] = {
            "format_version": INDEX_INFO_VERSION,
            "requested": factory,
            "kind": "exact",
            "factory": None,
            "params": {},
            "rerank_factor": None,
            "recall_at_10": 1.0,
            "recall_measured": None,
            "target_recall": target,
            "rows": n,
            "threshold": threshold if factory == DEFAULT_INDEX else None,
            "built": "none",
            "rows_at_full_build": None,
            "build_seconds": 0.0,
            "faiss_version": faiss.__version__,
        }
        index = None
        if n and not _is_exact(chosen):
            index, built = cls._make_index(base, vectors, chunk_ids, chosen, target, progress)
            info.update(built, kind=_kind(index), factory=chosen)
            info["params"] = {**_hnsw_info(index), **info["params"]}
            info["build_seconds"] = round(time.perf_counter() - started, 3)
        final = cls.folder(root, generation)
        tmp = final.with_name(final.name + ".tmp")
        for stale in (tmp, final):  # left by a writer that crashed before committing
            if stale.exists():
                shutil.rmtree(stale)
        tmp.mkdir(parents=True)
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        np.save(tmp / "chunk_ids.npy", chunk_ids.astype(np.int64))
        np.save(tmp / "doc_seqs.npy", doc_seqs.astype(np.int64))
        if index is not None:
            faiss.write_index(index, str(tmp / "index.faiss"))
        (tmp / "index.json").write_text(json.dumps(info, indent=2, sort_keys=True), encoding="utf-8")
        for f in tmp.iterdir():
            fsync_file(f)
        fsync_dir(tmp)
        os.replace(tmp, final)
        fsync_dir(root)

    @staticmethod
    def _make_index(
        base: Snapshot | None,
        vectors: np.ndarray,
        chunk_ids: np.ndarray,
        factory: str,
        target: float,
        progress: bool,
    ) -> tuple[Any, dict[str, Any]]:
        """The tuned index for ``vectors`` and what to record about it.

        ``base``'s index is extended when only rows were appended (same chunk ids first, at
        most :data:`REBUILD_GROWTH` times the rows of its last full build); otherwise a new
        index is built. Either way the newest rows are added last, after serving as tuning
        queries against the older ones; an extension by fewer than :data:`TUNE_QUERIES` rows
        keeps the base's parameters and measured recall.
        """
        n = len(vectors)
        factor = _rerank_factor(factory)
        start, full_rows, index = 0, n, None
        if base is not None and base.index is not None and base.path is not None:
            old = base._info
            rows = int(old.get("rows_at_full_build") or base.size)
            if (
                old.get("factory") == factory
                and base.size <= n <= REBUILD_GROWTH * rows
                and np.array_equal(chunk_ids[: base.size], base.chunk_ids)
                and _same_rows(base.vectors, vectors)
            ):
                index = _read_faiss(base.path / "index.faiss", mapped=False)  # owned: may add
                start, full_rows = base.size, rows
                if n - start < TUNE_QUERIES:  # too few new rows to measure: keep the tuning
                    _add(index, vectors, start, n, progress=progress)
                    kept = {key: old.get(key) for key in ("params", "recall_at_10", "recall_measured")}
                    _apply_params(index, kept["params"] or {})
                    return index, {
                        **kept,
                        "built": "extended",
                        "rerank_factor": factor,
                        "rows_at_full_build": full_rows,
                    }
        if index is None:
            index = _new_index(vectors, factory)
        held = min(n - start, _held_out_rows(n))
        _add(index, vectors, start, n - held, progress=progress)
        params, recall, how = _tune(index, vectors, n - held, factor, target)
        _add(index, vectors, n - held, n, progress=progress)
        return index, {
            "params": params,
            "recall_at_10": round(recall, 4),
            "recall_measured": how,
            "built": "extended" if start else "full",
            "rerank_factor": factor,
            "rows_at_full_build": full_rows,
        }

    @classmethod
    def remove_others(cls, root: Path, keep: int) -> None:
        """Delete every snapshot folder but generation ``keep`` (writer only)."""
        if not root.exists():
            return
        keep_name = cls.folder(root, keep).name
        for entry in root.iterdir():
            if entry.name != keep_name:
                shutil.rmtree(entry, ignore_errors=True)

    def rows_of(self, seq: int) -> np.ndarray:
        """Row numbers of an article's chunks, in chunk order."""
        return self._groups.get(int(seq), np.zeros(0, dtype=np.int64))

    def seqs(self) -> list[int]:
        """Keys of the articles that have vectors."""
        return list(self._groups)

    def rows_for_seqs(self, seqs: list[int]) -> np.ndarray:
        """Row numbers of the chunks of the given articles."""
        groups = self._groups
        parts = [groups[s] for s in seqs if s in groups]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product for each query; ``allowed_rows`` restricts the
        candidates before ranking. Returns ``(scores, rows)``, best first, with ``-1`` rows for
        no result; scores are exact inner products (approximate hits are re-ranked exactly).
        """
        q = np.ascontiguousarray(queries, dtype=np.float32).reshape(len(queries), -1)
        total = self.size if allowed_rows is None else len(allowed_rows)
        if total == 0 or k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        k = min(k, total)
        # Asking for a large share of the candidates: an exact scan costs about the same.
        factor = int(self._info.get("rerank_factor") or RERANK_FACTOR)
        if self.index is None or factor * k * 8 >= total:
            return exact_search(self.vectors, q, k, allowed_rows)
        if allowed_rows is None:
            return _approx_search(self.index, self.vectors, q, k, factor, reader=self._reader)
        filt = None
        if len(allowed_rows) > _EXACT_FILTER_ROWS:
            mask = np.zeros(self.size, dtype=bool)
            mask[allowed_rows] = True
            bits = np.packbits(mask, bitorder="little")  # FAISS reads it while this frame lives
            filt = self._filter(bits, len(allowed_rows))
        if filt is None:
            return exact_search(self.vectors, q, k, allowed_rows)
        return _approx_search(self.index, self.vectors, q, k, factor, filt.params, self._reader)

    def _filter(self, bits: np.ndarray, allowed: int) -> _Filter | None:
        """FAISS search parameters restricting a plain HNSW or IVF index to the rows set in the
        little-endian bitmap ``bits`` (``None`` for other indexes: they are searched exactly).
        """
        import faiss

        sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
        inner = faiss.downcast_index(self.index)
        params = self._info.get("params", {})
        if isinstance(inner, faiss.IndexHNSW):
            fraction = allowed / self.size
            ef = int(params.get("efSearch", inner.hnsw.efSearch))
            hnsw_params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
            hnsw_params.sel = sel
            hnsw_params.efSearch = min(_MAX_FILTER_EF, math.ceil(ef / fraction))
            return _Filter(hnsw_params, sel)
        if isinstance(inner, faiss.IndexIVF):
            ivf_params = faiss.SearchParametersIVF()
            ivf_params.sel = sel
            ivf_params.nprobe = int(params.get("nprobe", inner.nprobe))
            return _Filter(ivf_params, sel)
        return None


def _same_rows(old: np.ndarray, new: np.ndarray, samples: int = 64) -> bool:
    """Whether a seeded sample of ``old``'s rows reappears unchanged at the top of ``new``."""
    if len(old) == 0:
        return True
    rows = np.random.default_rng(_TUNE_SEED).choice(len(old), min(samples, len(old)), replace=False)
    rows = np.sort(rows)
    return bool(np.array_equal(np.asarray(old[rows], np.float32), np.asarray(new[rows], np.float32)))
