"""Input files of a distributed build: the files :func:`semclust.read` would read, in its order,
grouped into *parts* (the unit a read task reads), and reading one part exactly as ``read`` does
(:func:`~semclust.ingest.readers.read_in_folders`: a file found in a folder keeps the id and
``path`` that ``read(folder)`` gives it).
"""

from __future__ import annotations

import glob
import hashlib
import json
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from semclust._types import Document, Skipped
from semclust.errors import InputError
from semclust.ingest.readers import read_in_folders, walk_folder

__all__ = ["InputFile", "Part", "expand_inputs", "make_parts", "read_part"]

#: A part holds consecutive files up to about this many bytes (or one larger file).
PART_BYTES = 4 << 20


@dataclass(frozen=True)
class InputFile:
    """One file to read; ``root`` is the folder it was found in (for its id), if any."""

    path: str
    root: str | None
    size: int
    mtime_ns: int


@dataclass(frozen=True)
class Part:
    """Consecutive input files read by one task; ``key`` names its shards."""

    index: int
    key: str
    files: tuple[InputFile, ...]


def _file(path: Path, root: Path | None) -> InputFile:
    st = path.stat()
    return InputFile(str(path), str(root) if root is not None else None, st.st_size, st.st_mtime_ns)


def expand_inputs(sources: Iterable[str | os.PathLike[str]]) -> list[InputFile]:
    """The files to read, in the order ``read(sources)`` reads them; a pattern with ``*``,
    ``?`` or ``[`` that is not itself a path is expanded (sorted). A missing path is the same
    :class:`~semclust.errors.InputError` as in ``read``.
    """
    out: list[InputFile] = []
    for source in sources:
        text = os.fspath(source)
        path = Path(text)
        if not path.exists() and any(c in text for c in "*?["):
            matches = sorted(glob.glob(os.path.expanduser(text)))
            if not matches:
                raise InputError("no such file or folder (the pattern matches nothing)", path=text)
            out.extend(expand_inputs(matches))
        elif path.is_dir():
            out.extend(_file(f, path) for f in walk_folder(path))
        elif path.exists():
            out.append(_file(path, None))
        else:
            raise InputError("no such file or folder", path=path)
    return out


def make_parts(files: Sequence[InputFile], settings: Mapping[str, Any], *, max_files: int) -> list[Part]:
    """Group consecutive files into parts of up to :data:`PART_BYTES` and ``max_files`` files.
    A part's key hashes its files (path, size, modification time) and ``settings``, so a
    changed file or setting never reuses old shards.
    """
    groups: list[list[InputFile]] = []
    size = 0
    for f in files:
        if not groups or size + f.size > PART_BYTES or len(groups[-1]) >= max_files:
            groups.append([])
            size = 0
        groups[-1].append(f)
        size += f.size
    parts = []
    for i, group in enumerate(groups):
        blob = json.dumps(
            {"files": [[f.path, f.root, f.size, f.mtime_ns] for f in group], "settings": settings},
            sort_keys=True,
        )
        parts.append(Part(i, hashlib.sha256(blob.encode()).hexdigest()[:24], tuple(group)))
    return parts


def read_part(part: Part, options: Mapping[str, Any]) -> tuple[list[Document], list[Skipped]]:
    """The articles and skipped records of ``part``, exactly as :func:`semclust.read` gives
    them (``options``: its ``fields``, ``clean``, ``furniture``, ``skip_errors``). Raises the
    same :class:`~semclust.errors.InputError`.
    """
    articles = read_in_folders([(f.path, f.root) for f in part.files], **options)
    docs = list(articles)
    return docs, list(articles.skipped)
