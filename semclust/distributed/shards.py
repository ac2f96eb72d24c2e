"""Shards of a distributed build, and serving them to :meth:`semclust.Store.add`.

A shard is the output of one slice of one input part, written by an embedding worker into the
build folder beside the store (``<store>.build/shards/<part key>-<slice>-of-<slices>/``)::

    articles.jsonl   the slice's articles (one JSON object a line) and, first, what was skipped
    chunks.jsonl     each article's chunks (its id and length, the chunks' offsets and title;
                     a line per article, in the order of articles.jsonl), so the commit does
                     not chunk them again
    keys.npy         (n,) ``S16``: the embedding-cache key of each distinct embedded chunk text
    vectors.npy      (n, dim) float32: their vectors

It is written into a temporary folder and renamed into place, so a shard either exists whole or
not at all; a build that stops keeps its finished shards and the next run starts from them.

The driver commits with the store's own ``add``: :class:`ShardArticles` streams the articles in
input order and :class:`ShardVectors` is an :class:`~semclust.embeddings.cache.EmbeddingCache`
whose lookups are answered from the shards, so duplicates and the commit are exactly the
single-process ones and nothing is embedded again; :meth:`ShardArticles.chunks` gives ``add``
the workers' chunks (made by the same :func:`~semclust.chunking.chunk_document`), so nothing is
chunked again either (a shard written without ``chunks.jsonl`` has its articles chunked at
commit).
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import uuid
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from semclust._types import Document, Skipped
from semclust.chunking import Chunk, chunks_from_spans
from semclust.embeddings.cache import EmbeddingCache
from semclust.ingest.readers import Articles

__all__ = [
    "ShardArticles",
    "ShardVectors",
    "doc_from_json",
    "doc_to_json",
    "shard_name",
    "text_key",
    "write_shard",
]


def text_key(text: str) -> bytes:
    """The embedding cache's key of an embedded text (16 bytes of its SHA-256)."""
    return hashlib.sha256(text.encode("utf-8")).digest()[:16]


def shard_name(part_key: str, slice_no: int, n_slices: int) -> str:
    """The folder name of a slice's shard."""
    return f"{part_key}-{slice_no:05d}-of-{n_slices:05d}"


def parse_shard_name(name: str) -> tuple[str, int, int] | None:
    """``(part key, slice, slices)`` of a shard folder name, or ``None``."""
    key, sep, rest = name.partition("-")
    number, sep2, total = rest.partition("-of-")
    if not sep or not sep2 or not number.isdigit() or not total.isdigit():
        return None
    return key, int(number), int(total)


def doc_to_json(doc: Document) -> dict[str, Any]:
    """A document as a JSON object that :func:`doc_from_json` turns back into an equal one."""
    return {
        "id": doc.id, "title": doc.title, "text": doc.text, "url": doc.url,
        "published": doc.published, "source": doc.source, "metadata": dict(doc.metadata),
    }


def doc_from_json(data: dict[str, Any]) -> Document:
    """The document written by :func:`doc_to_json`."""
    return Document(**data)


def _fsync_write(path: Path, data: bytes) -> None:
    with open(path, "wb") as fh:
        fh.write(data)
        fh.flush()
        os.fsync(fh.fileno())


def _save_npy(path: Path, array: np.ndarray) -> None:
    with open(path, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
        fh.flush()
        os.fsync(fh.fileno())


def write_shard(
    folder: Path,
    name: str,
    docs: Sequence[dict[str, Any]],
    skipped: Sequence[dict[str, Any]],
    texts: Sequence[str],
    vectors: np.ndarray,
    *,
    chunks: Sequence[dict[str, Any]] | None = None,
) -> bool:
    """Write a shard atomically (temporary folder, fsync, rename). Returns ``False`` when
    the shard already exists (a retried task), leaving it as it is. ``chunks``: each article's
    :func:`~semclust.chunking.chunk_spans`, in the order of ``docs``.
    """
    target = folder / name
    if target.exists():
        return False
    folder.mkdir(parents=True, exist_ok=True)
    tmp = folder / f".tmp-{name}-{uuid.uuid4().hex[:8]}"
    tmp.mkdir()
    try:
        lines = [json.dumps({"skipped": list(skipped)}, ensure_ascii=False)]
        lines += [json.dumps(d, ensure_ascii=False) for d in docs]
        _fsync_write(tmp / "articles.jsonl", ("\n".join(lines) + "\n").encode("utf-8"))
        if chunks is not None:
            body = "".join(json.dumps(c, ensure_ascii=False) + "\n" for c in chunks)
            _fsync_write(tmp / "chunks.jsonl", body.encode("utf-8"))
        first: dict[str, int] = {}
        for i, t in enumerate(texts):
            first.setdefault(t, i)
        rows = list(first.values())
        keys = np.array([text_key(texts[i]) for i in rows], dtype="S16")
        _save_npy(tmp / "keys.npy", keys)
        _save_npy(tmp / "vectors.npy", np.ascontiguousarray(vectors[rows], dtype=np.float32))
        try:
            os.rename(tmp, target)
        except OSError:
            if not target.exists():
                raise
            return False  # written meanwhile by a retry of the same slice
        fd = os.open(folder, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        return True
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)


def finished_shards(folder: Path) -> dict[str, dict[int, int]]:
    """``{part key: {slice: slices}}`` of the shards in ``folder``."""
    out: dict[str, dict[int, int]] = {}
    if not folder.is_dir():
        return out
    for entry in folder.iterdir():
        parsed = parse_shard_name(entry.name)
        if parsed is not None and entry.is_dir():
            out.setdefault(parsed[0], {})[parsed[1]] = parsed[2]
    return out


class ShardArticles(Articles):
    """The articles of a list of shards, in order, as :func:`semclust.read` would give them
    (re-iterable; ``skipped`` is filled by each iteration, like ``read``'s).
    """

    def __init__(self, shards: Sequence[Path]) -> None:
        super().__init__(None, [], fields=None, clean=True, furniture=None, skip_errors=True)
        self.shards = list(shards)
        self._chunks: dict[str, _Packed] = {}

    def __iter__(self) -> Iterator[Document]:
        self.skipped = []
        self._chunks = {}
        for shard in self.shards:
            spans = _read_chunks(shard)
            with open(shard / "articles.jsonl", encoding="utf-8") as fh:
                head = json.loads(fh.readline())
                self.skipped.extend(Skipped(**s) for s in head["skipped"])
                for line in fh:
                    if line.strip():
                        doc = doc_from_json(json.loads(line))
                        made = next(spans, None) if spans is not None else None
                        # The last record of an id wins, as in add: its chunks or none.
                        if made and made.get("id") == doc.id and made.get("chars") == len(doc.text):
                            self._chunks[doc.id] = _pack(doc, made)
                        else:
                            self._chunks.pop(doc.id, None)
                        yield doc

    def chunks(self, doc: Document) -> list[Chunk] | None:
        """The chunks a worker made for ``doc`` in the last iteration (a
        :data:`~semclust.chunking.ChunksFn` for :meth:`semclust.Store.add`); ``None`` when its
        shard has none or the text differs.
        """
        found = self._chunks.get(doc.id)
        if found is None or found[0] != len(doc.text):
            return None
        _, title, context, raw = found
        spans = np.frombuffer(raw, dtype=np.int64).reshape(-1, 2).tolist()
        data = {"title": doc.title if title is None else title, "title_context": context, "spans": spans}
        return chunks_from_spans(doc, data)


#: An article's chunks as :class:`ShardArticles` keeps them: the text's length, the title the
#: chunks carry (``None``: the article's own), ``title_context`` and the offsets as int64
#: pairs (about 200 bytes an article, against about 1.2 KB as parsed JSON).
_Packed = tuple[int, str | None, bool, bytes]


def _pack(doc: Document, made: dict[str, Any]) -> _Packed:
    title = str(made["title"])
    spans = np.asarray(made["spans"], dtype=np.int64).reshape(-1, 2)
    return len(doc.text), None if title == doc.title else title, bool(made["title_context"]), spans.tobytes()


def _read_chunks(shard: Path) -> Iterator[dict[str, Any]] | None:
    """The lines of a shard's ``chunks.jsonl`` (``None``: a shard written without it)."""
    path = shard / "chunks.jsonl"
    if not path.exists():
        return None
    with open(path, encoding="utf-8") as fh:
        rows = [json.loads(line) for line in fh if line.strip()]
    return iter(rows)


class ShardVectors(EmbeddingCache):
    """An embedding cache answered from the shards' vectors (memory-mapped), falling back to
    ``fallback`` (the usual cache, or ``None``) for texts the shards do not hold.

    Memory: 16 bytes of key and 8 of index per distinct chunk text; the vectors stay on disk
    until the store asks for them.
    """

    def __init__(
        self, shards: Sequence[Path], fingerprint: str, dimension: int, fallback: EmbeddingCache | None
    ) -> None:
        self.path = Path(shards[0]).parent if shards else Path(".")
        self.fingerprint = fingerprint
        self.dimension = dimension
        self.fallback = fallback
        self.misses = 0
        self.hits = 0
        self._vectors = [np.load(s / "vectors.npy", mmap_mode="r", allow_pickle=False) for s in shards]
        keys = [np.load(s / "keys.npy", allow_pickle=False) for s in shards]
        sizes = np.array([len(k) for k in keys], dtype=np.int64)
        self._starts = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        all_keys = np.concatenate(keys) if keys else np.zeros(0, dtype="S16")
        self._order = np.argsort(all_keys, kind="stable")
        self._keys = all_keys[self._order]

    def _lookup(self, texts: Sequence[str]) -> np.ndarray:
        """The global shard row of each text, ``-1`` where absent."""
        if not len(self._keys) or not texts:
            return np.full(len(texts), -1, dtype=np.int64)
        wanted = np.array([text_key(t) for t in texts], dtype="S16")
        pos = np.minimum(np.searchsorted(self._keys, wanted), len(self._keys) - 1)
        found = self._keys[pos] == wanted
        return np.where(found, self._order[pos], -1).astype(np.int64)

    def get(self, fingerprint: str, texts: Sequence[str], dim: int) -> list[np.ndarray | None]:
        """Vectors of ``texts`` from the shards, else from the fallback cache."""
        out: list[np.ndarray | None] = [None] * len(texts)
        if fingerprint == self.fingerprint and dim == self.dimension:
            rows = self._lookup(texts)
            shard_of = np.searchsorted(self._starts, rows, side="right") - 1
            for i in np.flatnonzero(rows >= 0).tolist():
                s = int(shard_of[i])
                out[i] = np.array(self._vectors[s][int(rows[i]) - int(self._starts[s])], dtype=np.float32)
        missing = [i for i, v in enumerate(out) if v is None]
        self.hits += len(texts) - len(missing)
        if missing and self.fallback is not None:
            more = self.fallback.get(fingerprint, [texts[i] for i in missing], dim)
            for i, v in zip(missing, more):
                out[i] = v
        self.misses += sum(1 for v in out if v is None)
        return out

    def put(self, fingerprint: str, texts: Sequence[str], vectors: np.ndarray) -> None:
        """Vectors embedded at commit go to the fallback cache (the shards are read-only)."""
        if self.fallback is not None:
            self.fallback.put(fingerprint, texts, vectors)

    def __len__(self) -> int:
        return len(self._keys)

    def close(self) -> None:
        """Close the fallback cache and release the shards' memory maps."""
        self._vectors = []
        if self.fallback is not None:
            self.fallback.close()
