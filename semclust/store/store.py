"""The :class:`Store`: one folder that wires reading, chunking, embedding, storing and search.

Layout of a store folder::

    manifest.json        format version, model, chunking and index settings, library versions
    store.sqlite         documents, chunks, metadata and the committed generation (WAL mode)
    snapshots/<gen>/     vectors.npy, chunk_ids.npy, doc_seqs.npy, index.json, and index.faiss for
                         an approximate index (see semclust.vectors.snapshot)
    write.lock           held by the one process that may write

Every ``add``/``delete`` builds a new snapshot beside the current one, then commits the SQLite
rows together with the new generation number in one transaction. A crash or ``kill -9`` at any
moment leaves the store at its last committed state; leftovers are cleared by the next writer.
"""

from __future__ import annotations

import datetime as _dt
import json
import os
import time
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semclust._disk import library_versions, now_iso, write_json_atomic
from semclust._types import AddReport, Document, Hit, Hits
from semclust.chunking import Chunk, chunk_document
from semclust.embeddings.base import Embedder, get_embedder
from semclust.embeddings.cache import EmbeddingCache, embed_with_cache
from semclust.errors import (
    EmbeddingMismatchError,
    EmptyInputError,
    EmptyStoreError,
    InputError,
    InvalidArgumentError,
    NotFoundError,
    StoreError,
    StoreFormatError,
    StoreLockedError,
)
from semclust.ingest.readers import Articles, read
from semclust.search.ranking import RelatedMethod, article_similarity, rank_articles, rank_related
from semclust.search.related import DEFAULT_RELATED_K, related_lists
from semclust.store.catalog import Catalog, DocRow, build_filter
from semclust.store.manifest import FORMAT_VERSION, MANIFEST_NAME
from semclust.vectors.snapshot import DEFAULT_INDEX, Snapshot, validate_factory

if TYPE_CHECKING:
    from semclust.themes.result import ThemePrediction, Themes

__all__ = ["AddReport", "Store"]


class Store:
    """A persistent collection of articles with semantic search and related articles.

    Open one with :meth:`Store.open`; it is also a context manager. Reads are safe from several
    threads and processes; one process at a time may write (``add``/``delete``).
    """

    def __init__(
        self,
        path: Path,
        manifest: dict[str, Any],
        catalog: Catalog,
        embedder: Embedder | None,
        cache: EmbeddingCache | None,
        *,
        progress: bool,
        lock_timeout: float,
    ) -> None:
        self.path = path
        self.manifest = manifest
        self._catalog = catalog
        self._embedder = embedder
        self._cache = cache
        self.progress = progress
        self._lock_timeout = lock_timeout
        self._snapshot: Snapshot | None = None
        self._checked_fingerprint = False

    # -- opening ----------------------------------------------------------------------------

    @classmethod
    def open(
        cls,
        path: str | os.PathLike[str],
        *,
        model: str | os.PathLike[str] | Embedder | None = None,
        backend: str | None = None,
        create: bool = True,
        index: str | None = None,
        index_threshold: int | None = None,
        related_k: int = DEFAULT_RELATED_K,
        max_tokens: int | None = None,
        overlap: int = 1,
        title_context: bool = True,
        language: str = "en",
        cache: bool | str | os.PathLike[str] | EmbeddingCache = True,
        progress: bool = False,
        lock_timeout: float = 0.0,
    ) -> Store:
        """Open the store folder at ``path``, creating it if missing (unless ``create=False``).

        Args:
            path: The store folder.
            model: Embedding model name, local path, or an :class:`Embedder`. A new store uses
                it (default: the bundled all-MiniLM-L6-v2); an existing store checks that it is
                the model the store was built with.
            backend: Embedding backend (``"onnx-int8"``, ``"onnx"``, ``"torch"``, ...). A new
                store defaults to ``"auto"`` (:func:`semclust.embeddings.base.default_backend`); an
                existing store uses the backend it was built with, and naming another one is an
                :class:`~semclust.errors.EmbeddingMismatchError` (vectors are never mixed).
            create: Create the store if it does not exist.
            index: FAISS index factory string for a new store (default ``"auto"``: exact
                search while small, HNSW past ``index_threshold`` chunks; see
                :mod:`semclust.vectors.snapshot`).
            index_threshold: Chunks above which ``"auto"`` switches to HNSW (new store only).
            related_k: Related articles precomputed per article after each commit, so
                ``related(doc_id, k)`` with ``k <= related_k`` and no filter is a table lookup
                (new store only; 0 turns it off).
            max_tokens: Chunk token budget (default: the model's limit).
            overlap: Sentences shared by consecutive chunks.
            title_context: Prepend the title to each chunk's embedded text.
            language: Sentence segmentation language.
            cache: ``True`` for the shared on-disk embedding cache, ``False`` for none, a path,
                or an :class:`~semclust.embeddings.cache.EmbeddingCache`.
            progress: Show progress bars on long work.
            lock_timeout: Seconds a write waits for another writer before
                :class:`~semclust.errors.StoreLockedError`.
        """
        root = Path(path).expanduser()
        manifest_path = root / MANIFEST_NAME
        if root.exists() and not root.is_dir():
            raise StoreError(f"{root} exists and is not a store folder")
        if manifest_path.exists():
            manifest = cls._read_manifest(manifest_path)
            stored_model = manifest["model"]
            embedder: Embedder | None = None
            if backend == "auto":  # "whatever the store uses"
                backend = None
            if backend is not None and model is None and backend != stored_model["backend"]:
                model = stored_model["name"]
            if model is not None:
                embedder = get_embedder(model, backend=backend or stored_model["backend"])
                if embedder.fingerprint != stored_model["fingerprint"]:
                    raise EmbeddingMismatchError(
                        f"store {root} was built with model {stored_model['name']!r} on the "
                        f"{stored_model['backend']!r} backend (fingerprint "
                        f"{stored_model['fingerprint']}); {embedder.name!r} on {embedder.backend!r} "
                        "gives other vectors, and a store never mixes the two. Open it without "
                        "model/backend, or re-embed into a new store: `semclust index PATH "
                        f"--store NEW_DIR --model {embedder.name} --backend {embedder.backend}`"
                    )
            if index is not None and index != manifest["index"]["factory"]:
                raise StoreError(
                    f"store {root} uses the index {manifest['index']['factory']!r}; "
                    f"the index kind is fixed when the store is created (asked for {index!r})"
                )
        else:
            if not create:
                raise StoreError(f"no semclust store at {root} (no {MANIFEST_NAME}); create it first")
            if root.exists() and any(root.iterdir()):
                raise StoreError(f"{root} is not empty and is not a semclust store; choose a new folder")
            embedder = get_embedder(model, backend=backend or "auto")
            if related_k < 0:
                raise InvalidArgumentError(f"related_k must be 0 or more, got {related_k}")
            validate_factory(index or DEFAULT_INDEX, embedder.dimension)
            budget = max_tokens if max_tokens is not None else embedder.max_tokens
            if budget < 8:
                raise InvalidArgumentError(f"max_tokens must be at least 8, got {budget}")
            if overlap < 0:
                raise InvalidArgumentError(f"overlap must be 0 or more, got {overlap}")
            manifest = {
                "format_version": FORMAT_VERSION,
                "created": now_iso(),
                "model": {
                    "name": embedder.name,
                    "backend": embedder.backend,
                    "quantization": getattr(embedder, "quantization", None),
                    "dimension": embedder.dimension,
                    "fingerprint": embedder.fingerprint,
                    "max_tokens": embedder.max_tokens,
                },
                "chunking": {
                    "max_tokens": budget,
                    "overlap": overlap,
                    "title_context": title_context,
                    "language": language,
                },
                "index": {
                    "factory": index or DEFAULT_INDEX,
                    "metric": "inner_product",
                    **({"threshold": index_threshold} if index_threshold is not None else {}),
                },
                "related": {"k": related_k, "method": "chunks"},
                "versions": library_versions(),
            }
            root.mkdir(parents=True, exist_ok=True)
            cat = Catalog(root / "store.sqlite")
            cat.create_schema()
            cat.close()
            write_json_atomic(manifest_path, manifest)
        if isinstance(cache, EmbeddingCache):
            emb_cache: EmbeddingCache | None = cache
        elif cache is True:
            emb_cache = EmbeddingCache()
        elif cache is False or cache is None:
            emb_cache = None
        else:
            emb_cache = EmbeddingCache(cache)
        catalog = Catalog(root / "store.sqlite")
        catalog.create_schema()
        store = cls(
            root, manifest, catalog, embedder, emb_cache, progress=progress, lock_timeout=lock_timeout
        )
        store._refresh()
        return store

    @staticmethod
    def _read_manifest(path: Path) -> dict[str, Any]:
        try:
            manifest: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, json.JSONDecodeError) as err:
            raise StoreFormatError(f"{path} is not a readable semclust manifest: {err}") from None
        version = manifest.get("format_version")
        if version != FORMAT_VERSION:
            raise StoreFormatError(
                f"store {path.parent} has format version {version}; this semclust "
                f"({library_versions().get('semclust', '?')}) reads version {FORMAT_VERSION}. Use the "
                "semclust version that wrote it, or index the articles again into a new store"
            )
        for key in ("model", "chunking", "index"):
            if key not in manifest:
                raise StoreFormatError(f"{path} has no {key!r} section; the store is damaged")
        return manifest

    def close(self) -> None:
        """Close the database and cache connections."""
        self._catalog.close()
        if self._cache is not None:
            self._cache.close()

    def __enter__(self) -> Store:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"Store({str(self.path)!r}, articles={len(self)}, model={self.manifest['model']['name']!r})"

    # -- state ------------------------------------------------------------------------------

    @property
    def embedder(self) -> Embedder:
        """The embedding model (loaded on first use) the store was built with."""
        if self._embedder is None:
            m = self.manifest["model"]
            self._embedder = get_embedder(m["name"], backend=m["backend"])
        if not self._checked_fingerprint:
            m = self.manifest["model"]
            if self._embedder.fingerprint != m["fingerprint"]:
                raise EmbeddingMismatchError(
                    f"the model {m['name']!r} found now gives other vectors than the one store "
                    f"{self.path} was built with (fingerprint {self._embedder.fingerprint} != "
                    f"{m['fingerprint']}). Re-embed into a new store: "
                    f"`semclust index PATH --store NEW_DIR`"
                )
            self._checked_fingerprint = True
        return self._embedder

    @property
    def generation(self) -> int:
        """The committed generation; it changes with every ``add`` or ``delete`` that changes
        the store (later stages key their caches on it).
        """
        with self._catalog.read():
            return self._catalog.generation()

    @property
    def dimension(self) -> int:
        """Length of the store's vectors."""
        return int(self.manifest["model"]["dimension"])

    def _snapshots_root(self) -> Path:
        return self.path / "snapshots"

    def _snapshot_at(self, gen: int) -> Snapshot | None:
        """The snapshot of generation ``gen`` (cached), or ``None`` if a writer removed it."""
        current = self._snapshot
        if current is not None and current.generation == gen:
            return current
        try:
            snap = Snapshot.load(self._snapshots_root(), gen, self.dimension)
        except FileNotFoundError:
            return None
        if current is None or current.generation < gen:
            self._snapshot = snap
        return snap

    @contextmanager
    def _view(self) -> Iterator[Snapshot]:
        """A consistent read: one SQLite read transaction and the vector snapshot of the same
        committed generation. Every query runs inside one, so a concurrent commit is never
        half-seen.
        """
        for _ in range(100):
            with self._catalog.read():
                snap = self._snapshot_at(self._catalog.generation())
                if snap is not None:
                    yield snap
                    return
            time.sleep(0.02)  # a writer committed and removed that snapshot meanwhile
        raise StoreFormatError(f"the vector snapshot of store {self.path} is missing; the store is damaged")

    def _refresh(self) -> Snapshot:
        """The latest committed snapshot."""
        with self._view() as snap:
            return snap

    def __len__(self) -> int:
        with self._catalog.read():
            return self._catalog.counts()["articles"]

    def __contains__(self, doc_id: object) -> bool:
        if not isinstance(doc_id, str):
            return False
        with self._catalog.read():
            return doc_id in self._catalog.get_many([doc_id])

    def ids(self) -> list[str]:
        """All article ids, in the order they were first added."""
        with self._catalog.read():
            return self._catalog.doc_ids()

    def get(self, doc_id: str) -> Document:
        """The stored article ``doc_id``; :class:`~semclust.errors.NotFoundError` if unknown."""
        with self._catalog.read():
            return self._row(doc_id).doc

    def documents(self) -> list[Document]:
        """All stored articles, in insertion order."""
        with self._catalog.read():
            return [r.doc for r in self._catalog.iter_docs()]

    def duplicate_of(self, doc_id: str) -> str | None:
        """The id of the article whose text ``doc_id`` repeats, or ``None``."""
        with self._catalog.read():
            return self._row(doc_id).duplicate_of

    def _row(self, doc_id: str) -> DocRow:
        row = self._catalog.get_many([doc_id]).get(doc_id)
        if row is None:
            raise NotFoundError(f"no article with id {doc_id!r} in store {self.path}")
        return row

    def info(self) -> dict[str, Any]:
        """Counts, model, chunking and index settings, as a JSON-serialisable dict."""
        with self._view() as snap:
            counts = self._catalog.counts()
            gen = self._catalog.generation()
            index_state = snap.index_info
        size = sum(f.stat().st_size for f in self.path.rglob("*") if f.is_file())
        return {
            "path": str(self.path),
            **counts,
            "generation": gen,
            "model": self.manifest["model"],
            "chunking": self.manifest["chunking"],
            "index": self.manifest["index"],
            "index_state": index_state,
            "related": {"k": self.related_k, "method": "chunks"},
            "format_version": self.manifest["format_version"],
            "versions": self.manifest["versions"],
            "bytes_on_disk": size,
        }

    def chunks(self, doc_id: str) -> list[Chunk]:
        """The chunks of article ``doc_id`` as stored (text, offsets, title context)."""
        with self._catalog.read():
            row = self._row(doc_id)
            if row.duplicate_of is not None:
                row = self._row(row.duplicate_of)
            spans = self._catalog.chunk_spans([row.seq])
        title_context = bool(self.manifest["chunking"]["title_context"])
        doc = row.doc
        return [
            Chunk(doc_id, idx, doc.text[s:e], s, e, doc.title, title_context and bool(doc.title))
            for _, (idx, s, e) in sorted(spans.items())
        ]

    def embeddings(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """The chunk embedding matrix, for later stages that must not re-embed.

        Returns:
            ``(vectors, chunk_ids, doc_ids)``: an ``(n_chunks, dim)`` read-only float32 array
            (memory-mapped), the chunk id of each row, and the article id of each row.
        """
        with self._view() as snap:
            rows = self._catalog.by_seq(snap.seqs())
        doc_ids = [rows[int(s)].doc.id for s in snap.doc_seqs.tolist()]
        return snap.vectors, snap.chunk_ids, doc_ids

    # -- writing ----------------------------------------------------------------------------

    def _write_lock(self) -> Any:
        from filelock import FileLock, Timeout

        lock = FileLock(str(self.path / "write.lock"), timeout=self._lock_timeout)
        try:
            lock.acquire()
        except Timeout:
            raise StoreLockedError(
                f"another process is writing to store {self.path} (lock {self.path / 'write.lock'}); "
                "wait for it to finish and try again"
            ) from None
        return lock

    def add(
        self,
        docs: Articles | Iterable[Document | Mapping[str, Any] | str] | str | os.PathLike[str],
        *,
        progress: bool | None = None,
    ) -> AddReport:
        """Add or update articles (an upsert by id) and commit atomically.

        Args:
            docs: What :func:`semclust.read` returns, an iterable of documents/dicts/strings,
                or a path to read.
            progress: Show progress bars (default: the store's setting).

        The same id again replaces the article (re-embedding only if its text or title
        changed); the same text under a new id is recorded as a duplicate of the first article
        and not indexed twice. Nothing is written if anything fails.
        """
        started = time.perf_counter()
        articles = docs if isinstance(docs, Articles) else read(docs)  # type: ignore[arg-type]
        incoming: dict[str, Document] = {}
        for doc in articles:
            incoming[doc.id] = doc  # the last version of an id wins
        report = AddReport(skipped=list(articles.skipped))
        report.timings["read"] = time.perf_counter() - started
        if not incoming:
            raise EmptyInputError(
                "no articles to add" + (f" ({len(report.skipped)} skipped)" if report.skipped else "")
            )
        for doc in incoming.values():
            _check_metadata(doc)
        lock = self._write_lock()
        try:
            self._apply(incoming, set(), report, progress=self.progress if progress is None else progress)
        finally:
            lock.release()
        report.seconds = time.perf_counter() - started
        return report

    def delete(self, ids: str | Iterable[str]) -> AddReport:
        """Delete articles by id and commit atomically; unknown ids raise ``NotFoundError``
        and delete nothing. A duplicate of a deleted article takes its place.
        """
        started = time.perf_counter()
        wanted = [ids] if isinstance(ids, str) else list(dict.fromkeys(ids))
        if not wanted:
            raise InvalidArgumentError("no ids given to delete")
        report = AddReport()
        lock = self._write_lock()
        try:
            with self._catalog.read():
                known = self._catalog.get_many(wanted)
            missing = [i for i in wanted if i not in known]
            if missing:
                raise NotFoundError(
                    f"no article with id {', '.join(map(repr, missing[:5]))} in store {self.path}; "
                    "nothing deleted"
                )
            self._apply({}, set(wanted), report, progress=self.progress)
        finally:
            lock.release()
        report.seconds = time.perf_counter() - started
        return report

    def _apply(
        self, upserts: dict[str, Document], deletes: set[str], report: AddReport, *, progress: bool
    ) -> None:
        """Plan, embed, write a new snapshot, then commit rows and generation together."""
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            report.timings[stage] = report.timings.get(stage, 0.0) + now - clock
            clock = now

        cat = self._catalog
        snap = self._refresh()
        with cat.read():
            existing = cat.get_many([*upserts, *deletes])
            gen = cat.generation()
            next_chunk = int(cat.state("next_chunk_id", "1") or 1)
            gone = set(deletes)  # ids whose current text leaves the store or changes
            for doc_id, doc in upserts.items():
                old = existing.get(doc_id)
                if old is not None and (old.text_hash != doc.text_hash or old.doc.title != doc.title):
                    gone.add(doc_id)
            to_index: list[Document] = []
            rows_out: list[tuple[Document, str | None, str]] = []  # (doc, duplicate_of, what)
            canon_in_batch: dict[str, str] = {}
            for doc_id, doc in upserts.items():
                old = existing.get(doc_id)
                if old is not None and doc_id not in gone:
                    if old.doc == doc:
                        report.unchanged.append(doc_id)
                    else:
                        rows_out.append((doc, old.duplicate_of, "meta"))
                        report.updated.append(doc_id)
                    continue
                h = doc.text_hash
                canon = canon_in_batch.get(h) or cat.canonical_with_hash(h, exclude=gone | {doc_id})
                if canon is not None:
                    rows_out.append((doc, canon, "dup"))
                    report.duplicates[doc_id] = canon
                else:
                    canon_in_batch[h] = doc_id
                    rows_out.append((doc, None, "index"))
                    to_index.append(doc)
                (report.updated if old is not None else report.added).append(doc_id)
            # Articles whose text goes away hand their role to their oldest duplicate.
            relink: dict[str, str] = {}
            promoted: list[DocRow] = []
            for doc_id in sorted(gone):
                old = existing.get(doc_id)
                if old is None or old.duplicate_of is not None:
                    continue
                dups = [d for d in cat.duplicates_of(doc_id) if d not in gone and d not in upserts]
                if not dups:
                    continue
                heir = canon_in_batch.get(old.text_hash)
                if heir is None:
                    heir_row = cat.get_many([dups[0]])[dups[0]]
                    promoted.append(heir_row)
                    to_index.append(heir_row.doc)
                    heir = heir_row.doc.id
                    dups = dups[1:]
                for d in dups:
                    relink[d] = heir
            removed_seqs = {existing[i].seq for i in gone if i in existing}
            removed_seqs |= {p.seq for p in promoted}

        chunk_cfg = self.manifest["chunking"]
        new_chunks: list[Chunk] = []
        lap("plan")
        if to_index:
            embedder = self.embedder
            from tqdm.auto import tqdm

            for doc in tqdm(to_index, desc="chunking", unit="doc", disable=not progress):
                new_chunks.extend(
                    chunk_document(
                        doc,
                        embedder.tokenizer,
                        max_tokens=int(chunk_cfg["max_tokens"]),
                        overlap=int(chunk_cfg["overlap"]),
                        title_context=bool(chunk_cfg["title_context"]),
                        language=str(chunk_cfg["language"]),
                    )
                )
            lap("chunk")
            vectors, report.embedded = embed_with_cache(
                embedder, [c.embed_text for c in new_chunks], self._cache, progress=progress
            )
            lap("embed")
        else:
            vectors = np.zeros((0, self.dimension), dtype=np.float32)
        report.chunks = len(new_chunks)
        if not rows_out and not deletes and not promoted:
            return  # nothing changed

        with cat.write():
            if cat.generation() != gen:  # pragma: no cover - the write lock prevents this
                raise StoreError("the store changed during the write; try again")
            now = now_iso()
            db = cat.db
            seq_of: dict[str, int] = {}
            for doc_id in deletes:
                row = existing[doc_id]
                db.execute("DELETE FROM chunks WHERE seq = ?", (row.seq,))
                db.execute("DELETE FROM docs WHERE seq = ?", (row.seq,))
                report.deleted.append(doc_id)
            for doc, dup_of, what in rows_out:
                old = existing.get(doc.id)
                values = (
                    doc.title,
                    doc.text,
                    doc.url,
                    doc.published,
                    doc.source,
                    json.dumps(dict(doc.metadata), sort_keys=True, ensure_ascii=False),
                    doc.text_hash,
                    dup_of,
                    now,
                )
                if old is not None:
                    if what != "meta":
                        db.execute("DELETE FROM chunks WHERE seq = ?", (old.seq,))
                    db.execute(
                        "UPDATE docs SET title=?, text=?, url=?, published=?, source=?, metadata=?, "
                        "text_hash=?, duplicate_of=?, updated_at=? WHERE seq=?",
                        (*values, old.seq),
                    )
                    seq_of[doc.id] = old.seq
                else:
                    cur = db.execute(
                        "INSERT INTO docs (doc_id, title, text, url, published, source, metadata, "
                        "text_hash, duplicate_of, updated_at, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
                        (doc.id, *values, now),
                    )
                    seq_of[doc.id] = int(cur.lastrowid or 0)
            for p in promoted:
                db.execute("DELETE FROM chunks WHERE seq = ?", (p.seq,))
                db.execute("UPDATE docs SET duplicate_of = NULL, updated_at = ? WHERE seq = ?", (now, p.seq))
                seq_of[p.doc.id] = p.seq
            for d, heir in relink.items():
                db.execute("UPDATE docs SET duplicate_of = ? WHERE doc_id = ?", (heir, d))
            chunk_ids = np.arange(next_chunk, next_chunk + len(new_chunks), dtype=np.int64)
            new_seqs = np.array([seq_of[c.doc_id] for c in new_chunks], dtype=np.int64)
            db.executemany(
                "INSERT INTO chunks (chunk_id, seq, idx, start_char, end_char) VALUES (?,?,?,?,?)",
                [
                    (int(cid), int(s), c.index, c.start, c.end)
                    for cid, s, c in zip(chunk_ids.tolist(), new_seqs.tolist(), new_chunks)
                ],
            )
            keep = ~np.isin(snap.doc_seqs, np.fromiter(removed_seqs, dtype=np.int64, count=len(removed_seqs)))
            all_vectors = np.concatenate([np.asarray(snap.vectors)[keep], vectors])
            all_ids = np.concatenate([snap.chunk_ids[keep], chunk_ids])
            all_seqs = np.concatenate([snap.doc_seqs[keep], new_seqs])
            new_gen = gen + 1  # never reused, so later stages can key caches on it
            Snapshot.write(
                self._snapshots_root(),
                new_gen,
                all_vectors,
                all_ids,
                all_seqs,
                str(self.manifest["index"]["factory"]),
                base=snap,
                auto_threshold=self.manifest["index"].get("threshold"),
                progress=progress,
            )
            new_snap = Snapshot.load(self._snapshots_root(), new_gen, self.dimension)
            lap("write")
            self._update_related(new_snap, set(new_seqs.tolist()), removed_seqs)
            lap("related")
            cat.set_state("generation", new_gen)
            cat.set_state("next_chunk_id", next_chunk + len(new_chunks))
        # Committed. Old snapshots are no longer needed (open readers keep their mapped files).
        Snapshot.remove_others(self._snapshots_root(), new_gen)
        current = self._snapshot
        if current is None or current.generation < new_gen:
            self._snapshot = new_snap  # readers of this Store need not open it again
        self._refresh()
        lap("commit")

    @property
    def related_k(self) -> int:
        """Related articles precomputed per article (0: none)."""
        return int(self.manifest.get("related", {}).get("k", DEFAULT_RELATED_K))

    def _update_related(self, snap: Snapshot, changed: set[int], removed: set[int]) -> None:
        """Refresh the related lists that the commit of ``snap`` can change (inside the write)."""
        k = self.related_k
        cat = self._catalog
        if k <= 0:
            return
        articles = snap.seqs()
        if cat.state("related_k") != str(k) or len(changed) > len(articles) // 2:
            lists = related_lists(snap, articles, k)
            cat.clear_related()
        else:
            near: set[int] = set()
            lists = related_lists(snap, changed, k, neighbours=near)
            stale = (near | cat.listing(removed | changed)) - changed - removed
            lists.update(related_lists(snap, stale, k))
        cat.replace_related(
            removed | changed,
            {seq: (o.tolist(), s.tolist(), snap.chunk_ids[r].tolist()) for seq, (o, s, r) in lists.items()},
        )
        cat.set_state("related_k", k)

    def _listed_related(self, snap: Snapshot, seq: int, k: int) -> list[tuple[int, float, int]] | None:
        """``seq``'s precomputed related list as ``(seq, score, row)``, or ``None`` if there is
        none to answer ``k`` from.
        """
        if k > self.related_k or self._catalog.state("related_k") != str(self.related_k):
            return None
        listed = self._catalog.related_of(seq, k)
        if not listed:
            return None
        cids = np.array([c for _, _, c in listed], dtype=np.int64)
        rows = np.minimum(np.searchsorted(snap.chunk_ids, cids), snap.size - 1)
        if not np.array_equal(snap.chunk_ids[rows], cids):
            return None  # not this snapshot's chunks (should not happen): answer live
        return [(o, s, int(r)) for (o, s, _), r in zip(listed, rows.tolist())]

    # -- querying ---------------------------------------------------------------------------

    @staticmethod
    def _filter_condition(
        filters: Mapping[str, Any] | None,
        field_filters: Mapping[str, Any],
        since: str | _dt.date | None,
        until: str | _dt.date | None,
    ) -> tuple[str, list[Any]] | None:
        """The SQL condition of the filters (``None`` for no filter); bad filters fail here,
        before any embedding or search work.
        """
        merged = {**(filters or {}), **field_filters}
        if not merged and since is None and until is None:
            return None
        return build_filter(merged, since=since, until=until)

    def _allowed_rows(self, snap: Snapshot, condition: tuple[str, list[Any]] | None) -> np.ndarray | None:
        if condition is None:
            return None
        return snap.rows_for_seqs(self._catalog.filtered_seqs(*condition))

    def _hits(self, snap: Snapshot, ranked: list[tuple[int, float, int]], query: str, kind: str) -> Hits:
        rows = self._catalog.by_seq([seq for seq, _, _ in ranked])
        spans = self._catalog.chunks_by_id([int(snap.chunk_ids[r]) for _, _, r in ranked])
        hits = []
        for seq, score, r in ranked:
            doc = rows[seq].doc
            _, _, start, end = spans[int(snap.chunk_ids[r])]
            hits.append(
                Hit(
                    doc_id=doc.id,
                    title=doc.title,
                    score=round(score, 6),
                    passage=doc.text[start:end],
                    start=start,
                    end=end,
                    url=doc.url,
                    source=doc.source,
                    published=doc.published,
                    metadata=dict(doc.metadata),
                )
            )
        return Hits(hits, query=query, kind=kind, generation=snap.generation)

    def search(
        self,
        query: str,
        k: int = 10,
        *,
        filters: Mapping[str, Any] | None = None,
        since: str | _dt.date | None = None,
        until: str | _dt.date | None = None,
        **field_filters: Any,
    ) -> Hits:
        """The ``k`` articles that best match ``query``, best first.

        Args:
            query: Free text.
            k: Number of articles wanted (at least 1).
            filters: Metadata filters (see :func:`semclust.store.catalog.build_filter`), applied
                before ranking.
            since: Only articles published on or after this ISO date.
            until: Only articles published on or before this ISO date.
            **field_filters: More filters as keywords, e.g. ``source="Reuters"``.

        Returns:
            :class:`Hits`, one per article: score of its best chunk and that chunk as passage.
        """
        _check_k(k)
        if not isinstance(query, str) or not query.strip():
            raise InvalidArgumentError("the query is empty; give some text to search for")
        condition = self._filter_condition(filters, field_filters, since, until)
        qvec = self.embedder.embed([query])[0]
        with self._view() as snap:
            self._check_nonempty(snap)
            allowed = self._allowed_rows(snap, condition)
            ranked = rank_articles(snap, qvec, k, allowed)
            return self._hits(snap, ranked, query, "search")

    def related(
        self,
        doc_id: str,
        k: int = 10,
        *,
        method: RelatedMethod = "chunks",
        filters: Mapping[str, Any] | None = None,
        since: str | _dt.date | None = None,
        until: str | _dt.date | None = None,
        **field_filters: Any,
    ) -> Hits:
        """The ``k`` articles most similar to article ``doc_id``, excluding it and its duplicates.

        Args:
            doc_id: A stored article's id.
            k: Number of articles wanted.
            method: ``"chunks"`` (compare chunk by chunk) or ``"centroid"`` (mean vectors).
            filters, since, until, field_filters: As for :meth:`search`.
        """
        _check_k(k)
        if method not in ("chunks", "centroid"):
            raise InvalidArgumentError(f"method must be 'chunks' or 'centroid', got {method!r}")
        condition = self._filter_condition(filters, field_filters, since, until)
        with self._view() as snap:
            self._check_nonempty(snap)
            row = self._row(doc_id)
            canonical = self._row(row.duplicate_of) if row.duplicate_of else row
            if method == "chunks" and condition is None:
                listed = self._listed_related(snap, canonical.seq, k)
                if listed is not None:
                    return self._hits(snap, listed, doc_id, "related")
            allowed = self._allowed_rows(snap, condition)
            vectors = np.asarray(snap.vectors[snap.rows_of(canonical.seq)])
            ranked = rank_related(
                snap, vectors, k, exclude=frozenset({canonical.seq}), allowed_rows=allowed, method=method
            )
            return self._hits(snap, ranked, doc_id, "related")

    def similarity(self, a: str, b: str, *, method: RelatedMethod = "chunks") -> float:
        """Cosine similarity of two articles or texts; each of ``a`` and ``b`` is a stored
        article id or else a text (chunked and embedded like an article).
        """
        return article_similarity(self.article_vectors(a), self.article_vectors(b), method)

    def article_vectors(self, item: str) -> np.ndarray:
        """The chunk vectors of a stored article (by id; a duplicate gives its canonical's),
        or of a text, chunked and embedded like an article (through the embedding cache).
        """
        if not isinstance(item, str) or not item.strip():
            raise InvalidArgumentError("expected an article id or a non-empty text")
        with self._view() as snap:
            row = self._catalog.get_many([item]).get(item)
            if row is not None and row.duplicate_of:
                row = self._row(row.duplicate_of)
            if row is not None:
                return np.asarray(snap.vectors[snap.rows_of(row.seq)])
        cfg = self.manifest["chunking"]
        chunks = chunk_document(
            Document(id="<text>", text=item.strip()),
            self.embedder.tokenizer,
            max_tokens=int(cfg["max_tokens"]),
            overlap=int(cfg["overlap"]),
            title_context=False,
            language=str(cfg["language"]),
        )
        vecs, _ = embed_with_cache(self.embedder, [c.embed_text for c in chunks], self._cache)
        return vecs

    # -- themes -----------------------------------------------------------------------------

    def themes(self, *, refit: bool = False, progress: bool | None = None, **params: Any) -> Themes:
        """The store's themes: fitted on its article vectors the first time, then loaded from
        the store until the corpus changes (a refit keeps theme ids stable). ``params`` go to
        :class:`semclust.themes.model.ThemeModel`. Needs ``pip install 'semclust[themes]'``.
        """
        from semclust.store.themes import store_themes

        return store_themes(
            self, refit=refit, progress=self.progress if progress is None else progress, **params
        )

    def theme_of(self, text_or_doc_id: str, **kwargs: Any) -> ThemePrediction:
        """The theme(s) of a stored article (by id) or of a new text, or "no theme" when it is
        far from all of them; consistent with the fit. Saved themes are used as they are (never
        refitted here, so no UMAP runs); themes are fitted only if the store has none yet.
        """
        from semclust.store.themes import theme_of

        return theme_of(self, text_or_doc_id, **kwargs)

    def _check_nonempty(self, snap: Snapshot) -> None:
        if snap.size == 0:
            raise EmptyStoreError(
                f"store {self.path} has no articles yet; add some first (semclust index PATH --store DIR)"
            )


def _check_k(k: object) -> None:
    if isinstance(k, bool) or not isinstance(k, int) or k < 1:
        raise InvalidArgumentError(f"k must be a whole number of at least 1, got {k!r}")


def _check_metadata(doc: Document) -> None:
    for key, value in doc.metadata.items():
        try:
            json.dumps(value)
        except (TypeError, ValueError):
            raise InputError(
                f"article {doc.id!r}: metadata must be JSON values (str, number, bool, list, dict), "
                f"got {type(value).__name__}",
                field=key,
            ) from None
