"""The store: a folder that wires reading, chunking, embedding, vectors and search together."""

from __future__ import annotations

from semclust.store.store import Store

__all__ = ["Store"]
