"""Theme borders drawn by the articles' neighbours in embedding space, not by the map.

HDBSCAN finds its fine clusters on UMAP's map, and where two themes meet, which side an
article falls on depends on UMAP's seed. Two steps move those borders into the original
embedding space, where they no longer depend on the seed:

* :func:`refine_partition`: a few sweeps of modularity local moving (the first phase of the
  Louvain method) on the articles' nearest-neighbour graph, the graph that already chose the
  default level: every article joins the theme of its neighbours that raises modularity most.
  The sweeps start from the tree's cut and are few (:data:`REFINE_SWEEPS`): they settle the
  borders without letting a large theme creep over its neighbours.
* :func:`vote`: the rule that places any article, fitted or new: its :class:`Votes` nearest
  fitted articles vote for their refined theme, weighted by similarity. The fit's articles are
  placed by the same rule, so a prediction agrees with the fit. Each article's vote depends only
  on its own vector, which is why assignment on Ray agrees exactly with the single-process one.

Numpy only: predicting never imports UMAP, HDBSCAN or scikit-learn.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["REFINE_SWEEPS", "VOTE_BLOCK", "Votes", "refine_partition", "vote"]

#: Sweeps of modularity local moving after the tree's cut (see :func:`refine_partition`).
REFINE_SWEEPS = 3
#: Articles per block when voting (a multiple of 64, so BLAS gives each row the same result
#: whatever the batch).
VOTE_BLOCK = 1024


@dataclass(frozen=True)
class Votes:
    """What :func:`vote` needs: the fitted articles and the default-level theme of each.

    ``vectors``: ``(n_ref, dim)`` unit vectors of the fitted articles; ``group``: ``(n_ref,)``
    the index of each one's default-level theme after :func:`refine_partition` (``-1``: an
    outlier, which does not vote); ``leaf_group``: ``(n_leaves,)`` the default-level theme index
    of each fine cluster; ``k``: how many nearest fitted articles vote.
    """

    vectors: np.ndarray
    group: np.ndarray
    leaf_group: np.ndarray
    k: int


def refine_partition(
    neighbours: np.ndarray, labels: np.ndarray, sweeps: int = REFINE_SWEEPS
) -> np.ndarray:
    """Labels after ``sweeps`` synchronous sweeps of modularity local moving.

    ``neighbours[i]`` are unit ``i``'s nearest units (itself may be among them) and ``labels[i]``
    its group (``-1``: an outlier, which neither moves nor pulls). The graph is the one
    :func:`~semclust.themes.tree.level_scores` measures: each neighbour link counted from both
    ends. In a sweep every unit moves, at once, to the group of its neighbours with the largest
    modularity gain (Newman 2006; staying put when no move gains); sweeps stop early when
    nothing moves.
    """
    labels = np.asarray(labels, dtype=np.int64).copy()
    n = len(labels)
    if n == 0 or labels.max(initial=-1) < 1:
        return labels
    rows = np.repeat(np.arange(n), neighbours.shape[1])
    cols = np.asarray(neighbours, dtype=np.int64).ravel()
    keep = rows != cols
    src = np.concatenate([rows[keep], cols[keep]])  # both ends of every link
    dst = np.concatenate([cols[keep], rows[keep]])
    degree = np.bincount(src, minlength=n).astype(np.float64)
    total = max(float(degree.sum()), 1.0)
    fixed = labels < 0
    k = int(labels.max()) + 1
    for _ in range(sweeps):
        live = ~fixed[dst]
        links = np.bincount(src[live] * k + labels[dst[live]], minlength=n * k).reshape(n, k)
        mass = np.bincount(labels[~fixed], weights=degree[~fixed], minlength=k)
        own = np.where(fixed, 0, labels)
        mass_without = mass[None, :] - np.eye(k)[own] * degree[:, None]  # a unit leaves its group
        gain = links - degree[:, None] * mass_without / total
        stay = gain[np.arange(n), own]
        best = gain.argmax(axis=1)
        moved = ~fixed & (gain[np.arange(n), best] > stay + 1e-9)
        if not moved.any():
            break
        labels[moved] = best[moved]
    return labels


def vote(articles: np.ndarray, votes: Votes) -> np.ndarray:
    """Each article's default-level theme index by its ``votes.k`` nearest fitted articles
    (cosine), each voting for its theme with its similarity; ``-1`` where none of them has one.
    """
    n, groups = len(articles), int(votes.leaf_group.max(initial=-1)) + 1
    out = np.full(n, -1, dtype=np.int64)
    ref_ok = votes.group >= 0
    if n == 0 or groups == 0 or not ref_ok.any():
        return out
    ref = votes.vectors[ref_ok]
    ref_group = votes.group[ref_ok]
    k = max(1, min(int(votes.k), len(ref)))
    for start in range(0, n, VOTE_BLOCK):
        block = np.ascontiguousarray(articles[start : start + VOTE_BLOCK], dtype=np.float32)
        sims = block @ ref.T
        near = np.argpartition(-sims, k - 1, axis=1)[:, :k] if k < len(ref) else np.tile(
            np.arange(len(ref)), (len(block), 1)
        )
        weight = np.take_along_axis(sims, near, axis=1).astype(np.float64)
        rows = np.repeat(np.arange(len(block)), near.shape[1])
        tally = np.bincount(
            rows * groups + ref_group[near].ravel(), weights=np.maximum(weight.ravel(), 0.0),
            minlength=len(block) * groups,
        ).reshape(len(block), groups)
        out[start : start + len(block)] = np.where(tally.max(axis=1) > 0, tally.argmax(axis=1), -1)
    return out
