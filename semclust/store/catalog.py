"""The SQLite side of a store: documents, chunks, metadata filters and the committed generation.

The database is the source of truth for what is committed. It records the *generation* of the
vector snapshot that matches its rows; a write builds the new snapshot first and then commits the
rows and the new generation in one SQLite transaction, so a crash at any point leaves the last
committed state.
"""

from __future__ import annotations

import datetime as _dt
import json
import re
import sqlite3
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semclust._types import Document
from semclust.errors import InvalidArgumentError, StoreFormatError

__all__ = ["Catalog", "DocRow", "build_filter"]

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

_COLUMNS = {"doc_id", "title", "url", "published", "source"}
_FIELD_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.\-]{0,63}$")
_OPS = {"eq": "=", "ne": "!=", "gt": ">", "gte": ">=", "lt": "<", "lte": "<="}


@dataclass(frozen=True)
class DocRow:
    """A document as stored, with its integer key and duplicate link."""

    seq: int
    doc: Document
    text_hash: str
    duplicate_of: str | None


def _row_to_doc(row: sqlite3.Row) -> DocRow:
    doc = Document(
        id=row["doc_id"],
        text=row["text"],
        title=row["title"],
        url=row["url"],
        published=row["published"],
        source=row["source"],
        metadata=json.loads(row["metadata"]),
    )
    return DocRow(int(row["seq"]), doc, row["text_hash"], row["duplicate_of"])


def _field_expr(name: str, params: list[Any]) -> str:
    if not _FIELD_RE.match(name):
        raise InvalidArgumentError(
            f"filter field {name!r} is not a valid field name (letters, digits, '_', '.', '-')"
        )
    if name in _COLUMNS:
        return name
    params.append(f'$."{name}"')
    return "json_extract(metadata, ?)"


def _scalar(name: str, value: Any) -> Any:
    if isinstance(value, (_dt.date, _dt.datetime)):
        return value.isoformat()
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    raise InvalidArgumentError(
        f"filter {name!r}: expected a string or number, a list of them, or a dict of "
        f"comparisons like {{'gte': 1}}, got {type(value).__name__}"
    )


def build_filter(
    filters: Mapping[str, Any] | None,
    *,
    since: str | _dt.date | None = None,
    until: str | _dt.date | None = None,
) -> tuple[str, list[Any]]:
    """Turn metadata filters into a SQL condition on ``docs`` and its parameters.

    Each filter is ``field=value``: a scalar means equality, a list/tuple/set means "one of",
    ``None`` means "missing", and a dict of comparisons (``eq ne gt gte lt lte in``) means all of
    them, e.g. ``{"published": {"gte": "2024-01-01"}}``. ``field`` is ``title``, ``url``,
    ``source``, ``published``, ``doc_id`` or any metadata field. ``since``/``until`` bound
    ``published`` (both inclusive; a date ``until`` includes that whole day).
    """
    clauses: list[str] = []
    params: list[Any] = []
    for name, cond in (filters or {}).items():
        if isinstance(cond, Mapping):
            for op, val in cond.items():
                if op == "in":
                    vals = [_scalar(name, v) for v in val]
                    expr = _field_expr(name, params)
                    clauses.append(f"{expr} IN ({','.join('?' * len(vals))})" if vals else "0")
                    params.extend(vals)
                elif op in _OPS:
                    expr = _field_expr(name, params)
                    clauses.append(f"{expr} {_OPS[op]} ?")
                    params.append(_scalar(name, val))
                else:
                    raise InvalidArgumentError(
                        f"filter {name!r}: unknown comparison {op!r}; use one of " + ", ".join([*_OPS, "in"])
                    )
        elif isinstance(cond, (list, tuple, set, frozenset)):
            vals = [_scalar(name, v) for v in cond]
            expr = _field_expr(name, params)
            clauses.append(f"{expr} IN ({','.join('?' * len(vals))})" if vals else "0")
            params.extend(vals)
        elif cond is None:
            expr = _field_expr(name, params)
            clauses.append(f"{expr} IS NULL")
        else:
            expr = _field_expr(name, params)
            clauses.append(f"{expr} = ?")
            params.append(_scalar(name, cond))
    if since is not None:
        clauses.append("published >= ?")
        params.append(_date_bound("since", since))
    if until is not None:
        bound = _date_bound("until", until)
        if len(bound) == 10:
            clauses.append("published < ?")
            params.append((_dt.date.fromisoformat(bound) + _dt.timedelta(days=1)).isoformat())
        else:
            clauses.append("published <= ?")
            params.append(bound)
    return (" AND ".join(clauses) or "1"), params


def _date_bound(name: str, value: str | _dt.date) -> str:
    from semclust._types import normalize_published

    try:
        out = normalize_published(value)
    except ValueError as err:
        raise InvalidArgumentError(f"{name}: {err}") from None
    if out is None:
        raise InvalidArgumentError(f"{name}: expected an ISO date such as '2024-02-17'")
    return out


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
                conn = sqlite3.connect(self.path, timeout=30, isolation_level=None, check_same_thread=False)
                conn.row_factory = sqlite3.Row
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

    def generation(self) -> int:
        """The committed snapshot generation (0 for an empty store)."""
        row = self.db.execute("SELECT value FROM state WHERE key = 'generation'").fetchone()
        return int(row[0]) if row else 0

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

    def _in_parts(self, sql: str, values: Iterable[Any]) -> Iterator[sqlite3.Row]:
        """Run ``sql`` (with one ``IN ({})`` placeholder) over the distinct ``values``, 500 at a
        time (SQLite limits the number of parameters of one statement).
        """
        uniq = list(dict.fromkeys(values))
        for i in range(0, len(uniq), 500):
            part = uniq[i : i + 500]
            yield from self.db.execute(sql.format(",".join("?" * len(part))), part)

    def get_many(self, doc_ids: Iterable[str]) -> dict[str, DocRow]:
        """Rows for the given ids (unknown ids are absent)."""
        rows = self._in_parts("SELECT * FROM docs WHERE doc_id IN ({})", doc_ids)
        return {d.doc.id: d for d in map(_row_to_doc, rows)}

    def by_seq(self, seqs: Sequence[int]) -> dict[int, DocRow]:
        """Rows by integer key."""
        rows = self._in_parts("SELECT * FROM docs WHERE seq IN ({})", (int(s) for s in seqs))
        return {d.seq: d for d in map(_row_to_doc, rows)}

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

    def listing(self, seqs: Iterable[int]) -> set[int]:
        """Articles whose related list names any of ``seqs``."""
        sql = "SELECT DISTINCT seq FROM related WHERE other IN ({})"
        return {int(r[0]) for r in self._in_parts(sql, (int(s) for s in seqs))}

    def replace_related(
        self, drop: Iterable[int], lists: Mapping[int, tuple[Sequence[int], Sequence[float], Sequence[int]]]
    ) -> None:
        """Delete the lists of ``drop`` and of the keys of ``lists``, then store ``lists``
        (``seq -> (others, scores, chunk_ids)``). Call inside :meth:`write`.
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
        """Delete every related list. Call inside :meth:`write`."""
        self.db.execute("DELETE FROM related")

    def filtered_seqs(self, where: str, params: list[Any]) -> list[int]:
        """Keys of the non-duplicate articles matching a :func:`build_filter` condition."""
        q = f"SELECT seq FROM docs WHERE duplicate_of IS NULL AND ({where})"
        return [int(r[0]) for r in self.db.execute(q, params)]

    def doc_ids(self) -> list[str]:
        """All article ids, in insertion order."""
        return [str(r[0]) for r in self.db.execute("SELECT doc_id FROM docs ORDER BY seq")]

    def iter_docs(self) -> Iterator[DocRow]:
        """All stored articles, in insertion order."""
        for row in self.db.execute("SELECT * FROM docs ORDER BY seq"):
            yield _row_to_doc(row)
