"""Record files and objects: JSONL (one JSON object a line), CSV and TSV (a header row, then one
article a row), gzipped or not, and Python iterables of dicts, strings or documents.

Record files are streamed, a line at a time: memory stays bounded by the record limits of
:mod:`semclust.ingest.limits` however large the (decompressed) file. CSV/TSV columns other
than the standard fields get types: a column whose every value is a decimal integer (no
leading zeros, at most 15 digits) holds integers, one of integers and decimals floats, any
other column strings; id columns (``id``, ``*_id``) always stay strings. That takes a first
pass over the file, which only keeps one flag per column.
"""

from __future__ import annotations

import csv
import json
import re
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from semclust._types import Document, Skipped, text_hash
from semclust.errors import EmptyInputError, InputError, RecordError
from semclust.ingest.decoding import bounded_lines, open_record_stream
from semclust.ingest.fields import STANDARD_FIELDS, ReadOptions, check_document, record_to_document
from semclust.ingest.files import file_stem
from semclust.ingest.limits import MAX_RECORD_BYTES

__all__ = [
    "CSV_SUFFIXES",
    "JSONL_SUFFIXES",
    "iter_csv",
    "iter_jsonl",
    "iter_objects",
    "number_or_text",
    "parse_json_record",
]

#: File suffixes read as JSON Lines.
JSONL_SUFFIXES = (".jsonl", ".ndjson", ".jsonl.gz", ".ndjson.gz")
#: File suffixes read as CSV (``.tsv``: tab-separated).
CSV_SUFFIXES = (".csv", ".tsv", ".csv.gz", ".tsv.gz")

_INT = re.compile(r"[-+]?(?:0|[1-9][0-9]{0,14})")
_FLOAT = re.compile(r"[-+]?(?:0|[1-9][0-9]*)\.[0-9]+(?:[eE][-+]?[0-9]{1,3})?")
_ID_COLUMN = re.compile(r"(?i)(?:.*[_\-\s])?id")


def number_or_text(text: str) -> str | int | float:
    """The value a CSV cell (or a CLI ``--where`` value) stands for: an ``int`` for a decimal
    integer without leading zeros and at most 15 digits, a ``float`` for a decimal number with
    a point, else the text itself (``"007"``, ``"1e5"``, ``"nan"`` stay strings).
    """
    s = text.strip()
    if _INT.fullmatch(s):
        return int(s)
    return float(s) if _FLOAT.fullmatch(s) else text


def _too_long(path: Path, line: int) -> RecordError:
    return RecordError(
        f"a record over {MAX_RECORD_BYTES:,} bytes (semclust.ingest.limits.MAX_RECORD_BYTES); "
        "is this a damaged or hostile file? Split very long articles into parts",
        path=path,
        line=line,
    )


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON value")


def parse_json_record(line: str, path: Path | None, lineno: int) -> dict[str, Any]:
    """One JSONL line as a dict; invalid JSON, NaN/Infinity, nesting too deep for the parser
    and anything but an object are :class:`RecordError` naming the line.
    """
    try:
        rec = json.loads(line, parse_constant=_no_constant)
    except json.JSONDecodeError as err:
        raise RecordError(f"invalid JSON ({err.msg} at column {err.colno})", path=path, line=lineno) from None
    except ValueError as err:  # NaN, Infinity
        raise RecordError(f"invalid JSON ({err})", path=path, line=lineno) from None
    except RecursionError:
        raise RecordError("invalid JSON (nested too deeply)", path=path, line=lineno) from None
    if not isinstance(rec, dict):
        raise RecordError(f"expected a JSON object, got {type(rec).__name__}", path=path, line=lineno)
    return rec


def iter_jsonl(path: Path, opts: ReadOptions, skipped: list[Skipped]) -> Iterator[Document]:
    """The articles of a JSONL file, one JSON object a line; bad lines raise or are skipped."""
    with open_record_stream(path) as (stream, encoding):
        for lineno, line in bounded_lines(stream, encoding, path, MAX_RECORD_BYTES):
            try:
                if line is None:
                    raise _too_long(path, lineno)
                if not line.strip():
                    continue
                rec = parse_json_record(line, path, lineno)
                default_id = f"{file_stem(path)}:{lineno}"
                yield record_to_document(rec, opts, path=path, line=lineno, default_id=default_id)
            except InputError as err:
                opts.skip_or_raise(err, skipped, path, lineno)


class _Lines:
    """The lines of a stream for the csv module, refusing a record over ``MAX_RECORD_BYTES``
    (one line or several, inside quotes); ``new_record()`` resets the count.
    """

    def __init__(self, lines: Iterator[tuple[int, str | None]], path: Path) -> None:
        self._lines = lines
        self._path = path
        self._chars = 0

    def __iter__(self) -> Iterator[str]:
        for lineno, line in self._lines:
            if line is None:
                raise _too_long(self._path, lineno)
            self._chars += len(line)  # characters: at most the bytes they came from
            if self._chars > MAX_RECORD_BYTES:
                raise _too_long(self._path, lineno)
            yield line

    def new_record(self) -> None:
        self._chars = 0


def _rows(path: Path) -> Iterator[tuple[int, list[str] | None, list[str]]]:
    """``(line, header, row)`` for each row of a CSV/TSV file; ``header`` is None for the
    header row itself. Malformed CSV is a :class:`RecordError` naming the line.
    """
    delimiter = "\t" if ".tsv" in path.name.lower() else ","
    with open_record_stream(path) as (stream, encoding):
        lines = _Lines(bounded_lines(stream, encoding, path, MAX_RECORD_BYTES), path)
        reader = csv.reader(lines, delimiter=delimiter, strict=True)
        header: list[str] | None = None
        while True:
            try:
                row = next(reader)
            except StopIteration:
                return
            except csv.Error as err:
                why = f"malformed CSV ({err})"
                if "field larger than field limit" in str(err):
                    why = (
                        f"a field over {csv.field_size_limit():,} characters (Python's csv limit); use JSONL"
                    )
                raise RecordError(why, path=path, line=reader.line_num) from None
            lines.new_record()
            if not row:  # a blank line
                continue
            if header is None:
                header = row
                yield reader.line_num, None, row
            else:
                yield reader.line_num, header, row


def _column_types(path: Path, opts: ReadOptions) -> dict[str, type]:
    """The type of each typed column (``int`` or ``float``), from a first pass over the file.

    Stops at the first error: the second pass stops there too, so every row it yields was seen.
    """
    untyped = {opts.name(f) for f in STANDARD_FIELDS}
    kinds: dict[str, set[str]] = {}
    try:
        for _, header, row in _rows(path):
            if header is None or len(row) != len(header):
                continue
            for name, value in zip(header, row):
                if value == "" or name in untyped or _ID_COLUMN.fullmatch(name):
                    continue
                seen = kinds.setdefault(name, set())
                seen.add(type(number_or_text(value)).__name__)
    except InputError:
        pass
    return {
        name: int if seen == {"int"} else float for name, seen in kinds.items() if seen and "str" not in seen
    }


def iter_csv(path: Path, opts: ReadOptions, skipped: list[Skipped]) -> Iterator[Document]:
    """The articles of a CSV (or, for ``.tsv``, tab-separated) file with a header row."""
    types = _column_types(path, opts)
    for lineno, header, row in _rows(path):
        if header is None:
            continue
        try:
            if len(row) != len(header):
                raise RecordError(
                    f"row has a different number of columns than the header ({len(header)})",
                    path=path,
                    line=lineno,
                )
            rec: dict[str, Any] = {}
            for name, value in zip(header, row):
                if value != "":
                    rec[name] = types[name](value.strip()) if name in types else value
            default_id = f"{file_stem(path)}:{lineno}"
            yield record_to_document(rec, opts, path=path, line=lineno, default_id=default_id)
        except InputError as err:
            opts.skip_or_raise(err, skipped, path, lineno)


def iter_objects(records: Iterable[Any], opts: ReadOptions, skipped: list[Skipped]) -> Iterator[Document]:
    """Documents from Python objects: dicts (with the standard fields), strings (the text),
    or :class:`Document` objects (checked by the same rules, not cleaned).
    """
    for n, rec in enumerate(records, start=1):
        try:
            if isinstance(rec, Document):
                yield check_document(rec, line=n)
            elif isinstance(rec, str):
                text = opts.text(rec)
                if not text:
                    raise EmptyInputError("empty text", line=n)
                yield check_document(Document(id=f"doc-{text_hash(text)[:16]}", text=text), line=n)
            elif isinstance(rec, Mapping):
                yield record_to_document(rec, opts, path=None, line=n, default_id=None)
            else:
                raise RecordError(f"expected a str, a dict or a Document, got {type(rec).__name__}", line=n)
        except InputError as err:
            opts.skip_or_raise(err, skipped, None, n)
