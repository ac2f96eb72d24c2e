"""Reading articles: folders of .txt/.md/.html files, JSONL (optionally gzipped), CSV/TSV, or
Python iterables of dicts or strings, into :class:`~semclust._types.Document` records.

Every problem is an :class:`~semclust.errors.InputError` that names the file, line and field.
With ``skip_errors=True`` bad files and records are skipped and listed in ``Articles.skipped``.
The formats live in :mod:`~semclust.ingest.files` (one article a file) and
:mod:`~semclust.ingest.records` (JSONL, CSV, objects); this module finds the files and
dispatches them.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any

from semclust._types import Document, Skipped
from semclust.errors import InputError
from semclust.ingest.decoding import decode_text
from semclust.ingest.fields import ReadOptions
from semclust.ingest.files import TEXT_SUFFIXES, read_text_file
from semclust.ingest.records import CSV_SUFFIXES, JSONL_SUFFIXES, iter_csv, iter_jsonl, iter_objects

__all__ = [
    "READABLE_SUFFIXES",
    "TEXT_SUFFIXES",
    "Articles",
    "decode_text",
    "read",
    "read_file",
    "read_in_folders",
    "walk_folder",
]

#: Every suffix :func:`read` reads (one-article files, then record files).
READABLE_SUFFIXES = TEXT_SUFFIXES + JSONL_SUFFIXES + CSV_SUFFIXES


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
        self._opts = ReadOptions.make(fields, clean, furniture, skip_errors)
        self._files: list[tuple[Path, Path | None]] | None = None
        self.skipped: list[Skipped] = []

    def __iter__(self) -> Iterator[Document]:
        self.skipped = []
        if self._records is not None:
            yield from iter_objects(self._records, self._opts, self.skipped)  # skips bad records itself
            return
        for path, root in self._files or []:
            yield from self._guard(path, self._iter_file(path, root=root))
        for source in self._sources or []:
            path = Path(source)
            if path.is_dir():
                for f in walk_folder(path):
                    yield from self._guard(f, self._iter_file(f, root=path))
            elif path.exists():
                yield from self._guard(path, self._iter_file(path, root=None))
            else:
                raise InputError("no such file or folder", path=path)

    def _guard(self, path: Path, docs: Iterator[Document]) -> Iterator[Document]:
        """Pass documents through; with ``skip_errors`` record a failing file and go on."""
        try:
            yield from docs
        except InputError as err:
            if not self._opts.skip_errors:
                raise
            self.skipped.append(Skipped(err.path or str(path), err.line, err.reason))

    def _iter_file(self, path: Path, root: Path | None) -> Iterator[Document]:
        name = path.name.lower()
        if name.endswith(JSONL_SUFFIXES):
            yield from iter_jsonl(path, self._opts, self.skipped)
        elif name.endswith(CSV_SUFFIXES):
            yield from iter_csv(path, self._opts, self.skipped)
        elif name.endswith(TEXT_SUFFIXES):
            yield read_text_file(path, root, self._opts)
        else:
            raise InputError(
                "unsupported file type; expected one of " + ", ".join(READABLE_SUFFIXES), path=path
            )


def read(
    source: str | os.PathLike[str] | Iterable[Any],
    *,
    fields: Mapping[str, str] | None = None,
    clean: bool = True,
    furniture: Iterable[str] | None = None,
    skip_errors: bool = False,
) -> Articles:
    r"""Read articles from files, folders or Python objects.

    Args:
        source: A folder (read recursively: ``.txt``, ``.md``, ``.html``, ``.jsonl[.gz]``,
            ``.csv[.gz]``, ``.tsv[.gz]``), a single file, a list of paths, or an iterable of
            dicts (with the fields below), strings (the text) or :class:`Document` objects.
        fields: Where JSONL/CSV/dict records keep the standard fields, e.g.
            ``{"text": "body", "published": "date"}``. Standard names: ``id``, ``title``,
            ``text``, ``url``, ``published`` (ISO date), ``source``; other fields are kept as
            metadata.
        clean: Decode HTML entities and escaped tags in text and titles (``&lt;b&gt;``,
            ``&amp;``, ``#39;``) and drop page furniture lines (see
            :mod:`semclust.ingest.cleaning`); ``False`` keeps the text as read, only stripped.
        furniture: Your own list of whole-line patterns instead of the default ones
            (``[]`` keeps every line but still decodes markup).
        skip_errors: Skip bad files and records (listed in ``Articles.skipped``) instead of
            raising the first :class:`~semclust.errors.InputError`.

    Returns:
        A lazy :class:`Articles` iterable of :class:`Document`.

    Ids come from the record's ``id`` field; otherwise files get a stable id from their path
    (relative to the folder read, without suffix, e.g. ``china-hungary-security``), records in
    JSONL/CSV files ``<file stem>:<line>``, and strings ``doc-<hash of text>``. Articles read
    from ``.txt``/``.md``/``.html`` files get a ``path`` metadata field: the file's path
    relative to the folder read, with ``/`` separators (for a file given alone, its name),
    never an absolute path.

    Types: JSONL values keep their JSON types; Markdown front matter is YAML (lists, numbers,
    ``true``/``false``; dates become ISO strings); CSV/TSV columns of only integers or
    decimals become numbers, all others (and id columns) stay strings.

    Rules (a break is an ``InputError`` naming file, line and field; skipped and listed with
    ``skip_errors``):

    * ids are stripped of white space and must then be non-empty, visible, at most 256
      characters, without control characters;
    * text must contain a letter or digit: text of only white space, punctuation or
      zero-width/format characters is empty;
    * no lone surrogates (``"\ud800"``) in any string, no NaN/Infinity, nesting at most 64;
    * only regular files are read: a FIFO, socket or device is refused at once, not waited on;
    * a file that is not UTF-8/UTF-16 is decoded with the detected encoding only when the
      result is plausible text (random or repeated high bytes are refused, not indexed as
      box-drawing characters); binary files are refused;
    * size limits (:mod:`semclust.ingest.limits`): an article's text at most 1,000,000
      characters, a JSONL line or CSV record 8,000,000 bytes (decompressed), a CSV field
      131,072 characters (Python's csv limit), a one-article file 32 MB, title, url and source
      10,000 characters. Record files are streamed, so a gzip bomb is refused at its first
      overlong record without filling memory (with ``skip_errors`` an overlong JSONL line is
      skipped and reading goes on; in CSV the rest of the file is skipped).
    """
    opts: dict[str, Any] = {
        "fields": fields,
        "clean": clean,
        "furniture": furniture,
        "skip_errors": skip_errors,
    }
    if isinstance(source, (str, os.PathLike)):
        return Articles([source], None, **opts)
    if _is_path_list(source):
        return Articles(list(source), None, **opts)
    return Articles(None, source, **opts)


def _is_path_list(source: Iterable[Any]) -> bool:
    """A list of paths, unless it is a list of texts: a text is not an existing path."""
    return (
        isinstance(source, (list, tuple))
        and bool(source)
        and all(
            isinstance(s, os.PathLike)
            or (isinstance(s, str) and len(s) < 4096 and "\n" not in s and Path(s).exists())
            for s in source
        )
    )


def read_file(path: str | os.PathLike[str], **kwargs: Any) -> list[Document]:
    """Read one file (or folder) eagerly and return its documents as a list."""
    return list(read(path, **kwargs))


def read_in_folders(
    files: Iterable[tuple[str | os.PathLike[str], str | os.PathLike[str] | None]],
    *,
    fields: Mapping[str, str] | None = None,
    clean: bool = True,
    furniture: Iterable[str] | None = None,
    skip_errors: bool = False,
) -> Articles:
    """Read ``(file, folder)`` pairs exactly as ``read(folder)`` reads each file (its default id
    and ``path`` field relative to ``folder``; ``None``: a file given alone). For callers that
    split a folder's files into parts (:func:`walk_folder` lists them) and read each part apart.
    """
    articles = Articles(None, None, fields=fields, clean=clean, furniture=furniture, skip_errors=skip_errors)
    articles._files = [(Path(f), Path(r) if r is not None else None) for f, r in files]
    return articles


def walk_folder(root: Path) -> list[Path]:
    """The files ``read(root)`` reads, in its order: readable suffixes, sorted, recursively,
    hidden files and folders left out. Special files (FIFOs, sockets, devices) with a readable
    suffix are listed too: reading them is an ``InputError`` (skipped with ``skip_errors``),
    never a hang.
    """
    found: list[Path] = []
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and name.lower().endswith(READABLE_SUFFIXES):
                found.append(Path(dirpath) / name)
    return found
