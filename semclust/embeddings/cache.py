"""An on-disk cache of embeddings keyed by (model fingerprint, hash of the embedded text).

Re-indexing unchanged text therefore never runs the model again, whichever store it goes to.
The cache is one SQLite file, safe for several processes; by default it lives in the user cache
folder (``$SEMCLUST_CACHE_DIR`` or the platform's, e.g. ``~/.cache/semclust``).
"""

from __future__ import annotations

import hashlib
import os
import sqlite3
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from semclust.embeddings.base import Embedder, check_vectors
from semclust.embeddings.cache_dir import default_cache_dir

__all__ = ["EmbeddingCache", "embed_with_cache", "open_cache"]

# SQLite's busy timeout (seconds) for the cache file shared by several processes.
_BUSY_TIMEOUT = 60
# Keys per ``IN (...)`` query (below SQLite's limit on bound parameters).
_KEYS_PER_QUERY = 500


def _key(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


class EmbeddingCache:
    """Vectors by (fingerprint, text hash) in a SQLite file.

    Args:
        path: The SQLite file; default ``default_cache_dir() / "embeddings.sqlite"``.
    """

    def __init__(self, path: str | os.PathLike[str] | None = None) -> None:
        self.path = Path(path) if path is not None else default_cache_dir() / "embeddings.sqlite"
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._db = sqlite3.connect(self.path, timeout=_BUSY_TIMEOUT, check_same_thread=False)
        self._db.execute("PRAGMA journal_mode=WAL")
        self._db.execute("PRAGMA synchronous=NORMAL")
        self._db.execute(
            "CREATE TABLE IF NOT EXISTS vectors (fingerprint TEXT NOT NULL, key BLOB NOT NULL, "
            "vec BLOB NOT NULL, PRIMARY KEY (fingerprint, key)) WITHOUT ROWID"
        )
        self._db.commit()

    def get(self, fingerprint: str, texts: Sequence[str], dim: int) -> list[np.ndarray | None]:
        """Cached vectors for ``texts`` (``None`` where absent)."""
        keys = [_key(t) for t in texts]
        found: dict[bytes, np.ndarray] = {}
        for i in range(0, len(keys), _KEYS_PER_QUERY):
            part = keys[i : i + _KEYS_PER_QUERY]
            rows = self._db.execute(
                "SELECT key, vec FROM vectors WHERE fingerprint = ? "
                f"AND key IN ({','.join('?' * len(part))})",
                [fingerprint, *part],
            ).fetchall()
            for k, v in rows:
                arr = np.frombuffer(v, dtype=np.float32)
                if arr.shape[0] == dim and np.isfinite(arr).all():  # else: embed it again
                    found[bytes(k)] = arr
        return [found.get(k) for k in keys]

    def put(self, fingerprint: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Store vectors for ``texts``."""
        rows = [
            (fingerprint, _key(t), np.ascontiguousarray(v, dtype=np.float32).tobytes())
            for t, v in zip(texts, vectors)
        ]
        with self._db:
            self._db.executemany("INSERT OR REPLACE INTO vectors VALUES (?, ?, ?)", rows)

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM vectors").fetchone()[0])

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()


def embed_with_cache(
    embedder: Embedder,
    texts: Sequence[str],
    cache: EmbeddingCache | None,
    *,
    progress: bool = False,
) -> tuple[np.ndarray, int]:
    """Embed ``texts``, taking what the cache has and adding what it lacks.

    Returns:
        The ``(n, dim)`` vectors and how many texts were actually run through the model.

    Raises:
        ModelError: the model returned NaN or infinite values, or an array of the wrong shape
            (nothing is cached then; see :func:`~semclust.embeddings.base.check_vectors`).
    """
    dim = embedder.dimension
    out = np.zeros((len(texts), dim), dtype=np.float32)
    if not texts:
        return out, 0
    cached = cache.get(embedder.fingerprint, texts, dim) if cache is not None else [None] * len(texts)
    missing = [i for i, v in enumerate(cached) if v is None]
    for i, v in enumerate(cached):
        if v is not None:
            out[i] = v
    if missing:
        # identical texts are embedded once
        unique: dict[str, int] = {}
        for i in missing:
            unique.setdefault(texts[i], len(unique))
        new_texts = list(unique)
        vecs = check_vectors(embedder, new_texts, embedder.embed(new_texts, progress=progress))
        for i in missing:
            out[i] = vecs[unique[texts[i]]]
        if cache is not None:
            cache.put(embedder.fingerprint, new_texts, vecs)
        return out, len(unique)
    return out, 0


def open_cache(setting: bool | str | os.PathLike[str] | EmbeddingCache | None) -> EmbeddingCache | None:
    """The embedding cache a ``cache=`` argument asks for: ``True`` the shared one in the user cache
    folder, ``False``/``None`` none, a path a cache file there, or an :class:`EmbeddingCache` as is.
    """
    if isinstance(setting, EmbeddingCache):
        return setting
    if setting is True:
        return EmbeddingCache()
    if setting is False or setting is None:
        return None
    return EmbeddingCache(setting)
