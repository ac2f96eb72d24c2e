"""Embedding models behind a small protocol: the bundled all-MiniLM-L6-v2 on ONNX (int8 or
float32) or torch, made by :func:`get_embedder`, and the on-disk embedding cache.
"""

from __future__ import annotations

from semclust.embeddings.base import (
    DEFAULT_MODEL,
    Embedder,
    available_backends,
    default_backend,
    get_embedder,
    register_backend,
)
from semclust.embeddings.cache import EmbeddingCache, embed_with_cache

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "EmbeddingCache",
    "available_backends",
    "default_backend",
    "embed_with_cache",
    "get_embedder",
    "register_backend",
]
