"""Themes of large corpora: fit on a seeded sample, place every other article without UMAP.

UMAP is the slow part of a theme fit (about 30 s for 10,000 articles on 2 cores, plus numba's
compilation in a fresh process), and a random sample of 10,000 articles holds every theme of
more than a few dozen articles, so it shows them too. :class:`~semclust.themes.model.ThemeModel`
fits on all articles up to ``max_fit_articles`` (default :data:`MAX_FIT_ARTICLES`) and above
that on a seeded random sample of that many:

1. :func:`fit_sample` draws the sample (the same one for the same corpus size and seed);
   UMAP and HDBSCAN run on it, with ``min_cluster_size`` and ``min_samples`` scaled by the
   sample's share of the corpus (:func:`scaled_size`, never below 5), so that a fine theme
   needs about as many articles of the whole corpus as in a full fit.
2. The themes' centres and thresholds come from the sample's members; every article (in the
   sample or not) is then assigned by the nearest-centre rule of
   :func:`semclust.themes.assign.assign`, in embedding space, with numpy only.
3. Keywords are computed on the sample's texts, plus the articles nearest the centre of a
   theme that has few members in the sample (:func:`keyword_articles`).
4. The 2-D map is a UMAP of the sample; every other article is placed at the weighted mean of
   the map positions of its nearest sample articles of the same theme
   (:func:`place_by_neighbours`).

For any fit of :data:`EXACT_NEIGHBOURS_MIN` to :data:`EXACT_NEIGHBOURS_MAX` units, the
neighbour graph UMAP starts from is computed exactly here (:func:`exact_neighbours`) instead of
by pynndescent, whose numba code takes 30-45 s to compile in a fresh process.

How well a sample fit agrees with a full fit is measured by ``benchmarks/bench_themes.py
--scale``. Everything here is numpy: nothing compiles at call time.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "EXACT_NEIGHBOURS_MAX",
    "EXACT_NEIGHBOURS_MIN",
    "MAX_FIT_ARTICLES",
    "MIN_KEYWORD_ARTICLES",
    "PLACE_NEIGHBOURS",
    "PLACE_TEMPERATURE",
    "exact_neighbours",
    "fit_sample",
    "keyword_articles",
    "place_by_neighbours",
    "scaled_size",
]

#: Default ``ThemeModel(max_fit_articles=...)``: corpora up to this many articles are fitted
#: whole; larger ones on a seeded random sample of this many (see the module docs).
MAX_FIT_ARTICLES = 10_000
#: Sample articles whose map positions place an article outside the sample.
PLACE_NEIGHBOURS = 10
#: Softmax temperature over cosine similarities of those neighbours (0.05: the nearest few count).
PLACE_TEMPERATURE = 0.05
#: A theme with fewer sample members than this gets its articles nearest the centre added to
#: the keyword texts, up to this many.
MIN_KEYWORD_ARTICLES = 30
#: From this many units up to :data:`EXACT_NEIGHBOURS_MAX`, the neighbour graph UMAP needs is
#: computed exactly with numpy (one matrix product per block) and handed to it. Above 4,096
#: units that replaces NN-descent (pynndescent's numba code, 30-45 s to compile in a fresh
#: process, never runs); below, it replaces UMAP's own all-pairs distances, which call a numba
#: function once per pair from Python (3.5 s of a 6 s fit at 2,000 articles; same graph).
EXACT_NEIGHBOURS_MIN = 64
EXACT_NEIGHBOURS_MAX = 32_768
_BATCH = 2048  # queries per similarity block


def fit_sample(n_articles: int, max_fit_articles: int | None, random_state: int | None) -> np.ndarray | None:
    """Sorted indices of the articles to fit on, or ``None`` to fit on all of them.

    A seeded random sample of ``max_fit_articles`` articles when there are more than that
    (``random_state=None``: a new sample each time).
    """
    if max_fit_articles is None or n_articles <= max_fit_articles:
        return None
    rng = np.random.default_rng(random_state)
    return np.sort(rng.choice(n_articles, size=max_fit_articles, replace=False)).astype(np.int64)


def scaled_size(size: int, share: float, floor: int) -> int:
    """``size`` (in articles of the whole corpus) scaled to a sample holding ``share`` of it,
    at least ``min(size, floor)``.
    """
    return max(min(size, floor), round(size * share))


def keyword_articles(
    main: np.ndarray, similarity: np.ndarray, sample: np.ndarray, minimum: int = MIN_KEYWORD_ARTICLES
) -> np.ndarray:
    """Sorted indices of the articles whose texts give the keywords of a sampled fit.

    The sample (its outliers included, as the c-TF-IDF background), plus, for each theme with
    fewer than ``minimum`` members in the sample, its members nearest its centre up to
    ``minimum``.
    """
    chosen = np.zeros(len(main), dtype=bool)
    chosen[sample] = True
    for theme in np.unique(main[main >= 0]).tolist():
        members = np.flatnonzero(main == theme)
        missing = minimum - int(chosen[members].sum())
        if missing <= 0:
            continue
        outside = members[~chosen[members]]
        nearest = outside[np.argsort(-similarity[outside], kind="stable")[:missing]]
        chosen[nearest] = True
    return np.flatnonzero(chosen)


def place_by_neighbours(
    vectors: np.ndarray,
    groups: np.ndarray,
    anchors: np.ndarray,
    anchor_xy: np.ndarray,
    anchor_groups: np.ndarray,
    *,
    k: int = PLACE_NEIGHBOURS,
    temperature: float = PLACE_TEMPERATURE,
) -> np.ndarray:
    """2-D positions of articles from the positions of their nearest anchors.

    Each of ``vectors`` (unit rows) is placed at the softmax-weighted (by cosine similarity)
    mean of the ``anchor_xy`` of its ``k`` most similar ``anchors`` in the same group (its
    theme; all anchors for a group that has none, or for ``-1``), so it lands among the
    articles it resembles and inside its theme's region of the map. Deterministic, numpy only,
    in blocks of a few thousand rows.
    """
    out = np.zeros((len(vectors), anchor_xy.shape[1]), dtype=np.float32)
    if len(vectors) == 0 or len(anchors) == 0:
        return out
    everyone = np.arange(len(anchors))
    for group in np.unique(groups).tolist():
        rows = np.flatnonzero(groups == group)
        pool = np.flatnonzero(anchor_groups == group) if group >= 0 else everyone
        if len(pool) == 0:
            pool = everyone
        base = anchors[pool]
        kk = min(k, len(pool))
        for start in range(0, len(rows), _BATCH):
            block = rows[start : start + _BATCH]
            sims = vectors[block] @ base.T
            if kk < len(pool):
                near = np.argpartition(-sims, kk - 1, axis=1)[:, :kk]
            else:
                near = np.broadcast_to(np.arange(kk), (len(block), kk))
            near_sims = np.take_along_axis(sims, near, axis=1)
            weights = np.exp((near_sims - near_sims.max(axis=1, keepdims=True)) / temperature)
            weights /= weights.sum(axis=1, keepdims=True)
            out[block] = np.einsum("ij,ijk->ik", weights, anchor_xy[pool][near])
    return out


def exact_neighbours(units: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """The ``k`` nearest units of each unit by cosine distance (itself first), as UMAP's
    ``precomputed_knn``: ``(indices int64, distances float32)``, each ``(n, k)``, nearest first.

    ``units`` must have unit-length rows. Exact, deterministic, numpy only, in blocks.
    """
    n = len(units)
    k = min(k, n)
    indices = np.empty((n, k), dtype=np.int64)
    distances = np.empty((n, k), dtype=np.float32)
    block = max(1, min(_BATCH, (64 << 20) // max(n, 1)))  # about 256 MB of similarities at most
    for start in range(0, n, block):
        stop = min(start + block, n)
        sims = units[start:stop] @ units.T
        sims[np.arange(stop - start), np.arange(start, stop)] = np.inf  # itself first
        if k < n:
            near = np.argpartition(-sims, k - 1, axis=1)[:, :k]
        else:
            near = np.tile(np.arange(n), (stop - start, 1))
        near_sims = np.take_along_axis(sims, near, axis=1)
        order = np.argsort(-near_sims, axis=1, kind="stable")
        indices[start:stop] = np.take_along_axis(near, order, axis=1)
        distances[start:stop] = np.clip(1.0 - np.take_along_axis(near_sims, order, axis=1), 0.0, 2.0)
    return indices, distances
