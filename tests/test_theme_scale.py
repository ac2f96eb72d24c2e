from __future__ import annotations

import numpy as np

from semclust.themes.assign import pool_rows
from semclust.themes.scale import (
    exact_neighbours,
    fit_sample,
    keyword_articles,
    place_by_neighbours,
    scaled_size,
)


def unit(X: np.ndarray) -> np.ndarray:
    return (X / np.linalg.norm(X, axis=1, keepdims=True)).astype(np.float32)


def test_fit_sample_is_seeded_sorted_and_only_above_the_threshold() -> None:
    assert fit_sample(100, 100, 0) is None and fit_sample(100, None, 0) is None
    a = fit_sample(1000, 300, 7)
    assert a is not None and len(a) == 300 and np.array_equal(a, np.unique(a)) and a.max() < 1000
    assert np.array_equal(a, fit_sample(1000, 300, 7))
    assert not np.array_equal(a, fit_sample(1000, 300, 8))


def test_scaled_size() -> None:
    assert scaled_size(316, 0.1, 5) == 32
    assert scaled_size(20, 0.1, 5) == 5  # floor
    assert scaled_size(3, 0.1, 5) == 3  # never above what was asked
    assert scaled_size(46, 1.0, 5) == 46


def test_pool_rows_matches_a_plain_sum_in_any_row_order() -> None:
    rng = np.random.default_rng(0)
    X = rng.normal(size=(50, 6)).astype(np.float32)
    rows = rng.integers(0, 12, size=50)  # interleaved articles; article 11 may have none
    expected = np.zeros((13, 6))
    np.add.at(expected, rows, X)
    assert np.allclose(pool_rows(X, rows, 13), expected, atol=1e-5)
    assert pool_rows(X[:0], rows[:0], 3).shape == (3, 6)


def test_exact_neighbours_are_the_nearest_by_cosine_itself_first() -> None:
    rng = np.random.default_rng(1)
    U = unit(rng.normal(size=(300, 16)))
    idx, dist = exact_neighbours(U, 10)
    assert idx.shape == dist.shape == (300, 10)
    assert np.array_equal(idx[:, 0], np.arange(300)) and np.allclose(dist[:, 0], 0.0)
    full = 1.0 - U @ U.T
    np.fill_diagonal(full, -1.0)
    expected = np.argsort(full, axis=1, kind="stable")[:, :10]
    assert np.array_equal(np.sort(idx, axis=1), np.sort(expected, axis=1))
    assert np.allclose(dist[:, 1:], np.take_along_axis(full, idx[:, 1:], axis=1), atol=1e-5)
    assert (np.diff(dist, axis=1) >= -1e-6).all()  # nearest first


def test_place_by_neighbours_lands_among_similar_anchors_of_the_same_group() -> None:
    rng = np.random.default_rng(2)
    centres = unit(rng.normal(size=(2, 16)))
    anchors = unit(np.repeat(centres, 20, axis=0) + 0.1 * rng.normal(size=(40, 16)))
    groups = np.repeat([0, 1], 20)
    xy = np.where(groups[:, None] == 0, [0.0, 0.0], [10.0, 10.0]).astype(np.float32)
    xy += rng.normal(size=(40, 2)).astype(np.float32) * 0.1
    queries = unit(np.repeat(centres, 5, axis=0) + 0.1 * rng.normal(size=(10, 16)))
    placed = place_by_neighbours(queries, np.repeat([0, 1], 5), anchors, xy, groups, k=5)
    assert np.allclose(placed[:5], 0.0, atol=1.0) and np.allclose(placed[5:], 10.0, atol=1.0)
    # a query placed in group 1 lands in group 1's region even if it resembles group 0
    odd = place_by_neighbours(queries[:1], np.array([1]), anchors, xy, groups, k=5)
    assert np.allclose(odd, 10.0, atol=1.0)
    # -1 (no theme) may use every anchor
    free = place_by_neighbours(queries[:1], np.array([-1]), anchors, xy, groups, k=5)
    assert np.allclose(free, 0.0, atol=1.0)


def test_keyword_articles_tops_up_themes_thin_in_the_sample() -> None:
    main = np.array([0] * 50 + [1] * 50 + [-1] * 10)
    similarity = np.linspace(1.0, 0.0, 110)
    sample = np.arange(0, 110, 2)[:40]  # 0..78: 25 of theme 0, 15 of theme 1, none of the outliers
    chosen = keyword_articles(main, similarity, sample, minimum=20)
    assert set(sample.tolist()) <= set(chosen.tolist())
    assert (main[chosen] == 0).sum() == 25  # enough already
    assert (main[chosen] == 1).sum() == 20  # topped up with its 5 members nearest the centre
    added = sorted(set(chosen.tolist()) - set(sample.tolist()))
    assert added == [51, 53, 55, 57, 59]


def test_umap_gets_the_exact_graph_and_keeps_its_machine_code() -> None:
    """A fit of a few hundred articles hands UMAP the exact neighbour graph (UMAP's own small-data
    path calls a numba function per pair from Python), and UMAP's numba functions use numba's
    on-disk cache so later processes do not compile them again."""
    import sys

    from semclust.themes import ThemeModel

    rng = np.random.default_rng(0)
    centres = unit(rng.normal(size=(4, 32)))
    X = unit(np.repeat(centres, 60, axis=0) + 0.15 * rng.normal(size=(240, 32)))
    model = ThemeModel(coords=False).fit(X)
    idx = model.umap_model_.precomputed_knn[0]
    assert idx is not None and idx.shape == (240, model.n_neighbors)
    exact_idx, _ = exact_neighbours(X, model.n_neighbors)
    assert (np.sort(idx, axis=1) == np.sort(exact_idx, axis=1)).mean() > 0.99
    from numba.core.registry import CPUDispatcher

    epoch = sys.modules["umap.layouts"]._nb_optimize_layout_euclidean_single_epoch  # the fit imported it
    assert isinstance(epoch, CPUDispatcher) and type(epoch._cache).__name__ == "FunctionCache"
    assert len(set(model.labels_[model.labels_ >= 0])) == 4
