"""The article record that flows through every stage."""

from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

__all__ = ["Document", "normalize_published", "text_hash"]


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
