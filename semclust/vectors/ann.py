"""Approximate (FAISS) indexes: which one ``"auto"`` builds, building, extending, reading.

Choosing the index
    The factory value ``"auto"`` (the default) searches **exactly** while a snapshot has fewer
    than :data:`AUTO_THRESHOLD` rows: a blocked matrix product over the memory-mapped vectors
    (:mod:`semclust.vectors.exact`). From :data:`AUTO_THRESHOLD` rows on it builds
    :data:`HNSW_FACTORY` (HNSW graph, ``M=32``, codes stored as 8-bit scalars,
    ``efConstruction`` :data:`EF_CONSTRUCTION`). From :data:`IVF_THRESHOLD` rows on, where the
    HNSW index (about 0.26 GB of graph per million chunks besides its 0.38 GB of codes, both
    visited at random by every search, so in practice resident) and its build time
    (superlinear, hours on 2 cores past a few million rows) stop fitting, it
    builds an inverted-file index with 4-bit codes (:func:`ivf_factory`: ``IVF<nlist>,SQ4``,
    ``nlist`` about ``4 * sqrt(rows)``), trained on a seeded sample of at least
    :data:`IVF_TRAIN_PER_LIST` rows per list, with an ``nprobe`` floor
    (:func:`~semclust.vectors.tuning.nprobe_floor`). Its lists and codes are memory-mapped on
    opening, so the RAM it needs is that of the lists the queries touch. Any other FAISS
    factory string (``"Flat"``, ``"HNSW32"``, ``"IVF1024,PQ96x4fs"``, ...) overrides the
    choice; ``"Flat"`` is exact search.

Re-ranking
    Approximate indexes return :data:`RERANK_FACTOR` times the wanted candidates (four times for
    4-bit scalar codes, ten times for product-quantised codes, whose order is rougher); these
    are scored exactly from the memory-mapped vectors and cut to ``k``. This needs the float32
    matrix on disk beside the index (1.5 GB per million chunks of 384 dimensions, a few rows
    read per query through the page cache); a compressed-only store would drop it and rank by
    the codes alone, losing the exact scores and recall (at 200k rows, recall@10 of the
    automatic 4-bit IVF index falls from 0.983 to 0.821 without re-ranking; 8-bit codes from
    0.988 to 0.976, for twice the index), which is not offered yet.

Growth
    When a commit only appends rows (the previous snapshot's rows come first, unchanged: same
    chunk ids), an approximate index is *extended*: the previous ``index.faiss`` is read into
    memory, the new rows are added (``O(new rows * log n)`` graph insertions for HNSW; one list
    assignment each for IVF, whose lists keep their trained centroids) and the search parameter
    is tuned again with the new rows (kept when fewer than ``TUNE_QUERIES`` are new); the whole
    index file is still rewritten (``O(n)`` bytes). Deleted or replaced rows, crossing a
    threshold, or growing past :data:`REBUILD_GROWTH` times the rows of the last full build
    trigger a full rebuild (HNSW at 1M rows: minutes on 2 cores).
"""

from __future__ import annotations

import contextlib
import math
from pathlib import Path
from typing import Any, NamedTuple

import numpy as np

from semclust.errors import StoreError
from semclust.vectors.tuning import (
    TUNE_QUERIES,
    apply_params,
    held_out_rows,
    hnsw_of,
    nprobe_floor,
    tune,
)

__all__ = [
    "AUTO_THRESHOLD",
    "DEFAULT_INDEX",
    "EF_CONSTRUCTION",
    "HNSW_FACTORY",
    "IVF_CODES",
    "IVF_LISTS_PER_SQRT",
    "IVF_MAX_LISTS",
    "IVF_MIN_LISTS",
    "IVF_THRESHOLD",
    "IVF_TRAIN_PER_LIST",
    "REBUILD_GROWTH",
    "RERANK_FACTOR",
    "RERANK_FACTOR_PQ",
    "RERANK_FACTOR_SQ4",
    "BaseIndex",
    "FaissFilter",
    "add_rows",
    "build_index",
    "choose_factory",
    "filter_params",
    "index_kind",
    "index_params",
    "is_exact",
    "ivf_factory",
    "make_index",
    "read_faiss",
    "rerank_factor",
    "validate_factory",
]

#: The default factory value: exact search for small snapshots, tuned HNSW for large ones,
#: IVF for archive-sized ones.
DEFAULT_INDEX = "auto"
#: Rows from which ``"auto"`` builds an HNSW index; below it, search is exact. At 50,000 rows
#: exact search takes about 5 ms per query on one core, while building HNSW takes seconds.
AUTO_THRESHOLD = 50_000
#: The FAISS factory string ``"auto"`` uses for large snapshots (HNSW, M=32, 8-bit codes; the
#: exact re-ranking makes up for the quantisation; 0.65 GB at 1M rows of 384 dimensions).
HNSW_FACTORY = "HNSW32,SQ8"
#: Rows from which ``"auto"`` builds an IVF index (:func:`ivf_factory`) instead of HNSW. Measured
#: at 200k rows of 384 dimensions (benchmarks/bench_index.py): HNSW32,SQ8 is 626 MB of index per
#: million chunks (graph and codes, visited at random by every search, so in practice resident:
#: 735 MB per million after 1,000 queries), the automatic IVF index (4-bit codes) 206 MB (305 MB
#: resident, 85% of it file-backed pages), at recall@10 0.983 against HNSW's 0.996 for queries
#: from held-out articles and 0.999 for both on queries like the stored chunks; the float32
#: matrix adds 1.5 GB per million on disk either way (read a few rows per query). Building took
#: 98 s for HNSW and 185 s for IVF (k-means over 2,048 lists) on 2 shared cores; HNSW's build
#: grows faster than its rows (about 20 x 1.3 times longer at 4M), IVF's training is bounded by
#: its sample and each further row costs one list assignment. At 4M chunks HNSW would need
#: 2.5 GB of RAM for its index alone and most of an hour to build; the IVF index is 0.8 GB,
#: mostly mapped. Below that, HNSW's better recall and latency are worth its memory.
IVF_THRESHOLD = 4_000_000
#: The codes of the automatic IVF index: 4-bit scalars (d/2 bytes per row, 192 for 384
#: dimensions; trains fast, supports filtered search). With :data:`RERANK_FACTOR_SQ4` candidates
#: re-ranked exactly, recall@10 at 100k rows (1,024 lists) was within 0.005 of 8-bit codes at
#: half the size: 0.963 against 0.966 at nprobe 16, 0.984 against 0.988 at 32 (queries from
#: held-out articles). Product quantisation (``PQ96x4fs``, 48 bytes) is smaller still but took
#: minutes to train on 8,000 rows on 2 busy cores; pass it as a factory string where it pays.
IVF_CODES = "SQ4"
#: At most this many lists in the automatic IVF index (FAISS's guideline for 1M-10M rows is
#: 65,536 lists).
IVF_MAX_LISTS = 65_536
#: At least this many lists in the automatic IVF index.
IVF_MIN_LISTS = 64
#: Lists per square root of the rows (FAISS's guideline: 4 to 16 times sqrt(rows)).
IVF_LISTS_PER_SQRT = 4
#: Training rows per list of the automatic IVF index (k-means warns below 39).
IVF_TRAIN_PER_LIST = 40
#: Approximate candidates fetched per wanted hit, then re-scored exactly.
RERANK_FACTOR = 2
#: The same for product-quantised (``PQ``) or ``LSH`` codes.
RERANK_FACTOR_PQ = 10
#: The same for 4-bit scalar codes (``SQ4``, the automatic IVF index's).
RERANK_FACTOR_SQ4 = 4
#: ``efConstruction`` of the HNSW graphs built here (FAISS's default is 40; 80 raised recall@10
#: at 1M rows from 0.93 to 0.96 at efSearch 192, for 1.7 times the build time).
EF_CONSTRUCTION = 80
#: An appended-to index is rebuilt once it holds this many times the rows of its last full build.
REBUILD_GROWTH = 2.0

_SEED = 0
# At most this many rows train an index that needs training (a seeded sample); the automatic
# IVF index takes IVF_TRAIN_PER_LIST rows per list when that is more.
_TRAIN_ROWS = 200_000
_ADD_BATCH = 50_000
# efSearch used for a filtered HNSW query grows as 1/(allowed fraction), up to this.
_MAX_FILTER_EF = 4096
# Rows of the previous snapshot compared with the new one before extending its index.
_SAME_ROWS_SAMPLE = 64


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


def is_exact(factory: str) -> bool:
    """Whether ``factory`` means exact search over the matrix (``"Flat"``)."""
    return factory.replace(" ", "") == "Flat"


def ivf_factory(rows: int) -> str:
    """The automatic IVF index for ``rows`` rows: ``IVF<nlist>,SQ4``, ``nlist`` the power of two
    nearest ``4 * sqrt(rows)``, within [64, 65,536] and at most ``rows / 40`` (its training).
    """
    target = IVF_LISTS_PER_SQRT * math.sqrt(max(rows, 1))
    nlist = 2 ** round(math.log2(max(target, 1.0)))
    nlist = min(nlist, IVF_MAX_LISTS, 2 ** int(math.log2(max(rows // IVF_TRAIN_PER_LIST, 1))))
    return f"IVF{max(IVF_MIN_LISTS, nlist)},{IVF_CODES}"


def choose_factory(
    factory: str, rows: int, threshold: int, ivf_threshold: int, base_info: dict[str, Any] | None
) -> str:
    """The FAISS factory string to build for ``factory`` (``"Flat"`` for exact search).

    ``"auto"`` is exact below ``threshold`` rows, :data:`HNSW_FACTORY` below ``ivf_threshold``,
    else the base snapshot's automatic IVF index (so that it can be extended) or a new one.
    """
    if factory != DEFAULT_INDEX:
        return factory
    if rows < threshold:
        return "Flat"
    if rows < ivf_threshold:
        return HNSW_FACTORY
    old = base_info or {}
    if old.get("requested") == DEFAULT_INDEX and str(old.get("factory") or "").startswith("IVF"):
        return str(old["factory"])
    return ivf_factory(rows)


def rerank_factor(factory: str) -> int:
    """Candidates per wanted hit for an index built from ``factory``."""
    upper = factory.upper().replace(" ", "")
    if "PQ" in upper or "LSH" in upper:
        return RERANK_FACTOR_PQ
    return RERANK_FACTOR_SQ4 if upper.endswith(",SQ4") or ",SQ4," in upper else RERANK_FACTOR


def _new_index(vectors: np.ndarray, factory: str, train_rows: int) -> Any:
    """An empty FAISS index from ``factory``, trained on (a seeded sample of) ``vectors``."""
    import faiss

    validate_factory(factory, vectors.shape[1])
    index = faiss.index_factory(vectors.shape[1], factory, faiss.METRIC_INNER_PRODUCT)
    hnsw = hnsw_of(index)
    if hnsw is not None:
        hnsw.hnsw.efConstruction = EF_CONSTRUCTION
    if not index.is_trained:
        rows = np.arange(len(vectors))
        if len(rows) > train_rows:
            rows = np.sort(np.random.default_rng(_SEED).choice(len(rows), train_rows, replace=False))
        try:
            index.train(np.ascontiguousarray(vectors[rows], dtype=np.float32))
        except RuntimeError as err:
            raise StoreError(
                f"the FAISS index {factory!r} could not be trained on {len(vectors)} vectors "
                f"({str(err).splitlines()[0]}); use 'auto' or 'Flat' until the store is larger"
            ) from None
    return index


def _train_rows(index_factory: str) -> int:
    """Training sample size: :data:`IVF_TRAIN_PER_LIST` per list of an IVF index, at least
    200,000 (or all the rows, when fewer).
    """
    if index_factory.startswith("IVF"):
        with contextlib.suppress(ValueError):
            nlist = int(index_factory[3:].split(",", 1)[0].split("_", 1)[0])
            return max(_TRAIN_ROWS, IVF_TRAIN_PER_LIST * nlist)
    return _TRAIN_ROWS


def add_rows(index: Any, vectors: np.ndarray, start: int, stop: int, *, progress: bool = False) -> None:
    """Add the rows ``[start, stop)`` of ``vectors`` to ``index`` (which holds ``[0, start)``),
    in batches (shard by shard: any contiguous run of rows may be added at a time).
    """
    from tqdm.auto import tqdm

    with tqdm(total=stop - start, desc="indexing vectors", unit="vec", disable=not progress) as bar:
        for a in range(start, stop, _ADD_BATCH):
            b = min(stop, a + _ADD_BATCH)
            index.add(np.ascontiguousarray(vectors[a:b], dtype=np.float32))
            bar.update(b - a)


def build_index(vectors: np.ndarray, factory: str, *, progress: bool = False) -> Any:
    """Build a FAISS inner-product index from ``factory`` and add ``vectors`` to it.

    Indexes that need training are trained on a seeded sample of at most 200,000 rows (more
    for IVF indexes with many lists); HNSW graphs are built with ``efConstruction``
    :data:`EF_CONSTRUCTION`.
    """
    index = _new_index(vectors, factory, _train_rows(factory))
    add_rows(index, vectors, 0, len(vectors), progress=progress)
    return index


def index_kind(index: Any) -> str:
    """``"hnsw"``, ``"ivf"``, ``"exact"`` (a flat inner-product index) or ``"faiss"``."""
    import faiss

    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        return "hnsw"
    if isinstance(inner, faiss.IndexIVF):
        return "ivf"
    if isinstance(inner, faiss.IndexFlat) and inner.metric_type == faiss.METRIC_INNER_PRODUCT:
        return "exact"
    return "faiss"


def index_params(index: Any) -> dict[str, Any]:
    """The build parameters worth recording: ``M`` and ``efConstruction`` of an HNSW graph,
    ``nlist`` and ``code_bytes`` of an IVF index.
    """
    import faiss

    inner = hnsw_of(index)
    if inner is not None:
        m = int(inner.hnsw.nb_neighbors(1))
        return {"M": m, "efConstruction": int(inner.hnsw.efConstruction)}
    ivf = faiss.try_extract_index_ivf(index)
    if ivf is not None:
        return {"nlist": int(ivf.nlist), "code_bytes": int(ivf.code_size)}
    return {}


def read_faiss(path: Path, *, mapped: bool) -> Any:
    """Read a FAISS index; ``mapped`` maps its codes from the file instead of reading them
    (FAISS >= 1.11). A mapped index must never be added to.
    """
    import faiss

    flag = getattr(faiss, "IO_FLAG_MMAP_IFC", None) if mapped else None
    if flag is not None:
        with contextlib.suppress(RuntimeError):
            return faiss.read_index(str(path), flag)
    return faiss.read_index(str(path))


def _same_rows(old: np.ndarray, new: np.ndarray) -> bool:
    """Whether a seeded sample of ``old``'s rows reappears unchanged at the top of ``new``."""
    if len(old) == 0:
        return True
    rows = np.random.default_rng(_SEED).choice(len(old), min(_SAME_ROWS_SAMPLE, len(old)), replace=False)
    rows = np.sort(rows)
    return bool(np.array_equal(np.asarray(old[rows], np.float32), np.asarray(new[rows], np.float32)))


class BaseIndex(NamedTuple):
    """What :func:`make_index` needs of the previous snapshot to extend its index."""

    info: dict[str, Any]
    chunk_ids: np.ndarray
    vectors: np.ndarray
    index_file: Path


def _extendable(base: BaseIndex | None, vectors: np.ndarray, chunk_ids: np.ndarray, factory: str) -> bool:
    if base is None:
        return False
    size = len(base.chunk_ids)
    rows = int(base.info.get("rows_at_full_build") or size)
    return bool(
        base.info.get("factory") == factory
        and size <= len(vectors) <= REBUILD_GROWTH * rows
        and np.array_equal(chunk_ids[:size], base.chunk_ids)
        and _same_rows(base.vectors, vectors)
    )


def make_index(
    base: BaseIndex | None,
    vectors: np.ndarray,
    chunk_ids: np.ndarray,
    factory: str,
    target: float,
    *,
    automatic: bool = False,
    progress: bool = False,
) -> tuple[Any, dict[str, Any]]:
    """The tuned index for ``vectors`` and what to record about it.

    ``base``'s index is extended when only rows were appended (same chunk ids first, at most
    :data:`REBUILD_GROWTH` times the rows of its last full build); otherwise a new index is
    built. Either way the newest rows are added last, after serving as tuning queries against
    the older ones; an extension by fewer than ``TUNE_QUERIES`` rows keeps the base's
    parameters and measured recall. The ``automatic`` (``"auto"``) IVF index is tuned from its
    ``nprobe`` floor up.
    """
    n = len(vectors)
    factor = rerank_factor(factory)
    start, full_rows, index = 0, n, None
    if base is not None and _extendable(base, vectors, chunk_ids, factory):
        old = base.info
        index = read_faiss(base.index_file, mapped=False)  # owned: may add
        start, full_rows = len(base.chunk_ids), int(old.get("rows_at_full_build") or len(base.chunk_ids))
        if n - start < TUNE_QUERIES:  # too few new rows to measure: keep the tuning
            add_rows(index, vectors, start, n, progress=progress)
            kept = {key: old.get(key) for key in ("params", "recall_at_10", "recall_measured")}
            apply_params(index, kept["params"] or {})
            return index, {
                **kept,
                "built": "extended",
                "rerank_factor": factor,
                "rows_at_full_build": full_rows,
            }
    if index is None:
        index = _new_index(vectors, factory, _train_rows(factory))
    held = min(n - start, held_out_rows(n))
    add_rows(index, vectors, start, n - held, progress=progress)
    nlist = index_params(index).get("nlist")
    floor = nprobe_floor(int(nlist)) if automatic and nlist else 1
    params, recall, how = tune(index, vectors, n - held, factor, target, min_nprobe=floor)
    add_rows(index, vectors, n - held, n, progress=progress)
    return index, {
        "params": params,
        "recall_at_10": round(recall, 4),
        "recall_measured": how,
        "built": "extended" if start else "full",
        "rerank_factor": factor,
        "rows_at_full_build": full_rows,
    }


class FaissFilter(NamedTuple):
    """FAISS search parameters with a selector, and the selector (kept alive with them)."""

    params: Any
    selector: Any


def filter_params(index: Any, params: dict[str, Any], bits: np.ndarray, allowed: int) -> FaissFilter | None:
    """FAISS search parameters restricting a plain HNSW or IVF index to the rows set in the
    little-endian bitmap ``bits`` (``allowed`` of them); ``None`` for other indexes (they are
    searched exactly).
    """
    import faiss

    sel = faiss.IDSelectorBitmap(len(bits), faiss.swig_ptr(bits))
    inner = faiss.downcast_index(index)
    if isinstance(inner, faiss.IndexHNSW):
        fraction = allowed / max(1, int(index.ntotal))
        ef = int(params.get("efSearch", inner.hnsw.efSearch))
        hnsw_params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
        hnsw_params.sel = sel
        hnsw_params.efSearch = min(_MAX_FILTER_EF, math.ceil(ef / fraction))
        return FaissFilter(hnsw_params, sel)
    if isinstance(inner, faiss.IndexIVF):
        ivf_params = faiss.SearchParametersIVF()
        ivf_params.sel = sel
        ivf_params.nprobe = int(params.get("nprobe", inner.nprobe))
        return FaissFilter(ivf_params, sel)
    return None
