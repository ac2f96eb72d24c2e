"""The vector side of a store: an immutable *snapshot* per committed generation.

A snapshot is a folder ``snapshots/<generation>/`` holding

* ``vectors.npy``: the chunk embedding matrix (float32, one row per chunk, memory-mapped on
  open), so later stages never re-embed;
* ``chunk_ids.npy`` / ``doc_seqs.npy``: the chunk id and article key of each row;
* ``index.faiss``: a FAISS index over the rows (inner product on unit vectors = cosine), built
  from a FAISS factory string (``"Flat"`` by default: exact search).

Snapshots are written to a temporary folder, flushed to disk and renamed into place before the
SQLite transaction that makes them current commits; a snapshot is never modified afterwards.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np

from semclust.errors import StoreError, StoreFormatError

__all__ = ["DEFAULT_INDEX", "Snapshot", "build_index"]

#: The default FAISS factory string: exact inner-product search.
DEFAULT_INDEX = "Flat"
# Filtered queries over at most this many rows are scored exactly with numpy.
_EXACT_FILTER_ROWS = 20_000


def build_index(vectors: np.ndarray, factory: str) -> Any:
    """Build a FAISS inner-product index from ``factory`` and add ``vectors`` to it."""
    import faiss

    dim = vectors.shape[1]
    try:
        index = faiss.index_factory(dim, factory, faiss.METRIC_INNER_PRODUCT)
    except RuntimeError as err:
        raise StoreError(
            f"invalid FAISS index description {factory!r}: {str(err).splitlines()[0]}; "
            "see the FAISS index factory documentation (e.g. 'Flat', 'HNSW32', 'IVF256,PQ32')"
        ) from None
    if not index.is_trained:
        try:
            index.train(np.ascontiguousarray(vectors, dtype=np.float32))
        except RuntimeError as err:
            raise StoreError(
                f"the FAISS index {factory!r} could not be trained on {len(vectors)} vectors "
                f"({str(err).splitlines()[0]}); use 'Flat' until the store is larger"
            ) from None
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def _fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _fsync_dir(path: Path) -> None:
    with contextlib.suppress(OSError):  # some filesystems do not allow it
        _fsync_file(path)


def _search_params(index: Any, sel: Any) -> Any:
    import faiss

    base = faiss.downcast_index(index)
    if isinstance(base, faiss.IndexHNSW):
        params = faiss.SearchParametersHNSW()  # type: ignore[attr-defined]
    elif isinstance(base, faiss.IndexIVF):
        params = faiss.SearchParametersIVF()
    else:
        params = faiss.SearchParameters()
    params.sel = sel
    return params


class Snapshot:
    """The vectors of one committed generation (read-only)."""

    def __init__(
        self,
        generation: int,
        vectors: np.ndarray,
        chunk_ids: np.ndarray,
        doc_seqs: np.ndarray,
        index: Any,
    ) -> None:
        self.generation = generation
        self.vectors = vectors
        self.chunk_ids = chunk_ids
        self.doc_seqs = doc_seqs
        self.index = index
        order = np.argsort(doc_seqs, kind="stable")
        seqs, starts, counts = np.unique(doc_seqs[order], return_index=True, return_counts=True)
        self._groups = {
            int(s): order[a : a + c] for s, a, c in zip(seqs.tolist(), starts.tolist(), counts.tolist())
        }

    @property
    def size(self) -> int:
        """Number of chunk vectors."""
        return int(self.vectors.shape[0])

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
        """Open a committed snapshot (vectors memory-mapped)."""
        if generation == 0:
            return cls.empty(dim)
        import faiss

        folder = cls.folder(root, generation)
        try:
            chunk_ids = np.load(folder / "chunk_ids.npy")
            if len(chunk_ids) == 0:
                empty = cls.empty(dim)
                empty.generation = generation
                return empty
            vectors = np.load(folder / "vectors.npy", mmap_mode="r")
            doc_seqs = np.load(folder / "doc_seqs.npy")
            index = faiss.read_index(str(folder / "index.faiss"))
        except FileNotFoundError:
            raise
        except (OSError, ValueError, RuntimeError) as err:
            raise StoreFormatError(f"the vector snapshot {folder} is damaged: {err}") from None
        if (
            vectors.ndim != 2
            or vectors.shape[1] != dim
            or not (len(vectors) == len(chunk_ids) == len(doc_seqs) == index.ntotal)
        ):
            raise StoreFormatError(f"the vector snapshot {folder} does not match the store's manifest")
        return cls(generation, vectors, chunk_ids, doc_seqs, index)

    @classmethod
    def write(
        cls,
        root: Path,
        generation: int,
        vectors: np.ndarray,
        chunk_ids: np.ndarray,
        doc_seqs: np.ndarray,
        factory: str,
    ) -> None:
        """Write a snapshot durably: temporary folder, fsync, rename."""
        import faiss

        final = cls.folder(root, generation)
        tmp = final.with_name(final.name + ".tmp")
        for stale in (tmp, final):  # left by a writer that crashed before committing
            if stale.exists():
                shutil.rmtree(stale)
        tmp.mkdir(parents=True)
        index = build_index(vectors, factory) if len(vectors) else None
        np.save(tmp / "vectors.npy", np.ascontiguousarray(vectors, dtype=np.float32))
        np.save(tmp / "chunk_ids.npy", chunk_ids.astype(np.int64))
        np.save(tmp / "doc_seqs.npy", doc_seqs.astype(np.int64))
        if index is not None:
            faiss.write_index(index, str(tmp / "index.faiss"))
        for f in tmp.iterdir():
            _fsync_file(f)
        _fsync_dir(tmp)
        os.replace(tmp, final)
        _fsync_dir(root)

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
        parts = [self._groups[s] for s in seqs if s in self._groups]
        return np.sort(np.concatenate(parts)) if parts else np.zeros(0, dtype=np.int64)

    def search(
        self, queries: np.ndarray, k: int, allowed_rows: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray]:
        """Top-``k`` rows by inner product for each query; ``allowed_rows`` restricts the
        candidates before ranking. Returns ``(scores, rows)`` with ``-1`` rows for no result.
        """
        q = np.ascontiguousarray(queries, dtype=np.float32)
        if self.index is None or self.size == 0 or k <= 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if allowed_rows is None:
            scores, rows = self.index.search(q, min(k, self.size))
            return scores, rows
        if len(allowed_rows) == 0:
            return np.zeros((len(q), 0), np.float32), np.zeros((len(q), 0), np.int64)
        if len(allowed_rows) <= _EXACT_FILTER_ROWS:
            sims = q @ np.asarray(self.vectors[allowed_rows]).T
            kk = min(k, len(allowed_rows))
            top = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            top_scores = np.take_along_axis(sims, top, axis=1)
            order = np.argsort(-top_scores, axis=1, kind="stable")
            top = np.take_along_axis(top, order, axis=1)
            return np.take_along_axis(top_scores, order, axis=1), allowed_rows[top]
        import faiss

        sel = faiss.IDSelectorBatch(np.ascontiguousarray(allowed_rows, dtype=np.int64))
        scores, rows = self.index.search(q, min(k, len(allowed_rows)), params=_search_params(self.index, sel))
        return scores, rows
