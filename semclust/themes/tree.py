"""The theme tree: fine clusters merged, by group-average similarity in embedding space, up to
one root; the levels users see are cuts of that tree.

* :func:`merge_tree` joins the fine clusters (the *leaves*) pairwise, most similar first. The
  similarity of two groups is the mean cosine similarity of every pair of their articles
  (group average, UPGMA, computed exactly from the groups' mean vectors), so a merge height is
  a property of the articles, not of the cluster sizes, and heights only fall on the way up.
* :func:`cut` gives the partition of the leaves into ``k`` groups; every coarser cut is a union
  of finer ones, which is why :meth:`Themes.reduce <semclust.themes.result.Themes.reduce>` and
  the named levels always nest.
* :func:`choose_levels` picks the default level (``"themes"``) and a coarser ``"broad"`` one from
  the data (see :func:`level_scores` for the rule) and never from the number of articles.

Everything here is numpy; the tree of a fit is saved as a plain ``(L - 1, 4)`` array in the
layout of :func:`scipy.cluster.hierarchy.linkage` (similarities instead of distances).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "LEVELS",
    "THEME_FLOOR",
    "Levels",
    "ThemeTree",
    "absorb_small",
    "broad_level",
    "choose_levels",
    "cut",
    "level_scores",
    "lifetimes",
    "merge_tree",
    "prune",
    "small_levels",
]

#: The named levels, broadest first.
LEVELS = ("broad", "themes", "fine")

#: At the default level and above, a theme holds at least this share of the fitted articles
#: (:func:`absorb_small`).
THEME_FLOOR = 0.01


def merge_tree(means: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """Group-average agglomeration of ``L`` groups of unit vectors.

    Args:
        means: ``(L, dim)`` the mean (not normalised) of each group's unit vectors.
        sizes: ``(L,)`` the number of vectors in each group.

    Returns:
        ``(L - 1, 4)`` float64 rows ``[a, b, similarity, size]``: merge ``i`` joins nodes ``a`` and
        ``b`` (leaves are ``0..L-1``, merge ``i`` makes node ``L + i``) whose articles have mean
        pairwise cosine similarity ``similarity``. Ties go to the lower node ids.
    """
    n = len(means)
    out = np.zeros((max(n - 1, 0), 4), dtype=np.float64)
    if n < 2:
        return out
    m = np.asarray(means, dtype=np.float64)
    size = np.asarray(sizes, dtype=np.float64).copy()
    sims = m @ m.T
    alive = np.ones(n, dtype=bool)
    node = np.arange(n)  # the tree node each slot holds now
    np.fill_diagonal(sims, -np.inf)
    for step in range(n - 1):
        flat = int(np.argmax(sims))
        i, j = divmod(flat, n)
        i, j = min(i, j), max(i, j)
        out[step] = (min(node[i], node[j]), max(node[i], node[j]), sims[i, j], size[i] + size[j])
        # The merged group's similarity to any other is the size-weighted mean of its parts'.
        row = (size[i] * sims[i] + size[j] * sims[j]) / (size[i] + size[j])
        size[i] += size[j]
        alive[j] = False
        row[~alive] = -np.inf
        row[i] = -np.inf
        sims[i], sims[:, i] = row, row
        sims[j], sims[:, j] = -np.inf, -np.inf
        node[i] = n + step
    return out


def cut(tree: np.ndarray, n_leaves: int, k: int) -> np.ndarray:
    """The leaves' groups when the tree is cut into ``k`` groups (``1 <= k <= n_leaves``):
    ``(n_leaves,)`` labels ``0..k-1``, numbered by the smallest leaf in each group.
    """
    k = max(1, min(int(k), n_leaves))
    parent = np.arange(2 * n_leaves - 1) if n_leaves else np.zeros(0, dtype=np.int64)
    for step in range(n_leaves - k):
        a, b = int(tree[step, 0]), int(tree[step, 1])
        parent[a] = parent[b] = n_leaves + step
    root = np.arange(n_leaves)
    for _ in range(n_leaves):  # follow parents up to the nodes of the cut
        nxt = parent[root]
        if np.array_equal(nxt, root):
            break
        root = nxt
    _, labels = np.unique(root, return_inverse=True)
    first = np.full(k, n_leaves, dtype=np.int64)
    np.minimum.at(first, labels, np.arange(n_leaves))
    rank = np.argsort(np.argsort(first, kind="stable"), kind="stable")
    return rank[labels].astype(np.int64)


def prune(tree: np.ndarray, keep: np.ndarray, sizes: np.ndarray) -> np.ndarray:
    """The tree without the leaves where ``keep`` is false (``sizes``: the kept leaves' new
    sizes): a merge with a dropped part becomes the other part, the kept leaves are renumbered
    in order, and merges keep their order and heights, so every cut of the pruned tree is the
    old cut without the dropped leaves.
    """
    n_leaves = len(keep)
    node: list[int | None] = [None] * (2 * n_leaves - 1)
    kept = np.flatnonzero(keep)
    for new, old in enumerate(kept.tolist()):
        node[old] = new
    size = [float(x) for x in sizes]
    rows: list[tuple[float, float, float, float]] = []
    for step in range(n_leaves - 1):
        a, b = node[int(tree[step, 0])], node[int(tree[step, 1])]
        if a is None or b is None:
            node[n_leaves + step] = a if b is None else b
            continue
        made = len(kept) + len(rows)
        size.append(size[a] + size[b])
        rows.append((float(min(a, b)), float(max(a, b)), float(tree[step, 2]), size[-1]))
        node[n_leaves + step] = made
    return np.array(rows, dtype=np.float64).reshape(-1, 4)


def absorb_small(
    tree: np.ndarray, means: np.ndarray, sizes: np.ndarray, k: int, floor: float
) -> tuple[np.ndarray, int]:
    """The tree with each theme of its ``k``-cut smaller than ``floor`` articles hung under the
    nearest larger one, and the number of themes that cut then has.

    A tight group of a few dozen articles far from everything else (20 Newsgroups: a run of
    image-format questions) is joined last by group average, so it stays a theme of its own in
    every cut up to the top of the tree. Here it joins the theme of that cut most similar to it
    (group average, from ``means`` and ``sizes`` as in :func:`merge_tree`) just above the cut;
    the merges below the cut are kept, and those above it are the same merges without the
    small themes (as :func:`prune` drops leaves). Every cut of the new tree down to the ``k``-cut
    is a union of the old ``k``-cut's themes, and every finer cut is the old one.

    Returns ``(tree, k)`` unchanged when no theme is smaller, or every one is.
    """
    n = len(means)
    k = max(1, min(int(k), n))
    groups = cut(tree, n, k)
    weight = np.bincount(groups, weights=np.asarray(sizes, dtype=np.float64), minlength=k)
    small = weight < floor
    if not small.any() or small.all():
        return tree, k
    total = np.zeros((k, means.shape[1]))
    np.add.at(total, groups, means * np.asarray(sizes, dtype=np.float64)[:, None])
    centre = total / weight[:, None]
    # the node that holds each group of the cut (merges below the cut are kept as they are)
    parent = np.arange(2 * n - 1)
    for step in range(n - k):
        parent[int(tree[step, 0])] = parent[int(tree[step, 1])] = n + step
    top = np.arange(n)
    for _ in range(n):
        nxt = parent[top]
        if np.array_equal(nxt, top):
            break
        top = nxt
    group_node = np.zeros(k, dtype=np.int64)
    group_node[groups] = top
    rows = [tuple(float(x) for x in row) for row in tree[: n - k]]
    height = float(tree[n - k, 2]) if n - k < n - 1 else float(tree[-1, 2])
    large = np.flatnonzero(~small)
    node = {int(g): int(group_node[g]) for g in large}
    mass = {int(g): float(weight[g]) for g in large}
    smalls = np.flatnonzero(small)
    sims = centre[smalls] @ centre[large].T
    into = large[sims.argmax(axis=1)]
    for pos in np.argsort(-sims.max(axis=1), kind="stable"):  # the nearest first
        g, s = int(into[pos]), int(smalls[pos])
        a, b = sorted((node[g], int(group_node[s])))
        mass[g] += float(weight[s])
        rows.append((float(a), float(b), height, mass[g]))
        node[g] = n + len(rows) - 1
    # the merges above the cut, without the small groups
    now: dict[int, int | None] = {int(group_node[g]): node.get(int(g)) for g in range(k)}
    size_of = {node[g]: mass[g] for g in node}
    for step in range(n - k, n - 1):
        left, right = now[int(tree[step, 0])], now[int(tree[step, 1])]
        if left is None or right is None:
            now[n + step] = left if right is None else right
            continue
        made = n + len(rows)
        size_of[made] = size_of[left] + size_of[right]
        rows.append((float(min(left, right)), float(max(left, right)), float(tree[step, 2]), size_of[made]))
        now[n + step] = n + len(rows) - 1
    return np.array(rows, dtype=np.float64).reshape(-1, 4), len(large)


def level_scores(
    tree: np.ndarray, leaf_of: np.ndarray, neighbours: np.ndarray, ks: Sequence[int]
) -> np.ndarray:
    """The modularity of each cut ``k`` in ``ks`` on the articles' nearest-neighbour graph.

    ``leaf_of[i]`` is article ``i``'s leaf and ``neighbours[i]`` its nearest articles in the
    original embedding space (cosine). Modularity (Newman 2006) is the share of neighbour links
    inside the groups less the share expected if links fell at random with the same degrees:
    a measure, on the original vectors, of how much more the articles of a theme are each
    other's neighbours than chance would make them.
    """
    n_leaves = int(leaf_of.max()) + 1 if len(leaf_of) else 0
    rows = np.repeat(np.arange(len(neighbours)), neighbours.shape[1])
    cols = neighbours.ravel()
    keep = rows != cols
    links = np.zeros((n_leaves, n_leaves))
    np.add.at(links, (leaf_of[rows[keep]], leaf_of[cols[keep]]), 1.0)
    links = links + links.T
    total = max(links.sum(), 1.0)
    out = np.zeros(len(ks))
    for pos, k in enumerate(ks):
        groups = cut(tree, n_leaves, k)
        member = np.zeros((int(k), n_leaves))
        member[groups, np.arange(n_leaves)] = 1.0
        within = member @ links @ member.T
        degree = within.sum(axis=1) / total
        out[pos] = np.trace(within) / total - float((degree**2).sum())
    return out


@dataclass(frozen=True)
class Levels:
    """How many themes each named level has (``broad <= themes <= fine``)."""

    broad: int
    themes: int
    fine: int

    def as_dict(self) -> dict[str, int]:
        """``{level name: number of themes}``, broadest first."""
        return {"broad": self.broad, "themes": self.themes, "fine": self.fine}


def choose_levels(tree: np.ndarray, leaf_of: np.ndarray, neighbours: np.ndarray) -> Levels:
    """The default and broad levels of a tree, from the data.

    The default level is the cut whose themes are most modular on the nearest-neighbour graph
    (:func:`level_scores`). The broad level is, among the cuts with at most half as many
    themes, one both set apart by a gap in merge heights and modular (:func:`broad_level`), so
    that the tree reads from a handful of broad themes through the default ones down to the
    fine clusters.
    """
    n_leaves = int(leaf_of.max()) + 1 if len(leaf_of) else 1
    if n_leaves <= 2:
        return Levels(broad=1, themes=n_leaves, fine=n_leaves)
    ks = list(range(2, n_leaves + 1))
    scores = level_scores(tree, leaf_of, neighbours, ks)
    best = ks[int(np.argmax(scores))]
    return Levels(broad=broad_level(tree, leaf_of, neighbours, best), themes=best, fine=n_leaves)


def lifetimes(tree: np.ndarray, n_leaves: int) -> np.ndarray:
    """How long each cut lives in the tree: ``out[k]`` is the similarity at which the cut into
    ``k`` groups forms less the one at which its next merge ends it (``k`` from 2 to
    ``n_leaves - 1``; 0 elsewhere). A long-lived cut is separated by a gap in merge heights.
    """
    out = np.zeros(n_leaves + 1)
    for k in range(2, n_leaves):
        out[k] = tree[n_leaves - k - 1, 2] - tree[n_leaves - k, 2]
    return out


def broad_level(tree: np.ndarray, leaf_of: np.ndarray, neighbours: np.ndarray, themes: int) -> int:
    """The broad level above a default level of ``themes``: among the cuts of at least two and
    at most half as many themes, the one with the largest product of how long it lives in the
    tree (:func:`lifetimes`, a gap in merge heights) and how modular it is (:func:`level_scores`,
    the default level's own measure); ``themes`` itself where there is no such cut.

    A gap alone picked, on some corpora, the two or three odd groups the tree joins last
    ("everything" against 64 articles on a ship strike: a long-lived cut, but one that holds
    almost no neighbour links apart); modularity alone picks the most themes allowed.
    """
    upper = list(range(2, themes // 2 + 1))
    if not upper:
        return themes
    n_leaves = int(leaf_of.max()) + 1
    life = lifetimes(tree, n_leaves)[upper]
    modular = np.maximum(level_scores(tree, leaf_of, neighbours, upper), 0.0)
    return upper[int(np.argmax(life * modular))]


def small_levels(tree: np.ndarray, unit_leaf: np.ndarray, neighbours: np.ndarray) -> Levels:
    """Levels of a small corpus (no HDBSCAN; each fine group a story): the most modular cut, on
    the units' few nearest ``neighbours``, whose themes all have at least two units (a theme of
    one article is not a theme); one theme when there is no such cut.
    """
    n_leaves = int(unit_leaf.max()) + 1
    ks = []
    for k in range(2, n_leaves + 1):
        groups = cut(tree, n_leaves, k)[unit_leaf]
        if np.bincount(groups).min() >= 2:
            ks.append(k)
    if not ks:
        return Levels(broad=1, themes=1, fine=n_leaves)
    scores = level_scores(tree, unit_leaf, neighbours, ks)
    best = ks[int(np.argmax(scores))]
    return Levels(broad=1 if best > 1 else best, themes=best, fine=n_leaves)


@dataclass
class ThemeTree:
    """The fitted tree behind a :class:`~semclust.themes.result.Themes`: the merge tree of the
    fine clusters (:func:`merge_tree`'s array) and one view per named level (:data:`LEVELS`),
    all sharing the same fine clusters (``leaf_theme`` of each view says which of its themes a
    fine cluster belongs to).
    """

    linkage: np.ndarray
    views: dict[str, Any] = field(default_factory=dict)

    def attach(self) -> ThemeTree:
        """Point every view at this tree; returns ``self``."""
        for view in self.views.values():
            view._tree = self
        return self

    def level_of(self, theme_id: int) -> str | None:
        """The level a theme id belongs to, or ``None``."""
        for name, view in self.views.items():
            if theme_id in view._themes:
                return str(name)
        return None
