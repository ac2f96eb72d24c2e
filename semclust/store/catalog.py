"""The SQLite side of a store: documents, chunks, related lists and the committed generation.

The database is the source of truth for what is committed. It records the *generation* of the
vector snapshot that matches its rows; a write builds the new snapshot first and then commits the
rows and the new generation in one SQLite transaction, so a crash at any point leaves the last
committed state. Every SQL statement of the store lives in this module (the filter conditions
are built by :mod:`semclust.store.filters`).
"""

from __future__ import annotations

import json
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semclust._types import Document
from semclust.errors import StoreFormatError
from semclust.store.filters import NUMBER_SQL_FUNCTION, Condition, as_number

__all__ = ["BUSY_TIMEOUT_S", "CATALOG_NAME", "Catalog", "DocRow", "NewChunk"]

#: The catalog's file name inside a store folder.
CATALOG_NAME = "store.sqlite"

#: Seconds a connection waits for another connection's write lock before SQLite gives up.
#: Writers are already serialised by the store's ``write.lock`` and WAL readers never wait on a
#: writer, so this only covers checkpoints and a second process' brief schema set-up. (The
#: embedding cache, a separate database shared by every store, has its own timeout.)
BUSY_TIMEOUT_S = 30.0

#: Parameters per statement when looking up many keys (SQLite's limit is 999 on old builds).
_IN_PART = 500

#: Tables every store's catalog has (a file without them is not a store's catalog).
_TABLES = frozenset({"docs", "chunks", "state", "related"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS docs (
    seq INTEGER PRIMARY KEY,
    doc_id TEXT NOT NULL UNIQUE,
    title TEXT NOT NULL,
    text TEXT NOT NULL,
    url TEXT,
    published TEXT,
    source TEXT,
    metadata TEXT NOT NULL DEFAULT '{}',
    text_hash TEXT NOT NULL,
    duplicate_of TEXT,
    added_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS docs_text_hash ON docs(text_hash);
CREATE INDEX IF NOT EXISTS docs_published ON docs(published);
CREATE INDEX IF NOT EXISTS docs_source ON docs(source);
CREATE INDEX IF NOT EXISTS docs_duplicate_of ON docs(duplicate_of);
CREATE TABLE IF NOT EXISTS chunks (
    chunk_id INTEGER PRIMARY KEY,
    seq INTEGER NOT NULL,
    idx INTEGER NOT NULL,
    start_char INTEGER NOT NULL,
    end_char INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS chunks_seq ON chunks(seq);
CREATE TABLE IF NOT EXISTS state (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS related (
    seq INTEGER NOT NULL,
    rank INTEGER NOT NULL,
    other INTEGER NOT NULL,
    score REAL NOT NULL,
    chunk_id INTEGER NOT NULL,
    PRIMARY KEY (seq, rank)
) WITHOUT ROWID;
CREATE INDEX IF NOT EXISTS related_other ON related(other);
"""


@dataclass(frozen=True)
class DocRow:
    """A document as stored, with its integer key and duplicate link."""

    seq: int
    doc: Document
    text_hash: str
    duplicate_of: str | None


@dataclass(frozen=True)
class NewChunk:
    """A chunk row to insert: its id, its article's key, its index and character span."""

    chunk_id: int
    seq: int
    index: int
    start: int
    end: int


class Catalog:
    """Documents and chunks in SQLite (WAL mode: one writer, many readers)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._local = threading.local()
        self._all: list[sqlite3.Connection] = []
        self._all_lock = threading.Lock()
        self.db  # noqa: B018 - open (and check) the calling thread's connection now

    @property
    def db(self) -> sqlite3.Connection:
        """The calling thread's connection (one per thread, so reads never wait on a lock)."""
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            try:
                conn = sqlite3.connect(
                    self.path, timeout=BUSY_TIMEOUT_S, isolation_level=None, check_same_thread=False
                )
                conn.row_factory = sqlite3.Row
                conn.create_function(NUMBER_SQL_FUNCTION, 1, as_number, deterministic=True)
                conn.execute("PRAGMA journal_mode=WAL")
                conn.execute("PRAGMA synchronous=FULL")
            except sqlite3.DatabaseError as err:
                raise StoreFormatError(f"{self.path} is not a readable semclust database: {err}") from None
            self._local.conn = conn
            self._local.depth = 0
            with self._all_lock:
                self._all.append(conn)
        return conn

    def create_schema(self) -> None:
        """Create the tables if they do not exist."""
        self.db.executescript(_SCHEMA)

    def check_schema(self) -> None:
        """Raise :class:`~semclust.errors.StoreFormatError` unless this file holds a store's
        tables (a lost, emptied or truncated catalog is never taken for an empty store).
        """
        try:
            names = {str(r[0]) for r in self.db.execute("SELECT name FROM sqlite_master WHERE type='table'")}
            missing = sorted(_TABLES - names)
            if missing:
                raise StoreFormatError(
                    f"{self.path} has no {', '.join(missing)} table(s): the store's catalog is missing, "
                    "empty or truncated, so its articles cannot be read. Restore the file from a backup, "
                    "or index the articles again into a new store"
                )
            for table in ("docs", "chunks"):  # their last pages: a truncated file has lost them
                self.db.execute(f"SELECT * FROM {table} ORDER BY rowid DESC LIMIT 1").fetchone()
        except sqlite3.DatabaseError as err:
            raise StoreFormatError(f"{self.path} is damaged ({err}); restore it from a backup") from None

    def close(self) -> None:
        """Close every thread's connection."""
        with self._all_lock:
            for conn in self._all:
                conn.close()
            self._all.clear()
        self._local = threading.local()

    @contextmanager
    def read(self) -> Iterator[sqlite3.Connection]:
        """A read transaction: every query inside sees one committed state (re-entrant)."""
        db = self.db
        if self._local.depth:
            self._local.depth += 1
            try:
                yield db
            finally:
                self._local.depth -= 1
            return
        db.execute("BEGIN")
        self._local.depth = 1
        try:
            yield db
        finally:
            self._local.depth = 0
            db.execute("COMMIT")

    @contextmanager
    def write(self) -> Iterator[sqlite3.Connection]:
        """A write transaction, committed on success and rolled back on any error."""
        db = self.db
        db.execute("BEGIN IMMEDIATE")
        self._local.depth = 1
        try:
            yield db
        except BaseException:
            db.execute("ROLLBACK")
            raise
        finally:
            self._local.depth = 0
        db.execute("COMMIT")

    # -- queries (call inside read() or write()) -----------------------------------------

    def _row_to_doc(self, row: sqlite3.Row) -> DocRow:
        try:
            metadata = json.loads(row["metadata"])
        except (TypeError, ValueError) as err:
            raise StoreFormatError(
                f"{self.path}: article {row['doc_id']!r} has metadata that is not JSON ({err}); "
                "the catalog is damaged: add the article again to rewrite it"
            ) from None
        if not isinstance(metadata, dict):
            raise StoreFormatError(
                f"{self.path}: article {row['doc_id']!r} has metadata that is not a JSON object; "
                "the catalog is damaged: add the article again to rewrite it"
            )
        doc = Document(
            id=row["doc_id"],
            text=row["text"],
            title=row["title"],
            url=row["url"],
            published=row["published"],
            source=row["source"],
            metadata=metadata,
        )
        return DocRow(int(row["seq"]), doc, row["text_hash"], row["duplicate_of"])

    def _int_state(self, key: str, default: int) -> int:
        value = self.state(key)
        if value is None:
            return default
        try:
            return int(value)
        except ValueError:
            raise StoreFormatError(
                f"{self.path}: the state {key!r} is {value!r}, not a whole number; the catalog is damaged"
            ) from None

    def generation(self) -> int:
        """The committed snapshot generation (0 for an empty store)."""
        return self._int_state("generation", 0)

    def next_chunk_id(self) -> int:
        """The first chunk id the next write may use (chunk ids are never reused)."""
        return self._int_state("next_chunk_id", 1)

    def state(self, key: str, default: str | None = None) -> str | None:
        """A value from the state table."""
        row = self.db.execute("SELECT value FROM state WHERE key = ?", (key,)).fetchone()
        return str(row[0]) if row else default

    def set_state(self, key: str, value: str | int) -> None:
        """Set a value in the state table."""
        self.db.execute("INSERT OR REPLACE INTO state VALUES (?, ?)", (key, str(value)))

    def counts(self) -> dict[str, int]:
        """Numbers of articles, duplicates and chunks."""
        docs, dups = self.db.execute(
            "SELECT COUNT(*), COALESCE(SUM(duplicate_of IS NOT NULL), 0) FROM docs"
        ).fetchone()
        chunks = self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0]
        return {"articles": int(docs), "duplicates": int(dups), "chunks": int(chunks)}

    def chunk_count(self) -> int:
        """Number of chunk rows (one per row of the committed snapshot)."""
        return int(self.db.execute("SELECT COUNT(*) FROM chunks").fetchone()[0])

    def _in_parts(self, sql: str, values: Iterable[Any]) -> Iterator[sqlite3.Row]:
        """Run ``sql`` (with one ``IN ({})`` placeholder) over the distinct ``values``, a part at
        a time (SQLite limits the number of parameters of one statement).
        """
        uniq = list(dict.fromkeys(values))
        for i in range(0, len(uniq), _IN_PART):
            part = uniq[i : i + _IN_PART]
            yield from self.db.execute(sql.format(",".join("?" * len(part))), part)

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, DocRow]:
        """Rows for the given ids (unknown ids are absent)."""
        rows = self._in_parts("SELECT * FROM docs WHERE doc_id IN ({})", doc_ids)
        return {d.doc.id: d for d in map(self._row_to_doc, rows)}

    def by_seq(self, seqs: Sequence[int]) -> dict[int, DocRow]:
        """Rows by integer key."""
        rows = self._in_parts("SELECT * FROM docs WHERE seq IN ({})", (int(s) for s in seqs))
        return {d.seq: d for d in map(self._row_to_doc, rows)}

    def ids_by_seq(self, seqs: Iterable[int]) -> dict[int, str]:
        """Article ids by integer key (unknown keys are absent)."""
        rows = self._in_parts("SELECT seq, doc_id FROM docs WHERE seq IN ({})", (int(s) for s in seqs))
        return {int(seq): str(doc_id) for seq, doc_id in rows}

    def canonical_with_hash(self, text_hash: str, exclude: set[str]) -> str | None:
        """The id of a non-duplicate article with this text hash, ignoring ``exclude``."""
        for (doc_id,) in self.db.execute(
            "SELECT doc_id FROM docs WHERE text_hash = ? AND duplicate_of IS NULL ORDER BY seq",
            (text_hash,),
        ):
            if doc_id not in exclude:
                return str(doc_id)
        return None

    def duplicates_of(self, doc_id: str) -> list[str]:
        """Ids recorded as duplicates of ``doc_id``, oldest first."""
        rows = self.db.execute("SELECT doc_id FROM docs WHERE duplicate_of = ? ORDER BY seq", (doc_id,))
        return [str(r[0]) for r in rows]

    def chunk_spans(self, seqs: Sequence[int]) -> dict[int, tuple[int, int, int]]:
        """``chunk_id -> (idx, start, end)`` for the chunks of the given articles."""
        sql = "SELECT chunk_id, idx, start_char, end_char FROM chunks WHERE seq IN ({})"
        return {
            int(cid): (int(idx), int(s), int(e))
            for cid, idx, s, e in self._in_parts(sql, (int(x) for x in seqs))
        }

    def chunks_by_id(self, chunk_ids: Sequence[int]) -> dict[int, tuple[int, int, int, int]]:
        """``chunk_id -> (seq, idx, start, end)``."""
        sql = "SELECT chunk_id, seq, idx, start_char, end_char FROM chunks WHERE chunk_id IN ({})"
        return {
            int(cid): (int(seq), int(idx), int(s), int(e))
            for cid, seq, idx, s, e in self._in_parts(sql, (int(c) for c in chunk_ids))
        }

    def related_of(self, seq: int, k: int) -> list[tuple[int, float, int]]:
        """The precomputed related list of an article: ``(seq, score, chunk_id)``, best first."""
        rows = self.db.execute(
            "SELECT other, score, chunk_id FROM related WHERE seq = ? ORDER BY rank LIMIT ?", (seq, k)
        )
        return [(int(o), float(s), int(c)) for o, s, c in rows]

    def related_rows(self) -> int:
        """Number of rows in the related lists (all articles together)."""
        return int(self.db.execute("SELECT COUNT(*) FROM related").fetchone()[0])

    def listing(self, seqs: Iterable[int]) -> set[int]:
        """Articles whose related list names any of ``seqs``."""
        sql = "SELECT DISTINCT seq FROM related WHERE other IN ({})"
        return {int(r[0]) for r in self._in_parts(sql, (int(s) for s in seqs))}

    def filtered_seqs(self, condition: Condition) -> list[int]:
        """Keys of the non-duplicate articles matching a :mod:`semclust.store.filters` condition."""
        where, params = condition
        q = f"SELECT seq FROM docs WHERE duplicate_of IS NULL AND ({where})"
        return [int(r[0]) for r in self.db.execute(q, params)]

    def doc_ids(self) -> list[str]:
        """All article ids, in insertion order."""
        return [str(r[0]) for r in self.db.execute("SELECT doc_id FROM docs ORDER BY seq")]

    def iter_docs(self) -> Iterator[DocRow]:
        """All stored articles, in insertion order."""
        for row in self.db.execute("SELECT * FROM docs ORDER BY seq"):
            yield self._row_to_doc(row)

    # -- changes (call inside write()) ---------------------------------------------------

    def delete_article(self, seq: int) -> None:
        """Delete an article and its chunks."""
        self.delete_chunks(seq)
        self.db.execute("DELETE FROM docs WHERE seq = ?", (seq,))

    def delete_chunks(self, seq: int) -> None:
        """Delete an article's chunk rows (before it is chunked again)."""
        self.db.execute("DELETE FROM chunks WHERE seq = ?", (seq,))

    @staticmethod
    def _doc_values(doc: Document, duplicate_of: str | None, now: str) -> tuple[Any, ...]:
        metadata = json.dumps(dict(doc.metadata), sort_keys=True, ensure_ascii=False, allow_nan=False)
        fields = (doc.title, doc.text, doc.url, doc.published, doc.source)
        return (*fields, metadata, doc.text_hash, duplicate_of, now)

    def insert_doc(self, doc: Document, duplicate_of: str | None, now: str) -> int:
        """Insert a new article row; returns its key."""
        cur = self.db.execute(
            "INSERT INTO docs (title, text, url, published, source, metadata, text_hash, duplicate_of, "
            "updated_at, doc_id, added_at) VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            (*self._doc_values(doc, duplicate_of, now), doc.id, now),
        )
        return int(cur.lastrowid or 0)

    def update_doc(self, seq: int, doc: Document, duplicate_of: str | None, now: str) -> None:
        """Replace the stored fields of the article with key ``seq``."""
        self.db.execute(
            "UPDATE docs SET title=?, text=?, url=?, published=?, source=?, metadata=?, "
            "text_hash=?, duplicate_of=?, updated_at=? WHERE seq=?",
            (*self._doc_values(doc, duplicate_of, now), seq),
        )

    def make_canonical(self, seq: int, now: str) -> None:
        """Turn a duplicate into an article of its own (its chunks are inserted after)."""
        self.delete_chunks(seq)
        self.db.execute("UPDATE docs SET duplicate_of = NULL, updated_at = ? WHERE seq = ?", (now, seq))

    def set_duplicate_of(self, doc_id: str, canonical: str) -> None:
        """Record ``doc_id`` as a duplicate of ``canonical``."""
        self.db.execute("UPDATE docs SET duplicate_of = ? WHERE doc_id = ?", (canonical, doc_id))

    def insert_chunks(self, chunks: Iterable[NewChunk]) -> None:
        """Insert chunk rows."""
        self.db.executemany(
            "INSERT INTO chunks (chunk_id, seq, idx, start_char, end_char) VALUES (?,?,?,?,?)",
            [(c.chunk_id, c.seq, c.index, c.start, c.end) for c in chunks],
        )

    def set_generation(self, generation: int, next_chunk_id: int) -> None:
        """Record the snapshot generation the rows now match, and the next free chunk id (the
        last statement of a write: the commit makes both visible together).
        """
        self.set_state("generation", generation)
        self.set_state("next_chunk_id", next_chunk_id)

    def replace_related(
        self, drop: Iterable[int], lists: Mapping[int, tuple[Sequence[int], Sequence[float], Sequence[int]]]
    ) -> None:
        """Delete the lists of ``drop`` and of the keys of ``lists``, then store ``lists``
        (``seq -> (others, scores, chunk_ids)``).
        """
        gone = set(drop) | set(lists)
        for _ in self._in_parts("DELETE FROM related WHERE seq IN ({})", sorted(gone)):
            pass  # a DELETE returns no rows; iterating runs each part
        self.db.executemany(
            "INSERT INTO related (seq, rank, other, score, chunk_id) VALUES (?,?,?,?,?)",
            [
                (int(seq), rank, int(o), float(s), int(c))
                for seq, (others, scores, cids) in lists.items()
                for rank, (o, s, c) in enumerate(zip(others, scores, cids))
            ],
        )

    def clear_related(self) -> None:
        """Delete every related list."""
        self.db.execute("DELETE FROM related")
