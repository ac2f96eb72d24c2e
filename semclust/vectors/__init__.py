"""Vector snapshots: the on-disk chunk matrix of one generation, exact search and ANN indexes."""

from __future__ import annotations

from semclust.vectors.snapshot import DEFAULT_INDEX, Snapshot, build_index, exact_search, validate_factory

__all__ = ["DEFAULT_INDEX", "Snapshot", "build_index", "exact_search", "validate_factory"]
