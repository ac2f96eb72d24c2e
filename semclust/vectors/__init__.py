"""Vector snapshots: the on-disk chunk matrix of one generation (:mod:`~semclust.vectors.snapshot`),
exact search (:mod:`~semclust.vectors.exact`), and ANN indexes: building and the automatic
choice (:mod:`~semclust.vectors.ann`), tuning (:mod:`~semclust.vectors.tuning`).
"""

from __future__ import annotations

from semclust.vectors.ann import DEFAULT_INDEX, build_index, validate_factory
from semclust.vectors.exact import exact_search
from semclust.vectors.snapshot import Snapshot

__all__ = ["DEFAULT_INDEX", "Snapshot", "build_index", "exact_search", "validate_factory"]
