r"""From a record's fields to a :class:`~semclust._types.Document`, and the rules of articles.

The standard fields, the reading options, and the rules every article follows whatever format
it came in:

* the id is stripped of white space and must then be 1 to ``MAX_ID_CHARS`` characters, with a
  visible character, no control characters, and not ``.`` or ``..``;
* the text must contain a letter or a digit (text of only white space, punctuation or
  zero-width/format characters is empty) and be at most ``MAX_TEXT_CHARS`` characters;
* title, url and source are at most ``MAX_FIELD_CHARS`` characters;
* no string anywhere in the record may hold a lone surrogate (``"\ud800"``: not text, it
  cannot be stored as UTF-8), no number may be NaN or infinite, and lists/objects nest at most
  ``MAX_NESTING`` deep.
"""

from __future__ import annotations

import dataclasses
import math
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from semclust._types import Document, Skipped, normalize_published, text_hash
from semclust.errors import EmptyInputError, InputError, RecordError
from semclust.ingest.cleaning import clean_text, decode_markup
from semclust.ingest.limits import MAX_FIELD_CHARS, MAX_ID_CHARS, MAX_NESTING, MAX_TEXT_CHARS

__all__ = [
    "STANDARD_FIELDS",
    "ReadOptions",
    "check_document",
    "check_id",
    "check_values",
    "record_to_document",
]

#: The fields a :class:`Document` has; any other field of a record is kept as metadata.
STANDARD_FIELDS = ("id", "title", "text", "url", "published", "source")

_VISIBLE = re.compile(r"[^\s\u200b-\u200f\u2060-\u2064\ufeff\u00ad\u180e]")
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f]")
_ALNUM = re.compile(r"[^\W_]")


@dataclass(frozen=True)
class ReadOptions:
    """How :func:`semclust.read` was asked to read: field names, cleaning, error handling.

    Attributes:
        fields: Our field name -> the record's field name, for the fields that differ.
        clean: Whether text and titles are cleaned (see :mod:`semclust.ingest.cleaning`).
        furniture: Furniture patterns, or ``None`` for the default ones.
        skip_errors: Skip bad files and records instead of raising.
    """

    fields: Mapping[str, str] = field(default_factory=dict)
    clean: bool = True
    furniture: tuple[str, ...] | None = None
    skip_errors: bool = False

    @classmethod
    def make(
        cls,
        fields: Mapping[str, str] | None,
        clean: bool,
        furniture: Iterable[str] | None,
        skip_errors: bool,
    ) -> ReadOptions:
        """Check the arguments of :func:`semclust.read` and bundle them."""
        mapping = dict(fields or {})
        unknown = set(mapping) - set(STANDARD_FIELDS)
        if unknown:
            raise ValueError(
                f"fields= maps semclust's field names {STANDARD_FIELDS} to your column names; "
                f"unknown: {sorted(unknown)}"
            )
        return cls(mapping, clean, tuple(furniture) if furniture is not None else None, skip_errors)

    def name(self, ours: str) -> str:
        """The record's name for one of our standard fields."""
        return self.fields.get(ours, ours)

    def text(self, raw: str) -> str:
        """Article text as it is stored: markup decoded and furniture dropped (with ``clean``),
        or only stripped.
        """
        return clean_text(decode_markup(raw), self.furniture) if self.clean else raw.strip()

    def title(self, raw: str) -> str:
        """A title as it is stored: markup decoded (with ``clean``) and stripped."""
        if not self.clean:
            return raw.strip()
        decoded = decode_markup(raw)
        return " ".join(decoded.split()) if decoded != raw else raw.strip()

    def skip_or_raise(self, err: InputError, skipped: list[Skipped], path: Path | None, line: int) -> None:
        """With ``skip_errors`` list the bad record in ``skipped``; otherwise raise ``err``."""
        if not self.skip_errors:
            raise err
        skipped.append(Skipped(str(path) if path is not None else None, line, err.reason))


def _where(path: Path | None, line: int | None, name: str | None) -> dict[str, Any]:
    return {"path": path, "line": line, "field": name}


def id_problem(doc_id: str) -> str | None:
    """What is wrong with ``doc_id`` (already stripped) as an article id, or ``None``: the one id
    rule, used by the readers (:func:`check_id`) and by the HTTP service on reads and writes.
    """
    if not _VISIBLE.search(doc_id):
        return "empty or only white space; an id needs a visible character"
    if len(doc_id) > MAX_ID_CHARS:
        return f"{len(doc_id):,} characters; an id has at most {MAX_ID_CHARS}"
    if _CONTROL.search(doc_id) or doc_id in (".", ".."):
        return f"{doc_id!r}: control characters, '.' and '..' are not ids"
    return _surrogate_problem(doc_id)


def check_id(raw: str, *, path: Path | None = None, line: int | None = None, name: str = "id") -> str:
    """The id as stored (stripped of white space), or a :class:`RecordError` saying why not."""
    doc_id = raw.strip()
    where = _where(path, line, name)
    if not _VISIBLE.search(doc_id):
        raise RecordError(
            "empty or only white space; an id needs a visible character (leave the field out "
            "for a default id)",
            **where,
        )
    problem = id_problem(doc_id)
    if problem is not None:
        raise RecordError(problem, **where)
    check_values(doc_id, path=path, line=line, field=name)
    return doc_id


def _surrogate(value: str) -> int | None:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError as err:
        return err.start
    return None


def _surrogate_problem(value: str) -> str | None:
    pos = _surrogate(value)
    if pos is None:
        return None
    return (
        f"a lone surrogate ({value[pos]!r} at character {pos}) is not text; "
        "fix the producer of this file (it wrote half of a UTF-16 pair)"
    )


def check_values(value: Any, *, path: Path | None, line: int | None, field: str | None) -> None:
    """Refuse what cannot be stored: lone surrogates in strings, NaN/infinite numbers, nesting
    deeper than ``MAX_NESTING``. Walks lists and dicts without recursion.
    """
    stack: list[tuple[Any, int, str | None]] = [(value, 0, field)]
    while stack:
        item, depth, where = stack.pop()
        if isinstance(item, str):
            problem = _surrogate_problem(item)
            if problem is not None:
                raise RecordError(problem, **_where(path, line, where))
        elif isinstance(item, float) and not math.isfinite(item):
            raise RecordError(f"{item} is not a number JSON can carry", **_where(path, line, where))
        elif isinstance(item, (list, tuple, dict)):
            if depth >= MAX_NESTING:
                raise RecordError(
                    f"lists and objects nest deeper than {MAX_NESTING} levels "
                    "(semclust.ingest.limits.MAX_NESTING)",
                    **_where(path, line, where),
                )
            children = item.items() if isinstance(item, dict) else ((None, v) for v in item)
            for key, child in children:
                if key is not None:
                    stack.append((key, depth + 1, where))
                stack.append((child, depth + 1, where if where is not None else str(key)))


def check_document(
    doc: Document,
    *,
    path: Path | None = None,
    line: int | None = None,
    names: Mapping[str, str] | None = None,
) -> Document:
    """``doc`` if it follows the rules of this module (the id stripped), else an
    :class:`InputError` naming the file, line and field.
    """
    name = (names or {}).get
    doc_id = check_id(doc.id, path=path, line=line, name=name("id", "id"))
    where = _where(path, line, name("text", "text"))
    if not _ALNUM.search(doc.text):
        raise EmptyInputError(
            "no article text: it has no letter or digit (only white space, punctuation or "
            "invisible characters such as zero-width spaces)",
            **where,
        )
    if len(doc.text) > MAX_TEXT_CHARS:
        raise RecordError(
            f"{len(doc.text):,} characters, over the limit of {MAX_TEXT_CHARS:,} for one article "
            "(semclust.ingest.limits.MAX_TEXT_CHARS); split it into parts",
            **where,
        )
    check_values(doc.text, **where)
    for key in ("title", "url", "source"):
        value = getattr(doc, key)
        if value is not None and len(value) > MAX_FIELD_CHARS:
            raise RecordError(
                f"{len(value):,} characters; at most {MAX_FIELD_CHARS:,} (MAX_FIELD_CHARS)",
                **_where(path, line, name(key, key)),
            )
        check_values(value, **_where(path, line, name(key, key)))
    for key, value in doc.metadata.items():
        check_values(key, **_where(path, line, None))
        check_values(value, **_where(path, line, key))
    return doc if doc_id == doc.id else dataclasses.replace(doc, id=doc_id)


def record_to_document(
    rec: Mapping[str, Any], opts: ReadOptions, *, path: Path | None, line: int, default_id: str | None
) -> Document:
    """Build a document from a JSONL/CSV record or a dict, with the field names of ``opts``.

    A missing (or ``null``) id gets ``default_id``, else ``doc-<hash of the text>``; a present
    one follows :func:`check_id`.
    """
    names = {f: opts.name(f) for f in STANDARD_FIELDS}

    def get_str(ours: str) -> str | None:
        val = rec.get(names[ours])
        if val is None:
            return None
        if isinstance(val, bool) or not isinstance(val, (str, int, float)):
            raise RecordError(
                f"expected a string, got {type(val).__name__}", path=path, line=line, field=names[ours]
            )
        return str(val)

    raw_text = get_str("text")
    if raw_text is None:
        raise EmptyInputError(
            "missing; every record needs article text", path=path, line=line, field=names["text"]
        )
    check_values(raw_text, path=path, line=line, field=names["text"])
    text = opts.text(raw_text)
    if not text:
        raise EmptyInputError(
            "empty; every record needs article text", path=path, line=line, field=names["text"]
        )
    doc_id = get_str("id")
    if doc_id is None:
        doc_id = default_id or f"doc-{text_hash(text)[:16]}"
    try:
        published = normalize_published(rec.get(names["published"]))
    except ValueError as err:
        raise RecordError(str(err), path=path, line=line, field=names["published"]) from None
    used = set(names.values())
    doc = Document(
        id=doc_id,
        title=opts.title(get_str("title") or ""),
        text=text,
        url=get_str("url"),
        published=published,
        source=get_str("source"),
        metadata={k: v for k, v in rec.items() if k not in used},
    )
    return check_document(doc, path=path, line=line, names=names)
