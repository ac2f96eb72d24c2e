"""Where semclust keeps its per-user caches (the embedding cache, the ONNX exports)."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["CACHE_DIR_ENV", "default_cache_dir"]

#: The environment variable that overrides the cache folder.
CACHE_DIR_ENV = "SEMCLUST_CACHE_DIR"


def default_cache_dir() -> Path:
    """``$SEMCLUST_CACHE_DIR`` if set, else the platform's user cache folder for semclust."""
    env = os.environ.get(CACHE_DIR_ENV)
    if env:
        return Path(env).expanduser()
    from platformdirs import user_cache_dir

    return Path(user_cache_dir("semclust"))
