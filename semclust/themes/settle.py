"""Settling the fitted themes' borders on the neighbour graph (:mod:`semclust.themes.refine`)
and keeping the tree consistent with the result: a fine cluster that settling left with fewer
articles than half HDBSCAN's floor (:data:`KEPT_SHARE`) is dropped from the tree
(:func:`~semclust.themes.tree.prune`) and its articles placed again, so no theme of any level
is a handful of articles left over on a border; a default-level theme left under
:data:`~semclust.themes.tree.THEME_FLOOR` of the articles joins its nearest
(:func:`settle_above_floor`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import numpy as np

from semclust.themes.assign import Assignment
from semclust.themes.build import LeafModel
from semclust.themes.refine import Votes, refine_partition, vote
from semclust.themes.tree import Levels, absorb_small, cut, prune

__all__ = ["KEPT_SHARE", "settle_above_floor", "settle_borders"]

#: A fine cluster must keep this share of HDBSCAN's ``min_cluster_size`` through settling.
KEPT_SHARE = 0.5

#: Rounds of dropping fine clusters left (nearly) without articles before giving up the votes.
_ROUNDS = 6


def settle_borders(
    leaves: LeafModel,
    units: np.ndarray,
    start: np.ndarray,
    neighbours: np.ndarray,
    articles: np.ndarray,
    place: Callable[[LeafModel, Votes, np.ndarray], Assignment],
    min_size: int = 1,
) -> tuple[LeafModel, Assignment] | None:
    """The leaves with :class:`~semclust.themes.refine.Votes` and every article placed by them.

    Args:
        leaves: The fine clusters, their tree and levels.
        units: The fitted articles' unit vectors.
        start: Each fitted article's fine cluster (``-1``: an outlier).
        neighbours: Each fitted article's nearest fitted articles (the level graph).
        articles: Every article's unit vector (the fitted ones and the rest).
        place: Assigns every article to the fine clusters of ``leaves`` with ``votes`` and the
            articles' votes (:func:`~semclust.themes.refine.vote`).
        min_size: A fine cluster left with fewer articles is dropped and its articles placed
            again: what settling leaves of it is the one or four articles that sat on a
            border, not a theme (the fit passes half HDBSCAN's ``min_cluster_size``,
            :data:`KEPT_SHARE`, so a cluster found at the floor may lose up to half its
            articles to its neighbours and stay).

    Returns:
        The leaves (fewer, where some were left empty) with their votes and the articles'
        fine-level assignment; ``None`` when no consistent set could be found (the caller keeps
        the nearest-cluster rule).
    """
    n_leaves = len(leaves.centroids)
    leaf_group = cut(leaves.tree, n_leaves, leaves.levels.themes)
    group = refine_partition(neighbours, np.where(start >= 0, leaf_group[np.maximum(start, 0)], -1))
    votes = Votes(vectors=units, group=group, leaf_group=leaf_group, k=int(neighbours.shape[1]))
    for round_ in range(_ROUNDS):
        voted = vote(articles, votes)
        placed = place(leaves, votes, voted)
        sizes = np.bincount(placed.main[placed.main >= 0], minlength=len(leaves.centroids))
        floor = min_size if round_ < _ROUNDS - 1 else 1  # the last round only drops the empty
        keep = sizes >= floor if (sizes >= floor).any() else sizes > 0
        if keep.all():
            return replace(leaves, leaf_size=sizes.astype(np.int64), votes=votes, voted=voted), placed
        if not keep.any():
            return None
        leaves, votes = _drop(leaves, votes, keep, sizes)
    return None


def settle_above_floor(
    leaves: LeafModel,
    units: np.ndarray,
    start: np.ndarray,
    neighbours: np.ndarray,
    articles: np.ndarray,
    place: Callable[[LeafModel, Votes, np.ndarray], Assignment],
    min_size: int,
    floor: float,
    start_of: Callable[[Assignment], np.ndarray],
) -> tuple[LeafModel, Assignment] | None:
    """:func:`settle_borders`, then once more where settling left a default-level theme with
    fewer than ``floor`` articles: that theme is hung under its nearest
    (:func:`~semclust.themes.tree.absorb_small`) and the borders are settled again from the
    first settling's placement (``start_of(placed)``: each fitted article's fine cluster).
    """
    settled = settle_borders(leaves, units, start, neighbours, articles, place, min_size)
    if settled is None:
        return None
    done, placed = settled
    sizes = done.leaf_size.astype(np.float64)
    tree, themes = absorb_small(done.tree, done.centroids, sizes, done.levels.themes, floor)
    if themes == done.levels.themes:
        return settled
    again = replace(done, tree=tree, levels=replace(done.levels, themes=themes), votes=None, voted=None)
    return settle_borders(again, units, start_of(placed), neighbours, articles, place, min_size) or settled


def _drop(leaves: LeafModel, votes: Votes, keep: np.ndarray, sizes: np.ndarray) -> tuple[LeafModel, Votes]:
    """The leaves where ``keep``, the tree pruned to them and the votes renumbered; a fitted
    article whose theme lost every fine cluster no longer votes.
    """
    themes = len(np.unique(votes.leaf_group[keep]))
    tree = prune(leaves.tree, keep, sizes[keep])
    leaf_group = cut(tree, int(keep.sum()), themes)
    renumber = np.full(int(votes.leaf_group.max()) + 1, -1, dtype=np.int64)
    renumber[votes.leaf_group[keep]] = leaf_group
    group = np.where(votes.group >= 0, renumber[np.maximum(votes.group, 0)], -1)
    kept = LeafModel(
        centroids=leaves.centroids[keep], thresholds=leaves.thresholds[keep],
        quantiles=leaves.quantiles[keep], leaf_size=sizes[keep].astype(np.int64), tree=tree,
        # the broad level is chosen again by the caller, on the settled tree and borders
        levels=Levels(broad=min(leaves.levels.broad, themes), themes=themes, fine=int(keep.sum())),
    )
    return kept, Votes(vectors=votes.vectors, group=group, leaf_group=leaf_group, k=votes.k)
