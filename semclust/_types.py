"""The records shared by every stage: :class:`Document` (an article), :class:`Skipped`,
the typed results :class:`Hit`/:class:`Hits` and the :class:`AddReport` of a write."""

from __future__ import annotations

import datetime as _dt
import hashlib
import html
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any, overload

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["AddReport", "Document", "Hit", "Hits", "Skipped", "normalize_published", "text_hash"]


def text_hash(text: str) -> str:
    """Return a stable hex digest of ``text`` (SHA-256 of its UTF-8 bytes)."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def normalize_published(value: object) -> str | None:
    """Return ``value`` as an ISO 8601 date (``YYYY-MM-DD``) or date-time string.

    Accepts ``None``/empty (no date), ``datetime.date``, ``datetime.datetime`` and ISO strings
    (``2024-02-17``, ``2024-02-17T10:30:00``, ``2024-02-17 10:30:00+00:00``, ``...Z``).
    Raises ``ValueError`` with what was expected otherwise.
    """
    if value is None:
        return None
    if isinstance(value, _dt.datetime):
        return value.isoformat()
    if isinstance(value, _dt.date):
        return value.isoformat()
    if not isinstance(value, str):
        raise ValueError(f"expected an ISO date string such as '2024-02-17', got {value!r}")
    s = value.strip()
    if not s:
        return None
    try:
        if len(s) == 10:
            return _dt.date.fromisoformat(s).isoformat()
        return _dt.datetime.fromisoformat(s.replace("Z", "+00:00")).isoformat()
    except ValueError:
        raise ValueError(
            f"expected an ISO date such as '2024-02-17' or '2024-02-17T10:30:00', got {value!r}"
        ) from None


@dataclass(frozen=True)
class Document:
    """One article.

    Attributes:
        id: Unique article id within a store.
        text: The article's body text (already cleaned of page furniture by :func:`semclust.read`).
        title: The headline, or ``""``.
        url: Where the article lives, if known.
        published: ISO 8601 date or date-time, if known.
        source: The publisher or feed, if known.
        metadata: Any other fields, kept as they came (JSON-serialisable values).
    """

    id: str
    text: str
    title: str = ""
    url: str | None = None
    published: str | None = None
    source: str | None = None
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def text_hash(self) -> str:
        """SHA-256 of the text, used to spot the same text under another id."""
        return text_hash(self.text)

    def to_dict(self) -> dict[str, Any]:
        """Return the document as a plain dict (the JSONL field layout)."""
        out: dict[str, Any] = {"id": self.id, "title": self.title, "text": self.text}
        for key in ("url", "published", "source"):
            val = getattr(self, key)
            if val is not None:
                out[key] = val
        out.update(self.metadata)
        return out


@dataclass(frozen=True)
class Skipped:
    """A file or record left out by ``read(..., skip_errors=True)``, and why."""

    path: str | None
    line: int | None
    reason: str

    def __str__(self) -> str:
        where = self.path or "<records>"
        if self.line is not None:
            where += f", line {self.line}"
        return f"{where}: {self.reason}"



@dataclass(frozen=True)
class Hit:
    """One article found by ``search`` or ``related``.

    Attributes:
        doc_id: The article's id.
        title: The article's title.
        score: Cosine similarity (higher is closer).
        passage: The best-matching chunk of the article.
        start: Character offset of the passage in the article text.
        end: Character offset one past the passage's end.
        url: The article's URL, if known.
        source: The article's source, if known.
        published: ISO publication date, if known.
        metadata: The article's other fields.
    """

    doc_id: str
    title: str
    score: float
    passage: str
    start: int
    end: int
    url: str | None = None
    source: str | None = None
    published: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """The hit's one JSON form: every field above, by name (``doc_id``, ``title``, ``score``,
        ``passage``, ``start``, ``end``, ``url``, ``source``, ``published``, ``metadata``).

        ``Hits.to_dicts``, ``semclust search --json`` and the HTTP service (whose
        ``HitOut`` model describes this form) all send it; the service drops an absolute
        ``metadata.path``.
        """
        return asdict(self)


_FRAME_COLUMNS = ["doc_id", "title", "score", "passage", "start", "end", "url", "source", "published"]


class Hits(Sequence[Hit]):
    """The ranked hits of one query (best first); a read-only sequence of :class:`Hit`."""

    def __init__(
        self, hits: Sequence[Hit], *, query: str, kind: str = "search", generation: int | None = None
    ) -> None:
        self._hits = list(hits)
        #: The query text, or the article id for ``related``.
        self.query = query
        #: ``"search"``, ``"related"``.
        self.kind = kind
        #: The store generation the hits were read from (``None`` when not from a store).
        self.generation = generation

    @overload
    def __getitem__(self, i: int) -> Hit: ...

    @overload
    def __getitem__(self, i: slice) -> Hits: ...

    def __getitem__(self, i: int | slice) -> Hit | Hits:
        if isinstance(i, slice):
            return Hits(self._hits[i], query=self.query, kind=self.kind, generation=self.generation)
        return self._hits[i]

    def __len__(self) -> int:
        return len(self._hits)

    def __iter__(self) -> Iterator[Hit]:
        return iter(self._hits)

    def __repr__(self) -> str:
        lines = [f"Hits({self.kind} {self.query!r}, {len(self)} results)"]
        for i, h in enumerate(self._hits, 1):
            lines.append(f"{i:>3}. {h.score:.3f}  {h.doc_id}  {h.title[:70]}")
        return "\n".join(lines)

    @property
    def ids(self) -> list[str]:
        """The article ids, best first."""
        return [h.doc_id for h in self._hits]

    def to_dicts(self) -> list[dict[str, Any]]:
        """The hits as a list of JSON-serialisable dicts."""
        return [h.to_dict() for h in self._hits]

    def to_frame(self) -> pd.DataFrame:
        """A pandas DataFrame with one row per hit: doc_id, title, score, passage, offsets, ..."""
        import pandas as pd

        return pd.DataFrame(
            [{c: getattr(h, c) for c in _FRAME_COLUMNS} for h in self._hits], columns=_FRAME_COLUMNS
        )

    def _repr_html_(self) -> str:
        head = html.escape(f"{self.kind.capitalize()}: {self.query}")
        rows = []
        for i, h in enumerate(self._hits, 1):
            title = html.escape(h.title or h.doc_id)
            if h.url:
                title = f'<a href="{html.escape(h.url, quote=True)}" target="_blank">{title}</a>'
            passage = html.escape(h.passage if len(h.passage) <= 300 else h.passage[:300] + "…")
            meta = " · ".join(html.escape(str(x)) for x in (h.source, h.published) if x)
            rows.append(
                f"<tr><td>{i}</td><td>{h.score:.3f}</td>"
                f"<td><b>{title}</b><br><code>{html.escape(h.doc_id)}</code>"
                f"{' · ' + meta if meta else ''}</td>"
                f"<td style='text-align:left'>{passage}</td></tr>"
            )
        return (
            f"<div class='semclust-hits'><p><b>{head}</b> ({len(self)} results)</p>"
            "<table><thead><tr><th>#</th><th>score</th><th>article</th><th>passage</th></tr></thead>"
            f"<tbody>{''.join(rows)}</tbody></table></div>"
        )


@dataclass
class AddReport:
    """What an ``add`` or ``delete`` changed.

    Attributes:
        added: Ids of new articles.
        updated: Ids of articles whose text, title or metadata changed.
        unchanged: Ids given again with nothing changed.
        duplicates: ``{id: id of the article with the same text}`` for texts already present.
        deleted: Ids removed.
        chunks: Chunks written.
        embedded: Texts run through the model (the rest came from the embedding cache).
        skipped: Files or records skipped by ``read(..., skip_errors=True)``.
        seconds: Wall time.
        timings: Seconds per stage (``read``, ``plan``, ``chunk``, ``embed``, ``write``,
            ``related``, ``commit``); reading counts only when ``add`` pulled the articles.
        replaced_in_batch: Ids given more than once in one ``add``; the last record of each
            was stored, the earlier ones were dropped.
    """

    added: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    duplicates: dict[str, str] = field(default_factory=dict)
    deleted: list[str] = field(default_factory=list)
    chunks: int = 0
    embedded: int = 0
    skipped: list[Skipped] = field(default_factory=list)
    seconds: float = 0.0
    timings: dict[str, float] = field(default_factory=dict)
    replaced_in_batch: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The report as a JSON-serialisable dict."""
        return {
            "added": self.added,
            "updated": self.updated,
            "unchanged": self.unchanged,
            "duplicates": self.duplicates,
            "deleted": self.deleted,
            "chunks": self.chunks,
            "embedded": self.embedded,
            "skipped": [str(s) for s in self.skipped],
            "replaced_in_batch": self.replaced_in_batch,
            "seconds": round(self.seconds, 3),
            "timings": {k: round(v, 3) for k, v in self.timings.items()},
        }

    def __str__(self) -> str:
        parts = [
            f"{len(self.added)} added",
            f"{len(self.updated)} updated",
            f"{len(self.unchanged)} unchanged",
            f"{len(self.duplicates)} duplicates",
        ]
        if self.deleted:
            parts.append(f"{len(self.deleted)} deleted")
        parts.append(f"{self.chunks} chunks, {self.embedded} embedded")
        if self.skipped:
            parts.append(f"{len(self.skipped)} skipped")
        if self.replaced_in_batch:
            parts.append(f"{len(self.replaced_in_batch)} ids repeated in the batch (last kept)")
        return ", ".join(parts) + f" in {self.seconds:.1f}s"
