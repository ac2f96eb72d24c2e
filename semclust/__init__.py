"""semclust: semantic search, related articles and themes for collections of articles.

>>> import semclust
>>> store = semclust.Store.open("news.semclust")
>>> store.add(semclust.read("seeds/"))
>>> store.search("Chinese security cooperation with Hungary", k=5).to_frame()
"""

from __future__ import annotations

import logging

from semclust._types import Document, Hit, Hits
from semclust.chunking import Chunk, chunk_document, chunk_text
from semclust.embeddings import Embedder, default_backend, get_embedder
from semclust.errors import (
    EmbeddingMismatchError,
    EmptyStoreError,
    InputError,
    InvalidArgumentError,
    NotFoundError,
    SemclustError,
    StoreError,
    StoreLockedError,
)
from semclust.ingest.cleaning import FURNITURE_PATTERNS, clean_text
from semclust.ingest.readers import read
from semclust.store.store import AddReport, Store

__version__ = "0.1.0"

__all__ = [
    "FURNITURE_PATTERNS",
    "AddReport",
    "Chunk",
    "Document",
    "Embedder",
    "EmbeddingMismatchError",
    "EmptyStoreError",
    "Hit",
    "Hits",
    "InputError",
    "InvalidArgumentError",
    "NotFoundError",
    "SemclustError",
    "Store",
    "StoreError",
    "StoreLockedError",
    "__version__",
    "chunk_document",
    "chunk_text",
    "clean_text",
    "default_backend",
    "get_embedder",
    "read",
]

logging.getLogger(__name__).addHandler(logging.NullHandler())
