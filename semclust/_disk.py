"""Durable files shared by every stage: atomic JSON, fsync, timestamps and library versions.

Nothing here knows about stores, snapshots or themes; it sits below all of them.
"""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["fsync_dir", "fsync_file", "library_versions", "now_iso", "write_json_atomic"]

#: The libraries whose files semclust writes (recorded in every manifest).
_RECORDED_PACKAGES = (
    "semclust",
    "faiss-cpu",
    "numpy",
    "sentence-transformers",
    "onnxruntime",
    "onnx",
    "umap-learn",
    "hdbscan",
    "scikit-learn",
)


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries whose files a store holds (recorded in manifests)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in _RECORDED_PACKAGES:
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def fsync_file(path: Path) -> None:
    """Flush ``path``'s data to disk."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Flush a folder's entries to disk (a no-op where the filesystem does not allow it)."""
    with contextlib.suppress(OSError):
        fsync_file(path)


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` durably: a temporary file, fsync, then an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)
    fsync_dir(path.parent)


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
