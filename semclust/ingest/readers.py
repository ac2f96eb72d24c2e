"""Reading articles: folders of .txt/.md/.html files, JSONL (optionally gzipped), CSV, or Python
iterables of dicts or strings, into :class:`~semclust._types.Document` records.

Every problem is an :class:`~semclust.errors.InputError` that names the file, line and field.
With ``skip_errors=True`` bad files and records are skipped and listed in ``Articles.skipped``.
"""

from __future__ import annotations

import csv
import gzip
import io
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from semclust._types import Document, Skipped, normalize_published, text_hash
from semclust.errors import (
    BinaryFileError,
    DecodeError,
    EmptyInputError,
    InputError,
    RecordError,
)
from semclust.ingest.cleaning import clean_text

__all__ = ["TEXT_SUFFIXES", "Articles", "read", "read_file"]

#: File suffixes read as one article each.
TEXT_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm")
_JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
_CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")
_STANDARD_FIELDS = ("id", "title", "text", "url", "published", "source")




class Articles(Iterable[Document]):
    """A lazy, re-iterable collection of articles returned by :func:`read`.

    Iterating reads the sources afresh; ``skipped`` lists what the last iteration left out
    (only with ``skip_errors=True``; otherwise the first problem raises).
    """

    def __init__(
        self,
        sources: list[str | os.PathLike[str]] | None,
        records: Iterable[Any] | None,
        *,
        fields: Mapping[str, str] | None,
        clean: bool,
        furniture: Iterable[str] | None,
        skip_errors: bool,
    ) -> None:
        self._sources = sources
        self._records = records
        self._fields = dict(fields or {})
        unknown = set(self._fields) - set(_STANDARD_FIELDS)
        if unknown:
            raise ValueError(
                f"fields= maps semclust's field names {_STANDARD_FIELDS} to your column names; "
                f"unknown: {sorted(unknown)}"
            )
        self._clean = clean
        self._furniture = tuple(furniture) if furniture is not None else None
        self._skip_errors = skip_errors
        self.skipped: list[Skipped] = []

    def __iter__(self) -> Iterator[Document]:
        self.skipped = []
        if self._records is not None:
            yield from self._iter_records(self._records)  # skips bad records itself
            return
        for source in self._sources or []:
            path = Path(source)
            if path.is_dir():
                files = _walk(path)
                for f in files:
                    yield from self._guard(f, self._iter_file(f, root=path))
            elif path.exists():
                yield from self._guard(path, self._iter_file(path, root=None))
            else:
                raise InputError("no such file or folder", path=path)

    def _guard(self, path: Path | None, docs: Iterator[Document]) -> Iterator[Document]:
        """Pass documents through; with ``skip_errors`` record a failing file and go on."""
        try:
            yield from docs
        except InputError as err:
            if not self._skip_errors:
                raise
            self.skipped.append(Skipped(err.path or (str(path) if path else None), err.line, err.reason))

    def _text(self, text: str) -> str:
        return clean_text(text, self._furniture) if self._clean else text.strip()

    def _iter_file(self, path: Path, root: Path | None) -> Iterator[Document]:
        name = path.name.lower()
        if name.endswith(_JSONL_SUFFIXES):
            yield from self._iter_jsonl(path)
        elif name.endswith(_CSV_SUFFIXES):
            yield from self._iter_csv(path)
        elif name.endswith(TEXT_SUFFIXES):
            yield self._read_text_file(path, root)
        else:
            raise InputError(
                "unsupported file type; expected one of "
                + ", ".join(TEXT_SUFFIXES + _JSONL_SUFFIXES + _CSV_SUFFIXES),
                path=path,
            )

    # -- single-article files -------------------------------------------------------------

    def _read_text_file(self, path: Path, root: Path | None) -> Document:
        raw = _read_bytes(path)
        doc_id = _path_id(path, root)
        suffix = path.suffix.lower()
        meta: dict[str, Any] = {"path": str(path)}
        if suffix in (".html", ".htm"):
            return self._from_html(decode_text(raw, path), path, doc_id, meta)
        text = decode_text(raw, path)
        title = ""
        front: dict[str, str] = {}
        if suffix in (".md", ".markdown"):
            front, text = _split_front_matter(text)
            meta.update({k: v for k, v in front.items() if k not in (*_STANDARD_FIELDS, "date")})
            title = front.get("title", "")
            heading = re.match(r"\s*#\s+(.+)\n", text)
            if heading and not title:
                title = heading.group(1).strip()
                text = text[heading.end() :]
            text = self._text(text)
        else:
            text = self._text(text)
            first, _, rest = text.partition("\n")
            if rest.strip() and _looks_like_title(first):
                title, text = first.strip(), rest.strip()
        if not text.strip():
            raise EmptyInputError("the file has no article text (after dropping page furniture)", path=path)
        if not title:
            title = _title_from_name(path)
        try:
            published = normalize_published(front.get("published") or front.get("date"))
        except ValueError as err:
            raise RecordError(str(err), path=path, field="published") from None
        return Document(
            id=front.get("id") or doc_id,
            title=title,
            text=text,
            url=front.get("url") or None,
            published=published,
            source=front.get("source") or None,
            metadata=meta,
        )

    def _from_html(self, html: str, path: Path, doc_id: str, meta: dict[str, Any]) -> Document:
        import trafilatura

        extracted = trafilatura.extract(
            html, output_format="json", with_metadata=True, include_comments=False, favor_recall=True
        )
        data: dict[str, Any] = json.loads(extracted) if extracted else {}
        text = self._text(str(data.get("text") or ""))
        if not text:
            raise EmptyInputError("no article text could be extracted from this HTML", path=path)
        published = None
        if data.get("date"):
            try:
                published = normalize_published(str(data["date"]))
            except ValueError:
                published = None
        return Document(
            id=doc_id,
            title=str(data.get("title") or "") or _title_from_name(path),
            text=text,
            url=data.get("source") or data.get("url") or None,
            published=published,
            source=data.get("sitename") or data.get("hostname") or None,
            metadata=meta,
        )

    # -- record files ---------------------------------------------------------------------

    def _iter_jsonl(self, path: Path) -> Iterator[Document]:
        raw = _read_bytes(path, allow_empty=False)
        text = decode_text(raw, path)
        for lineno, line in enumerate(text.splitlines(), start=1):
            if not line.strip():
                continue
            try:
                try:
                    rec = json.loads(line)
                except json.JSONDecodeError as err:
                    raise RecordError(
                        f"invalid JSON ({err.msg} at column {err.colno})", path=path, line=lineno
                    ) from None
                if not isinstance(rec, dict):
                    raise RecordError(
                        f"expected a JSON object, got {type(rec).__name__}", path=path, line=lineno
                    )
                yield self._from_record(rec, path=path, line=lineno, default_id=f"{_stem(path)}:{lineno}")
            except InputError as err:
                if not self._skip_errors:
                    raise
                self.skipped.append(Skipped(str(path), lineno, err.reason))

    def _iter_csv(self, path: Path) -> Iterator[Document]:
        raw = _read_bytes(path, allow_empty=False)
        text = decode_text(raw, path)
        delimiter = "\t" if ".tsv" in path.name.lower() else ","
        reader = csv.DictReader(io.StringIO(text, newline=""), delimiter=delimiter, strict=True)
        rows = iter(reader)
        while True:
            try:
                row = next(rows)
            except StopIteration:
                break
            except csv.Error as err:
                raise RecordError(f"malformed CSV ({err})", path=path, line=reader.line_num) from None
            lineno = reader.line_num
            try:
                if None in row or any(v is None for v in row.values()):
                    n = len(reader.fieldnames or [])
                    raise RecordError(
                        f"row has a different number of columns than the header ({n})", path=path, line=lineno
                    )
                rec = {k: v for k, v in row.items() if v != ""}
                yield self._from_record(rec, path=path, line=lineno, default_id=f"{_stem(path)}:{lineno}")
            except InputError as err:
                if not self._skip_errors:
                    raise
                self.skipped.append(Skipped(str(path), lineno, err.reason))

    def _iter_records(self, records: Iterable[Any]) -> Iterator[Document]:
        for n, rec in enumerate(records, start=1):
            try:
                if isinstance(rec, Document):
                    yield rec
                elif isinstance(rec, str):
                    text = self._text(rec)
                    if not text:
                        raise EmptyInputError("empty text", line=n)
                    yield Document(id=f"doc-{text_hash(text)[:16]}", text=text)
                elif isinstance(rec, Mapping):
                    yield self._from_record(rec, path=None, line=n, default_id=None)
                else:
                    raise RecordError(
                        f"expected a str, a dict or a Document, got {type(rec).__name__}", line=n
                    )
            except InputError as err:
                if not self._skip_errors:
                    raise
                self.skipped.append(Skipped(None, n, err.reason))

    def _from_record(
        self, rec: Mapping[str, Any], *, path: Path | None, line: int, default_id: str | None
    ) -> Document:
        names = {f: self._fields.get(f, f) for f in _STANDARD_FIELDS}

        def get_str(field: str) -> str | None:
            val = rec.get(names[field])
            if val is None:
                return None
            if isinstance(val, bool) or not isinstance(val, (str, int, float)):
                raise RecordError(
                    f"expected a string, got {type(val).__name__}", path=path, line=line, field=names[field]
                )
            return str(val)

        raw_text = get_str("text")
        if raw_text is None:
            raise EmptyInputError(
                "missing; every record needs article text", path=path, line=line, field=names["text"]
            )
        text = self._text(raw_text)
        if not text:
            raise EmptyInputError(
                "empty; every record needs article text", path=path, line=line, field=names["text"]
            )
        doc_id = get_str("id") or default_id or f"doc-{text_hash(text)[:16]}"
        try:
            published = normalize_published(rec.get(names["published"]))
        except ValueError as err:
            raise RecordError(str(err), path=path, line=line, field=names["published"]) from None
        used = set(names.values())
        meta = {k: v for k, v in rec.items() if k not in used}
        return Document(
            id=doc_id.strip(),
            title=(get_str("title") or "").strip(),
            text=text,
            url=get_str("url"),
            published=published,
            source=get_str("source"),
            metadata=meta,
        )


def read(
    source: str | os.PathLike[str] | Iterable[Any],
    *,
    fields: Mapping[str, str] | None = None,
    clean: bool = True,
    furniture: Iterable[str] | None = None,
    skip_errors: bool = False,
) -> Articles:
    """Read articles from files, folders or Python objects.

    Args:
        source: A folder (read recursively: ``.txt``, ``.md``, ``.html``, ``.jsonl[.gz]``,
            ``.csv``), a single file, a list of paths, or an iterable of dicts (with the
            fields below), strings (the text) or :class:`Document` objects.
        fields: Where JSONL/CSV/dict records keep the standard fields, e.g.
            ``{"text": "body", "published": "date"}``. Standard names: ``id``, ``title``,
            ``text``, ``url``, ``published`` (ISO date), ``source``; other fields are kept as
            metadata.
        clean: Drop page furniture lines (see :mod:`semclust.ingest.cleaning`).
        furniture: Your own list of whole-line patterns instead of the default ones.
        skip_errors: Skip bad files and records (listed in ``Articles.skipped``) instead of
            raising the first :class:`~semclust.errors.InputError`.

    Returns:
        A lazy :class:`Articles` iterable of :class:`Document`.

    Ids come from the record's ``id`` field; otherwise files get a stable id from their path
    (relative to the folder read, without suffix, e.g. ``china-hungary-security``), records in
    JSONL/CSV files ``<file stem>:<line>``, and strings ``doc-<hash of text>``.
    """
    opts: dict[str, Any] = {
        "fields": fields,
        "clean": clean,
        "furniture": furniture,
        "skip_errors": skip_errors,
    }
    if isinstance(source, (str, os.PathLike)):
        return Articles([source], None, **opts)
    # A list of paths, unless it is a list of texts: a text is not an existing path.
    if (
        isinstance(source, (list, tuple))
        and source
        and all(
            isinstance(s, os.PathLike)
            or (isinstance(s, str) and len(s) < 4096 and "\n" not in s and Path(s).exists())
            for s in source
        )
    ):
        return Articles(list(source), None, **opts)
    return Articles(None, source, **opts)


def read_file(path: str | os.PathLike[str], **kwargs: Any) -> list[Document]:
    """Read one file (or folder) eagerly and return its documents as a list."""
    return list(read(path, **kwargs))


# -- helpers --------------------------------------------------------------------------------


def _walk(root: Path) -> list[Path]:
    suffixes = TEXT_SUFFIXES + _JSONL_SUFFIXES + _CSV_SUFFIXES
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(suffixes):
                found.append(Path(dirpath) / name)
    return found


def _read_bytes(path: Path, allow_empty: bool = False) -> bytes:
    try:
        data = path.read_bytes()
    except OSError as err:
        raise InputError(f"cannot read file ({err.strerror})", path=path) from None
    if path.name.lower().endswith(".gz"):
        try:
            data = gzip.decompress(data)
        except (OSError, EOFError) as err:
            raise RecordError(f"not a valid gzip file ({err})", path=path) from None
    if not data.strip() and not allow_empty:
        raise EmptyInputError("the file is empty", path=path)
    return data


def decode_text(data: bytes, path: str | Path | None = None) -> str:
    """Decode file bytes to text: UTF-8 (with or without BOM), UTF-16 with BOM, else the
    encoding ``charset-normalizer`` detects. Binary data raises :class:`BinaryFileError`.
    """
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        try:
            return data.decode("utf-16")
        except UnicodeDecodeError:
            raise DecodeError("invalid UTF-16 text", path=path) from None
    head = data[:8192]
    if b"\x00" in head or _control_ratio(head) > 0.1:
        raise BinaryFileError("this looks like a binary file, not text", path=path)
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    from charset_normalizer import from_bytes

    matches = list(from_bytes(data))
    if not matches:
        raise DecodeError("could not determine the text encoding; convert the file to UTF-8", path=path)
    best = matches[0]
    # On short texts the detector often hesitates between code pages; Windows-1252, by far
    # the most common legacy encoding of news text, wins when it is nearly as plausible.
    for m in matches:
        if m.encoding == "cp1252" and m.chaos <= best.chaos + 0.1:
            best = m
            break
    return str(best)


def _control_ratio(data: bytes) -> float:
    if not data:
        return 0.0
    bad = sum(1 for b in data if b < 32 and b not in (9, 10, 12, 13))
    return bad / len(data)


def _stem(path: Path) -> str:
    name = path.name
    for suffix in (".gz",):
        if name.lower().endswith(suffix):
            name = name[: -len(suffix)]
    return name.rsplit(".", 1)[0]


def _path_id(path: Path, root: Path | None) -> str:
    rel = path.relative_to(root) if root is not None else Path(path.name)
    return rel.with_suffix("").as_posix()


def _title_from_name(path: Path) -> str:
    words = re.sub(r"[-_]+", " ", _stem(path)).strip()
    return words[:1].upper() + words[1:]


def _looks_like_title(line: str) -> bool:
    s = line.strip()
    return 0 < len(s) <= 200 and not s.endswith((".", ":", ";", ",")) and "\t" not in s


def _split_front_matter(text: str) -> tuple[dict[str, str], str]:
    """Split simple ``---``-delimited ``key: value`` front matter from Markdown."""
    m = re.match(r"\A---\s*\n(.*?)\n---\s*\n", text, re.DOTALL)
    if not m:
        return {}, text
    front: dict[str, str] = {}
    for line in m.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and key.strip():
            front[key.strip()] = value.strip().strip("\"'")
    return front, text[m.end() :]
