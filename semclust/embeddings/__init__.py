"""Embedding models behind a small protocol: the bundled all-MiniLM-L6-v2 on ONNX (int8 or
float32) or torch, made by :func:`get_embedder`, and the on-disk embedding cache.

Modules: :mod:`~semclust.embeddings.base` (the :class:`Embedder` protocol, the tokenizer
adapter), :mod:`~semclust.embeddings.factory` (backends by name, the only module that knows
them), :mod:`~semclust.embeddings.model_files` (model folders, digests),
:mod:`~semclust.embeddings.torch` and :mod:`~semclust.embeddings.onnx` (the backends),
:mod:`~semclust.embeddings.cache` (the embedding cache), :mod:`~semclust.embeddings.cache_dir`
(where caches live) and :mod:`~semclust.embeddings.quiet` (model libraries kept quiet without
configuring logging).
"""

from __future__ import annotations

from semclust.embeddings.base import DEFAULT_MODEL, Embedder, HFTokenizer, check_vectors
from semclust.embeddings.cache import EmbeddingCache, embed_with_cache
from semclust.embeddings.cache_dir import default_cache_dir
from semclust.embeddings.factory import available_backends, default_backend, get_embedder, register_backend

__all__ = [
    "DEFAULT_MODEL",
    "Embedder",
    "EmbeddingCache",
    "HFTokenizer",
    "available_backends",
    "check_vectors",
    "default_backend",
    "default_cache_dir",
    "embed_with_cache",
    "get_embedder",
    "register_backend",
]
