"""The clustering steps of a theme fit: UMAP, HDBSCAN's fine clusters, the small-corpus
grouping, and the 2-D map. Used by :class:`~semclust.themes.model.ThemeModel`.
"""

from __future__ import annotations

import logging
import time
import warnings
from typing import Any

import numpy as np

from semclust.errors import MissingDependencyError
from semclust.themes.assign import pool_articles, unit_rows
from semclust.themes.scale import (
    EXACT_NEIGHBOURS_MAX,
    EXACT_NEIGHBOURS_MIN,
    exact_neighbours,
    place_by_neighbours,
)

__all__ = [
    "StageClock",
    "by_size",
    "fine_centres",
    "link_similar",
    "make_hdbscan",
    "make_umap",
    "map_coordinates",
    "missing_extra",
    "pca2",
    "run_reducer",
]

logger = logging.getLogger(__name__)

_QUANTILES = 21  # points of each theme's similarity distribution kept for membership strength
# Epochs of the 2-D map's UMAP: UMAP's own choice above 10,000 points. Measured against its 500
# below that (same graph, seed 0): trustworthiness(10) 0.955 vs 0.962 on BBC, 0.902 vs 0.906 on
# R8, 0.650 vs 0.653 on 20NG; a 10-NN classifier of the true topics on the map within 0.004; the
# map's seconds 0.4x. The map is display only: the themes do not depend on it.
MAP_EPOCHS = 200


def missing_extra(extra: str, err: ImportError) -> MissingDependencyError:
    """The error for a missing optional package, naming the extra that installs it."""
    return MissingDependencyError(
        f"themes need {err.name or 'an optional package'}: install them with "
        f"`pip install 'semclust[{extra}]'` (umap-learn and scikit-learn)"
    )


def make_umap(
    units: np.ndarray,
    *,
    n_neighbors: int,
    n_components: int,
    min_dist: float,
    random_state: int | None,
    knn: tuple[np.ndarray, np.ndarray] | None,
    n_epochs: int | None = None,
) -> Any:
    """A cosine UMAP for ``units``; ``knn`` (exact neighbours, see
    :func:`~semclust.themes.scale.exact_neighbours`) replaces its own neighbour search;
    ``n_epochs`` ``None`` is UMAP's own choice (500 up to 10,000 units, else 200).
    """
    try:
        with warnings.catch_warnings():  # umap warns on import that TensorFlow is missing
            warnings.simplefilter("ignore", ImportWarning)
            from umap import UMAP  # type: ignore[import-untyped]
    except ImportError as err:
        raise missing_extra("themes", err) from err
    from semclust.themes._jit_cache import enable_umap_jit_cache

    enable_umap_jit_cache()  # compile UMAP's functions once per machine, not per process
    given: tuple[Any, Any, Any] = (None, None, None)
    if knn is not None:
        given = (knn[0].copy(), knn[1].copy(), None)  # UMAP edits them in place
    return UMAP(
        n_neighbors=max(2, min(n_neighbors, len(units) - 1)),
        n_components=n_components,
        min_dist=min_dist,
        metric="cosine",
        n_epochs=n_epochs,
        random_state=random_state,
        n_jobs=1 if random_state is not None else -1,
        low_memory=True,
        precomputed_knn=given,
    )


def neighbours_for(units: np.ndarray, n_neighbors: int) -> tuple[np.ndarray, np.ndarray]:
    """The exact ``n_neighbors`` nearest units of each unit (itself first)."""
    return exact_neighbours(units, max(2, min(n_neighbors, len(units) - 1)))


def uses_exact_neighbours(n_units: int) -> bool:
    """Whether UMAP gets the exact neighbour graph (instead of NN-descent) at this size."""
    return EXACT_NEIGHBOURS_MIN <= n_units <= EXACT_NEIGHBOURS_MAX


def run_reducer(reducer: Any, units: np.ndarray) -> np.ndarray:
    """``reducer.fit_transform(units)`` as float32, UMAP's notes logged rather than warned."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        embedding = np.asarray(reducer.fit_transform(units), dtype=np.float32)
    for w in caught:  # UMAP's notes (disconnected graph, spectral fallback) are not errors
        logger.info("UMAP: %s", w.message)
    return embedding


def make_hdbscan(n_points: int, min_cluster_size: int, min_samples: int) -> Any:
    """scikit-learn's HDBSCAN choosing the *leaf* clusters of its condensed tree: the finest
    dense groups, which the theme tree then merges (fast_hdbscan gave the same groups on BBC
    and R8 but was no faster and compiles for 20 s on its first run).
    """
    try:
        from sklearn.cluster import HDBSCAN  # type: ignore[import-untyped]
    except ImportError as err:
        raise missing_extra("themes", err) from err
    return HDBSCAN(
        min_cluster_size=max(2, min(min_cluster_size, n_points)),
        min_samples=max(1, min(min_samples, n_points)),
        cluster_selection_method="leaf",
        copy=True,
    )


def link_similar(units: np.ndarray, similarity: float) -> np.ndarray:
    """Small-corpus fine groups: average linkage on cosine distance, cut at ``1 - similarity``
    (articles about the same story join; each other article is a group of its own).
    """
    if len(units) == 1:
        return np.zeros(1, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]

    tree = linkage(units.astype(np.float64), method="average", metric="cosine")
    return np.asarray(fcluster(tree, t=1.0 - similarity, criterion="distance"), dtype=np.int64) - 1


def by_size(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters 0..k-1 by size, largest first (ties: first seen); ``-1`` stays."""
    out = np.full(len(labels), -1, dtype=np.int64)
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    for new, old in enumerate(found[np.argsort(-counts, kind="stable")].tolist()):
        out[labels == old] = new
    return out


def fine_centres(
    units: np.ndarray, seed: np.ndarray, q: float, centroids: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each fine cluster's centre (the mean of its members, unless ``centroids`` are given),
    its threshold (quantile ``q`` of its members' similarities to it) and the grid of quantiles
    used for membership strength.
    """
    k = int(seed.max()) + 1
    if centroids is None:
        centroids = unit_rows(np.stack([units[seed == t].mean(axis=0) for t in range(k)]))
    grid = np.linspace(0.0, 1.0, _QUANTILES)
    sims = [units[seed == t] @ centroids[t] for t in range(k)]
    quantiles = np.stack([np.quantile(s, grid) for s in sims])
    thresholds = np.array([np.quantile(s, q) for s in sims])
    return centroids, thresholds.astype(np.float32), quantiles.astype(np.float32)


def pca2(X: np.ndarray) -> np.ndarray:
    """2-D coordinates by PCA (for corpora too small for UMAP)."""
    if len(X) < 2:
        return np.zeros((len(X), 2), dtype=np.float32)
    centred = X - X.mean(axis=0)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    xy = u[:, :2] * s[:2]
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))).astype(np.float32)


def pooled_coords(
    xy: np.ndarray, level: str, row_article: np.ndarray, fit_rows: np.ndarray | None,
    n_articles: int, sample: np.ndarray | None,
) -> np.ndarray:
    """Map positions of the fitted units turned into positions of the fitted articles."""
    if level != "chunks":
        return xy
    unit_article = row_article if fit_rows is None else row_article[fit_rows]
    pooled = pool_articles(xy, unit_article, n_articles, normalise=False)
    return pooled if sample is None else pooled[sample]


class StageClock:
    """Seconds per stage, and the progress bar."""

    def __init__(self, progress: bool, stages: tuple[str, ...]) -> None:
        from tqdm.auto import tqdm

        self.timings: dict[str, float] = {}
        self._bar = tqdm(total=len(stages), desc="themes", unit="stage", disable=not progress)
        self._last = time.perf_counter()

    def lap(self, stage: str) -> None:
        """Record the seconds since the last lap as ``stage``."""
        now = time.perf_counter()
        self.timings[stage] = round(now - self._last, 3)
        self._last = now
        self._bar.set_postfix_str(stage)
        self._bar.update(1)

    def close(self) -> None:
        """Close the progress bar."""
        self._bar.close()


def map_coordinates(
    units: np.ndarray, article_vectors: np.ndarray, row_article: np.ndarray, main: np.ndarray,
    sample: np.ndarray | None, fit_rows: np.ndarray | None, *, level: str, small: bool,
    n_neighbors: int, random_state: int | None, knn: tuple[np.ndarray, np.ndarray] | None,
) -> np.ndarray:
    """2-D map positions of the articles: a 2-D UMAP of the fitted units (PCA for a small
    corpus); on a sampled fit, the other articles are placed among their nearest sample
    articles of the same theme (:func:`~semclust.themes.scale.place_by_neighbours`).
    """
    if small or len(units) < 8:
        return pca2(article_vectors)
    reducer = make_umap(
        units, n_neighbors=n_neighbors, n_components=2, min_dist=0.1, random_state=random_state,
        knn=knn if uses_exact_neighbours(len(units)) else None, n_epochs=MAP_EPOCHS,
    )
    n = len(article_vectors)
    xy = pooled_coords(run_reducer(reducer, units), level, row_article, fit_rows, n, sample)
    if sample is None:
        return xy.astype(np.float32)
    coords = np.zeros((n, 2), dtype=np.float32)
    coords[sample] = xy
    rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
    coords[rest] = place_by_neighbours(
        article_vectors[rest], main[rest], article_vectors[sample], xy, main[sample]
    )
    return coords
