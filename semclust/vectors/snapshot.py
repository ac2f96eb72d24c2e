"""The vector side of a store: an immutable *snapshot* per committed generation.

A snapshot is a folder ``snapshots/<generation>/`` holding

* ``vectors.npy``: the chunk embedding matrix (float32, one row per chunk), memory-mapped on
  open, so opening a big store reads none of it and later stages never re-embed;
* ``chunk_ids.npy`` / ``doc_seqs.npy``: the chunk id and article key of each row;
* ``index.faiss``: the approximate FAISS index over the rows, when there is one;
* ``index.json``: what index was chosen and why (see :attr:`Snapshot.index_info`).

Which index is built, and how it is tuned, extended and re-ranked, is
:mod:`semclust.vectors.ann` and :mod:`semclust.vectors.tuning`; exact search is
:mod:`semclust.vectors.exact`.

Filtered search
    Up to 20,000 allowed rows are scored exactly; more go through FAISS with an ID selector
    (HNSW with ``efSearch`` raised in proportion to the rows filtered out, IVF as tuned), other
    index kinds are searched exactly.

Opening
    ``Snapshot.load`` maps ``vectors.npy`` and (FAISS >= 1.11, ``IO_FLAG_MMAP_IFC``) the index
    codes from their files and reads only the row ids, the article keys and the HNSW graph (an
    IVF index's lists are mapped too). A file that cannot be read (empty, truncated, not what
    its name says) is a :class:`~semclust.errors.StoreFormatError` naming it; a snapshot
    removed by a writer while it is opened is :class:`FileNotFoundError` (the store retries).

Snapshots are written to a temporary folder, flushed to disk and renamed into place before the
SQLite transaction that makes them current commits; a snapshot is never modified afterwards.
"""

from __future__ import annotations

import copy
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any

import numpy as np

from semclust._disk import fsync_dir, fsync_file
from semclust.errors import InvalidArgumentError, StoreFormatError
from semclust.vectors.ann import (
    AUTO_THRESHOLD,
    DEFAULT_INDEX,
    IVF_THRESHOLD,
    RERANK_FACTOR,
    RERANK_FACTOR_PQ,
    BaseIndex,
    choose_factory,
    filter_params,
    index_kind,
    index_params,
    is_exact,
    make_index,
    read_faiss,
    validate_factory,
)
from semclust.vectors.exact import RowReader, exact_search
from semclust.vectors.tuning import TARGET_RECALL, apply_params, approx_search

__all__ = [
    "DEFAULT_INDEX",  # re-exported from semclust.vectors.ann, where the choice is made
    "INDEX_INFO_VERSION",
    "Snapshot",
    "validate_factory",  # re-exported from semclust.vectors.ann
]

#: Version of ``index.json``.
INDEX_INFO_VERSION = 1
# Filtered queries over at most this many rows are scored exactly.
_EXACT_FILTER_ROWS = 20_000
# Rows checked for NaN and infinity at a time when writing.
_CHECK_ROWS = 1 << 16
_REPAIR = "restore the store folder from a backup, or index the articles again into a new store"


def _damaged(path: Path, folder: Path, what: str) -> Exception:
    """The error for an unreadable snapshot file; FileNotFoundError if a writer removed it."""
    if not folder.exists():  # a writer removed it while we read it: the caller retries
        return FileNotFoundError(f"the vector snapshot {folder} was removed")
    return StoreFormatError(f"{path} is damaged ({what}); {_REPAIR}")


def _read_array(folder: Path, name: str, *, mapped: bool = False, kind: str = "i") -> np.ndarray:
    """``folder/name`` as an array: 2-D floats (``kind="f"``, memory-mapped if ``mapped``) or
    1-D integers.
    """
    path = folder / name
    try:
        arr = np.load(path, mmap_mode="r" if mapped else None, allow_pickle=False)
    except FileNotFoundError:
        raise
    except (OSError, ValueError, EOFError) as err:
        raise _damaged(path, folder, str(err) or type(err).__name__) from None
    if not isinstance(arr, np.ndarray) or arr.dtype.kind != kind or arr.ndim != (2 if kind == "f" else 1):
        shape = getattr(arr, "shape", None)
        dtype = getattr(arr, "dtype", None)
        want = "a 2-D float matrix" if kind == "f" else "a 1-D integer array"
        raise _damaged(path, folder, f"{want} was expected, it holds {dtype} of shape {shape}")
    return arr


def _legacy_info(folder: Path, rows: int) -> tuple[dict[str, Any], Any]:
    """The record and index of a snapshot written before ``index.json`` existed."""
    path = folder / "index.faiss"
    try:
        index = read_faiss(path, mapped=True)
    except RuntimeError as err:
        raise _damaged(path, folder, str(err).splitlines()[0] if str(err) else "unreadable") from None
    kind = index_kind(index)
    info = {
        "format_version": 0,
        "requested": None,
        "kind": kind,
        "factory": None,
        "params": index_params(index),
        "rerank_factor": RERANK_FACTOR if kind in ("exact", "hnsw") else RERANK_FACTOR_PQ,
        "recall_at_10": 1.0 if kind == "exact" else None,
        "rows": rows,
        "built": "unknown",
    }
    if kind == "exact":
        if index.ntotal != rows:
            raise StoreFormatError(f"the vector snapshot {folder} does not match its index")
        index = None  # search the memory-mapped vectors instead of a copy in RAM
    return info, index


def _read_info(folder: Path, rows: int) -> tuple[dict[str, Any], Any]:
    """The snapshot's ``index.json`` record and its FAISS index (``None`` for exact search)."""
    path = folder / "index.json"
    if not path.exists():
        if not folder.exists():
            raise FileNotFoundError(f"the vector snapshot {folder} was removed")
        return _legacy_info(folder, rows)
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise
    except (OSError, ValueError) as err:
        raise _damaged(path, folder, f"not a JSON file: {err}") from None
    if not isinstance(info, dict) or not isinstance(info.get("kind"), str):
        raise _damaged(path, folder, 'a JSON object with a "kind" was expected')
    version = info.get("format_version")
    if not isinstance(version, int) or version > INDEX_INFO_VERSION:
        raise StoreFormatError(
            f"{path} has format version {version}; this semclust reads version "
            f"{INDEX_INFO_VERSION} or older. Upgrade semclust to open this store"
        )
    if info["kind"] == "exact":
        return info, None
    faiss_path = folder / "index.faiss"
    try:
        index = read_faiss(faiss_path, mapped=True)
        apply_params(index, info.get("params") or {})
    except RuntimeError as err:
        if not faiss_path.exists():
            raise FileNotFoundError(f"{faiss_path} is missing") from None
        raise _damaged(faiss_path, folder, str(err).splitlines()[0] if str(err) else "unreadable") from None
    return info, index


def _rows_kept_from(base: Snapshot | None, chunk_ids: np.ndarray) -> int:
    """How many leading rows are ``base``'s own (same chunk ids: checked when it was written)."""
    if (
        base is None
        or base.size > len(chunk_ids)
        or not np.array_equal(chunk_ids[: base.size], base.chunk_ids)
    ):
        return 0
    return base.size


def _check_finite(vectors: np.ndarray, start: int = 0) -> None:
    """Refuse NaN or infinite vectors (from row ``start`` on) before anything is written."""
    for a in range(start, len(vectors), _CHECK_ROWS):
        block = np.asarray(vectors[a : a + _CHECK_ROWS])
        finite = np.isfinite(block).all(axis=1)
        if not finite.all():
            row = a + int(np.flatnonzero(~finite)[0])
            raise InvalidArgumentError(
                f"vector row {row} holds NaN or infinite values; nothing was written. Vectors "
                "must be finite (check the embedding model)"
            )


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
        self._reader: RowReader | None = None
        if index is not None and path is not None and isinstance(vectors, np.memmap) and hasattr(os, "pread"):
            self._reader = RowReader(
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
        ``efSearch`` for HNSW; ``nlist``, ``code_bytes``, ``nprobe`` for IVF); ``rerank_factor``;
        ``recall_at_10`` and ``recall_measured`` (how); ``target_recall``; ``rows``;
        ``threshold`` and ``ivf_threshold`` (for ``"auto"``); ``built``
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

        Raises:
            StoreFormatError: a file of the snapshot cannot be read (naming it), or the
                snapshot does not match the store's manifest.
            FileNotFoundError: the snapshot was removed (by a writer) meanwhile.
        """
        if generation == 0:
            return cls.empty(dim)
        folder = cls.folder(root, generation)
        chunk_ids = _read_array(folder, "chunk_ids.npy")
        if len(chunk_ids) == 0:
            empty = cls.empty(dim)
            empty.generation = generation
            return empty
        vectors = _read_array(folder, "vectors.npy", mapped=True, kind="f")
        doc_seqs = _read_array(folder, "doc_seqs.npy")
        info, index = _read_info(folder, len(chunk_ids))
        if (
            vectors.shape[1] != dim
            or not (len(vectors) == len(chunk_ids) == len(doc_seqs))
            or (index is not None and index.ntotal != len(chunk_ids))
        ):
            raise StoreFormatError(
                f"the vector snapshot {folder} does not match the store's manifest ({len(vectors)} "
                f"vectors of {vectors.shape[1]} dimensions, {len(chunk_ids)} chunk ids, "
                f"{len(doc_seqs)} article keys; {dim} dimensions expected); {_REPAIR}"
            )
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
        ivf_threshold: int | None = None,
        target_recall: float | None = None,
        progress: bool = False,
    ) -> None:
        """Write a snapshot durably: temporary folder, fsync, rename.

        Args:
            root: The snapshots folder.
            generation: The new generation number.
            vectors: ``(n, dim)`` unit vectors, one row per chunk (finite: NaN or infinity is an
                :class:`~semclust.errors.InvalidArgumentError`, and nothing is written).
            chunk_ids: Chunk id of each row (never reused for other vectors).
            doc_seqs: Article key of each row.
            factory: ``"auto"`` or a FAISS index factory string (``"Flat"``: exact search).
            base: The snapshot this one derives from. When its rows are the first rows here
                (same chunk ids, in order), its approximate index is extended instead of rebuilt.
            auto_threshold: Rows from which ``"auto"`` builds HNSW (default
                :data:`~semclust.vectors.ann.AUTO_THRESHOLD`).
            ivf_threshold: Rows from which ``"auto"`` builds IVF instead (default
                :data:`~semclust.vectors.ann.IVF_THRESHOLD`).
            target_recall: Recall@10 the tuning aims for (default
                :data:`~semclust.vectors.tuning.TARGET_RECALL`).
            progress: Show a progress bar while adding vectors to an index.
        """
        threshold = AUTO_THRESHOLD if auto_threshold is None else int(auto_threshold)
        ivf_at = IVF_THRESHOLD if ivf_threshold is None else int(ivf_threshold)
        target = TARGET_RECALL if target_recall is None else float(target_recall)
        if threshold < 1 or ivf_at < 1:
            raise InvalidArgumentError(
                f"auto_threshold and ivf_threshold must be at least 1, got {threshold} and {ivf_at}"
            )
        if not 0.0 < target <= 1.0:
            raise InvalidArgumentError(f"target_recall must be in (0, 1], got {target}")
        validate_factory(factory, vectors.shape[1])
        _check_finite(vectors, _rows_kept_from(base, chunk_ids))
        base_info = base._info if base is not None else None
        chosen = choose_factory(factory, len(vectors), threshold, ivf_at, base_info)
        info = cls._index_record(factory, len(vectors), target, threshold, ivf_at)
        index = None
        if len(vectors) and not is_exact(chosen):
            started = time.perf_counter()
            index, built = make_index(
                cls._base_index(base),
                vectors,
                chunk_ids,
                chosen,
                target,
                automatic=factory == DEFAULT_INDEX,
                progress=progress,
            )
            info.update(built, kind=index_kind(index), factory=chosen)
            info["params"] = {**index_params(index), **info["params"]}
            info["build_seconds"] = round(time.perf_counter() - started, 3)
        cls._write_files(root, generation, vectors, chunk_ids, doc_seqs, index, info)

    @staticmethod
    def _index_record(factory: str, rows: int, target: float, threshold: int, ivf_at: int) -> dict[str, Any]:
        """``index.json`` of an exact-search snapshot (an index build updates it)."""
        import faiss

        auto = factory == DEFAULT_INDEX
        return {
            "format_version": INDEX_INFO_VERSION,
            "requested": factory,
            "kind": "exact",
            "factory": None,
            "params": {},
            "rerank_factor": None,
            "recall_at_10": 1.0,
            "recall_measured": None,
            "target_recall": target,
            "rows": rows,
            "threshold": threshold if auto else None,
            "ivf_threshold": ivf_at if auto else None,
            "built": "none",
            "rows_at_full_build": None,
            "build_seconds": 0.0,
            "faiss_version": faiss.__version__,
        }

    @staticmethod
    def _base_index(base: Snapshot | None) -> BaseIndex | None:
        if base is None or base.index is None or base.path is None:
            return None
        return BaseIndex(base._info, base.chunk_ids, base.vectors, base.path / "index.faiss")

    @classmethod
    def _write_files(
        cls,
        root: Path,
        generation: int,
        vectors: np.ndarray,
        chunk_ids: np.ndarray,
        doc_seqs: np.ndarray,
        index: Any,
        info: dict[str, Any],
    ) -> None:
        import faiss

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
            return approx_search(self.index, self.vectors, q, k, factor, reader=self._reader)
        filt = None
        if len(allowed_rows) > _EXACT_FILTER_ROWS:
            mask = np.zeros(self.size, dtype=bool)
            mask[allowed_rows] = True
            bits = np.packbits(mask, bitorder="little")  # FAISS reads it while this frame lives
            filt = filter_params(self.index, self._info.get("params", {}), bits, len(allowed_rows))
        if filt is None:
            return exact_search(self.vectors, q, k, allowed_rows)
        return approx_search(self.index, self.vectors, q, k, factor, filt.params, self._reader)
