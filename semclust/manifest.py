"""The store manifest: a plain JSON file with the format version and library versions."""

from __future__ import annotations

import contextlib
import datetime as _dt
import json
import os
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Any

__all__ = ["FORMAT_VERSION", "MANIFEST_NAME", "library_versions", "now_iso", "write_json_atomic"]

#: Version of the store's on-disk layout; a store of another version is refused with a clear message.
FORMAT_VERSION = 1
#: The manifest's file name inside a store folder.
MANIFEST_NAME = "manifest.json"


def library_versions() -> dict[str, str]:
    """Versions of Python and of the libraries whose files a store holds (recorded in manifests)."""
    from importlib.metadata import PackageNotFoundError, version

    out = {"python": sys.version.split()[0]}
    for pkg in (
        "semclust",
        "faiss-cpu",
        "numpy",
        "sentence-transformers",
        "onnxruntime",
        "onnx",
        "umap-learn",
        "hdbscan",
        "scikit-learn",
    ):
        with contextlib.suppress(PackageNotFoundError):
            out[pkg] = version(pkg)
    return out


def write_json_atomic(path: Path, data: Mapping[str, Any]) -> None:
    """Write JSON to ``path`` durably: a temporary file, fsync, then an atomic rename."""
    tmp = path.with_name(path.name + ".tmp")
    with tmp.open("w", encoding="utf-8") as f:
        json.dump(data, f, indent=2, sort_keys=True, ensure_ascii=False)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


def now_iso() -> str:
    """The current UTC time as an ISO 8601 string (seconds)."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")
