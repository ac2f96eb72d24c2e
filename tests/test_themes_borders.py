"""Theme borders settled on the articles' neighbours in embedding space
(semclust.themes.refine and semclust.themes.settle): the fit, predictions, saving, and the tree
kept consistent when a fine cluster is left empty.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from semclust.themes import ThemeModel, Themes
from semclust.themes.refine import refine_partition
from semclust.themes.tree import cut, merge_tree, prune


class ByFirstAxis:
    """A stand-in for HDBSCAN that cuts the map's first axis into equal-count bins: bins are
    dense groups, except the one that straddles the gap between the two blobs.
    """

    def __init__(self, bins: int) -> None:
        self.bins = bins

    def fit(self, X: np.ndarray) -> ByFirstAxis:
        rank = np.argsort(np.argsort(X[:, 0], kind="stable"), kind="stable")
        self.labels_ = (rank * self.bins // len(X)).astype(np.int64)
        return self


def two_blobs(seed: int = 0, n_a: int = 170, n_b: int = 130, dim: int = 24):
    rng = np.random.default_rng(seed)
    axis = rng.normal(size=dim)
    axis /= np.linalg.norm(axis)
    base = rng.normal(size=dim)
    A = base + 3.0 * axis + 0.8 * rng.normal(size=(n_a, dim))
    B = base - 3.0 * axis + 0.8 * rng.normal(size=(n_b, dim))
    return np.vstack([A, B]).astype(np.float32), np.repeat([0, 1], [n_a, n_b])


@pytest.fixture(scope="module")
def straddled():
    from sklearn.decomposition import PCA

    X, truth = two_blobs()
    model = ThemeModel(
        coords=False, small_corpus=20, random_state=0,
        umap_model=PCA(n_components=2, random_state=0), hdbscan_model=ByFirstAxis(6),
    ).fit(X)
    return model, X, truth


def test_refine_partition_moves_a_border_unit_to_its_neighbours() -> None:
    # units 0-4 and 5-9 are two cliques; unit 4 starts in the wrong group; unit 9 is an outlier
    neighbours = np.array([[j for j in (range(5) if i < 5 else range(5, 10)) if j != i] for i in range(10)])
    start = np.array([0, 0, 0, 0, 1, 1, 1, 1, 1, -1])
    got = refine_partition(neighbours, start)
    assert got.tolist() == [0, 0, 0, 0, 0, 1, 1, 1, 1, -1]
    assert refine_partition(neighbours, start, sweeps=0).tolist() == start.tolist()
    settled = np.array([0, 0, 0, 0, 0, 1, 1, 1, 1, 1])
    assert refine_partition(neighbours, settled).tolist() == settled.tolist()  # a settled partition stays


def test_prune_keeps_every_cut_without_the_dropped_leaves() -> None:
    rng = np.random.default_rng(1)
    means = rng.normal(size=(12, 8))
    means /= np.linalg.norm(means, axis=1, keepdims=True)
    tree = merge_tree(means, np.ones(12))
    keep = np.ones(12, dtype=bool)
    keep[[2, 7, 8]] = False
    pruned = prune(tree, keep, np.full(9, 2.0))
    assert pruned.shape == (8, 4)
    assert pruned[-1, 3] == 18.0  # sizes are the kept leaves' new sizes
    for k in range(1, 13):
        old = cut(tree, 12, k)[keep]
        k_kept = len(set(old.tolist()))
        new = cut(pruned, 9, k_kept)
        pairs = set(zip(old.tolist(), new.tolist()))
        assert len(pairs) == k_kept  # the same partition of the kept leaves


class Fixed:
    """A stand-in for HDBSCAN that returns given clusters."""

    def __init__(self, labels: np.ndarray) -> None:
        self.labels = labels

    def fit(self, X: np.ndarray) -> Fixed:
        self.labels_ = self.labels
        return self


def rod_and_ball(seed: int = 0, n_a: int = 200, n_b: int = 40, dim: int = 16):
    """A long thin theme (a rod) with a small round one (a ball) beside its tip: the rod's tip
    is nearer the ball's centre than the rod's, while its neighbours are rod articles.
    """
    rng = np.random.default_rng(seed)
    e = np.eye(dim)
    u = rng.uniform(-6, 6, n_a)
    A = 20 * e[0] + u[:, None] * e[1] + 0.3 * rng.normal(size=(n_a, dim)) * (1 - e[0])
    B = 20 * e[0] + 7 * e[1] + 1.0 * e[2] + 0.3 * rng.normal(size=(n_b, dim)) * (1 - e[0])
    return np.vstack([A, B]).astype(np.float32), np.repeat([0, 1], [n_a, n_b])


def test_articles_are_placed_by_their_neighbours_votes() -> None:
    from sklearn.preprocessing import FunctionTransformer

    X, truth = rod_and_ball()
    themes = ThemeModel(coords=False, umap_model=FunctionTransformer(), hdbscan_model=Fixed(truth)).fit(X).themes_
    votes = themes.votes
    assert votes is not None and len(votes.vectors) == len(X)
    units = X / np.linalg.norm(X, axis=1, keepdims=True)
    sims = units @ votes.vectors.T
    theme_of_group = {int(g): int(t) for g, t in zip(votes.leaf_group, themes.leaf_theme)}
    differ = 0
    for i in np.flatnonzero(themes.labels >= 0):
        near = np.argsort(-sims[i], kind="stable")[: votes.k]
        tally = np.bincount(votes.group[near][votes.group[near] >= 0], weights=sims[i, near][votes.group[near] >= 0])
        assert themes.labels[i] == theme_of_group[int(tally.argmax())]
        nearest = int(np.argmax(units[i] @ themes.centroids.T))
        differ += int(themes.leaf_theme[nearest] != themes.labels[i])
    assert differ > 0  # some articles are placed by their neighbours, not by the nearest centre


def test_predictions_agree_with_the_fit_and_survive_saving(straddled, tmp_path: Path) -> None:
    model, X, _ = straddled
    themes = model.themes_
    assert themes.votes is not None
    predicted = [p.theme_id for p in themes.predict(X)]
    assert predicted == themes.labels.tolist()
    loaded = Themes.load(themes.save(tmp_path / "themes"))
    assert loaded.votes is not None
    assert [p.theme_id for p in loaded.predict(X)] == predicted
    assert [p.theme_id for p in loaded.level("fine").predict(X)] == loaded.level("fine").labels.tolist()
    fine = loaded.level("fine")
    for i in np.flatnonzero(loaded.labels >= 0):  # every article's fine theme lies inside its theme
        parent = loaded.parent(int(fine.labels[i])) if len(fine) > len(loaded) else fine[int(fine.labels[i])]
        assert parent is not None and parent.id == int(loaded.labels[i])


def test_small_corpus_and_chunk_level_keep_the_nearest_cluster_rule() -> None:
    X, _ = two_blobs(n_a=12, n_b=10)
    assert ThemeModel(coords=False).fit(X).themes_.votes is None  # a small corpus (< 30 articles)
    rows = np.repeat(np.arange(len(X)), 2)
    chunks = X[rows] + 0.01
    from sklearn.decomposition import PCA

    fitted = ThemeModel(
        coords=False, small_corpus=20, level="chunks",
        umap_model=PCA(n_components=2, random_state=0), hdbscan_model=ByFirstAxis(4),
    ).fit(chunks, [str(r) for r in rows])
    assert fitted.themes_.votes is None
