"""Walking the theme tree of fitted themes: levels, parents, children, coarser cuts, and theme
ids that stay stable across refits at every level. The :class:`~semclust.themes.result.Themes`
methods ``level``, ``tree``, ``children``, ``parent``, ``reduce`` and :func:`match_themes` are
these functions.
"""

from __future__ import annotations

import itertools
from dataclasses import replace
from typing import TYPE_CHECKING, Any

import numpy as np

from semclust.errors import InvalidArgumentError, NotFoundError
from semclust.themes.labels import Theme, make_theme, merge_keywords
from semclust.themes.tree import LEVELS, ThemeTree, cut

if TYPE_CHECKING:
    import pandas as pd

    from semclust.themes.result import Themes

__all__ = ["at_level", "children", "match_themes", "parent", "reduce_along", "tree_frame"]


def _views(themes: Themes) -> dict[str, Themes]:
    tree = themes._tree
    return dict(tree.views) if tree is not None else {themes.level_name: themes}


def at_level(themes: Themes, level: str | int) -> Themes:
    """The themes at a named level (``"broad"``, ``"themes"``, ``"fine"``) or cut into at most
    ``level`` themes (an int) along the tree.
    """
    if isinstance(level, bool):
        raise InvalidArgumentError(f"level must be one of {', '.join(LEVELS)} or a number, got {level!r}")
    if isinstance(level, int):
        fine = _views(themes).get("fine", themes)
        return fine.reduce(level)
    views = _views(themes)
    if level in LEVELS and level not in views:  # a level that is the same cut as the default
        return views.get("themes", themes)
    if level not in views:
        raise InvalidArgumentError(
            f"unknown theme level {level!r}; levels are {', '.join(views)} (or a number of themes)"
        )
    return views[level]


def _order(themes: Themes) -> list[Themes]:
    views = _views(themes)
    return [views[name] for name in LEVELS if name in views]


def _parents(themes: Themes) -> dict[int, int | None]:
    """``{theme id: parent id}`` over every level (a broad theme's parent is ``None``)."""
    levels = _order(themes)
    out: dict[int, int | None] = {t: None for t in levels[0].ids} if levels else {}
    for coarse, fine in itertools.pairwise(levels):
        for leaf, t in enumerate(fine.leaf_theme.tolist()):
            out[int(t)] = int(coarse.leaf_theme[leaf])
    return out


def tree_frame(themes: Themes) -> pd.DataFrame:
    """One row per theme of every level, broadest first: theme_id, parent_id (``-1`` at the top),
    level, depth (0: broad), name, size, share, keywords.
    """
    import pandas as pd

    parents = _parents(themes)
    rows = []
    for depth, view in enumerate(_order(themes)):
        for t in view:
            up = parents.get(t.id)
            rows.append({
                "theme_id": t.id, "parent_id": -1 if up is None else up, "level": view.level_name,
                "depth": depth, "name": t.name, "size": t.size, "share": t.share, "keywords": t.keywords,
            })
    columns = ["theme_id", "parent_id", "level", "depth", "name", "size", "share", "keywords"]
    return pd.DataFrame(rows, columns=columns)


def _find(themes: Themes, theme_id: int) -> Themes:
    for view in _order(themes):
        if int(theme_id) in view._themes:
            return view
    raise NotFoundError(f"no theme with id {theme_id!r} at any level")


def parent(themes: Themes, theme_id: int) -> Theme | None:
    """The broader theme that contains ``theme_id`` (``None`` for a broad theme)."""
    _find(themes, theme_id)
    up = _parents(themes).get(int(theme_id))
    return None if up is None else _find(themes, up)[up]


def children(themes: Themes, theme_id: int) -> list[Theme]:
    """The themes one level finer inside ``theme_id``, largest first (``[]`` for a fine one)."""
    _find(themes, theme_id)
    parents = _parents(themes)
    kids = [t for t, p in parents.items() if p == int(theme_id)]
    found = [_find(themes, t)[t] for t in kids]
    return sorted(found, key=lambda t: (-t.size, t.id))


def _groups(themes: Themes, n: int) -> dict[int, int]:
    """``{theme id: group}`` for a cut into ``n`` groups: along the saved tree when there is
    one, else by average linkage of the theme centres.
    """
    tree = themes._tree
    if tree is not None:
        n_leaves = len(themes.leaf_theme)
        groups = cut(tree.linkage, n_leaves, n)
        return {int(t): int(g) for t, g in zip(themes.leaf_theme.tolist(), groups.tolist())}
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]

    ids, centres = themes.theme_centroids()
    merged = linkage(centres.astype(np.float64), method="average", metric="cosine")
    return dict(zip(ids, fcluster(merged, t=n, criterion="maxclust").tolist()))


def reduce_along(themes: Themes, n: int) -> Themes:
    """At most ``n`` themes, each a union of ``themes``' own, cut along the tree; a merged
    theme keeps the id of its largest part.
    """
    from semclust.themes.result import Themes as ThemesClass

    group_of = _groups(themes, n)
    mapping: dict[int, int] = {}
    merged: list[Theme] = []
    a = themes.assignment
    n_keywords = int(themes.params.get("n_keywords", 10))
    for g in sorted(set(group_of.values())):
        parts = [t for t in themes if group_of[t.id] == g]  # largest first
        if not parts:
            continue
        head = parts[0]
        for t in parts:
            mapping[t.id] = head.id
        if len(parts) == 1:
            merged.append(head)
            continue
        terms = merge_keywords([t.terms for t in parts], [t.size for t in parts])
        passages = sorted((p for t in parts for p in t.passages), key=lambda p: -p.similarity)[:3]
        members = np.flatnonzero(np.isin(a.main, [t.id for t in parts]))
        best = members[np.argsort(-a.similarity[members], kind="stable")[:3]]
        reps = [themes.article_ids[i] for i in best]
        merged.append(make_theme(
            head.id, terms, sum(t.size for t in parts), len(themes.article_ids), n_keywords, reps, passages
        ))
    out = ThemesClass(
        themes=merged, article_ids=themes.article_ids, titles=themes.titles, published=themes.published,
        assignment=_merge_weights(a.renumbered(mapping), themes.next_id), centroids=themes.centroids,
        thresholds=themes.thresholds, quantiles=themes.quantiles,
        leaf_theme=np.array([mapping.get(int(t), int(t)) for t in themes.leaf_theme], dtype=np.int64),
        leaf_size=themes.leaf_size, coords=themes.coords, params={**themes.params, "reduced_to": n},
        generation=themes.generation, previous_generation=themes.previous_generation,
        id_map=themes.id_map, next_id=themes.next_id, level=f"{themes.level_name}/{n}",
        votes=themes.votes,
    )
    out._tree = themes._tree
    return out


def _merge_weights(a: Any, next_id: int) -> Any:
    """Sum the weights of merged themes within each article."""
    key = a.weight_article * (next_id + 1) + a.weight_theme
    _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
    values = np.bincount(inverse, weights=a.weight_value).astype(np.float32)
    order = np.argsort(first, kind="stable")
    keep = first[order]
    return replace(
        a, weight_article=a.weight_article[keep], weight_theme=a.weight_theme[keep],
        weight_value=values[order],
    )


# -- stable ids ----------------------------------------------------------------------------------


def _match_level(new: Themes, old: Themes, threshold: float) -> dict[int, int]:
    """``{new id: old id}`` for the themes of one level that continue old ones.

    A pair scores ``0.5 * shared + 0.5 * cosine``: ``shared`` is the share of articles they have
    in common (over the smaller of the two, counting only old articles still present) and
    ``cosine`` the similarity of their centres; pairs are matched one-to-one to maximise the
    total (Hungarian method), and a pair below ``threshold`` is no match.
    """
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    new_ids, new_c = new.theme_centroids()
    old_ids, old_c = old.theme_centroids()
    if not new_ids or not old_ids:
        return {}
    alive = set(new.article_ids)
    new_sets = _members(new, new_ids, None)
    old_sets = _members(old, old_ids, alive)
    score = np.zeros((len(new_ids), len(old_ids)))
    if new_c.shape[1] == old_c.shape[1]:
        score += 0.5 * np.clip(new_c @ old_c.T, 0.0, 1.0)
    for i, ns in enumerate(new_sets):
        for j, os_ in enumerate(old_sets):
            if ns and os_:
                score[i, j] += 0.5 * len(ns & os_) / min(len(ns), len(os_))
    rows, cols = linear_sum_assignment(-score)
    return {new_ids[i]: old_ids[j] for i, j in zip(rows.tolist(), cols.tolist()) if score[i, j] >= threshold}


def _members(themes: Themes, ids: list[int], alive: set[str] | None) -> list[set[str]]:
    main = themes.assignment.main
    out = []
    for t in ids:
        docs = {themes.article_ids[i] for i in np.flatnonzero(main == t).tolist()}
        out.append(docs & alive if alive is not None else docs)
    return out


def _heirs(new: Themes, old: Themes) -> dict[int, int | None]:
    """``{old id: new id}`` (``new`` already renumbered): a kept id maps to itself, a theme not
    kept to the one that took most (at least half) of its articles, else ``None``.
    """
    new_ids, old_ids = new.ids, old.ids
    alive = set(new.article_ids)
    new_sets = _members(new, new_ids, None)
    old_sets = _members(old, old_ids, alive)
    kept = set(new_ids) & set(old_ids)
    out: dict[int, int | None] = {}
    for j, o in enumerate(old_ids):
        best = int(np.argmax([len(ns & old_sets[j]) for ns in new_sets])) if new_sets else -1
        took = len(new_sets[best] & old_sets[j]) if best >= 0 else 0
        heir = new_ids[best] if took and took * 2 >= len(old_sets[j]) else None
        out[o] = o if o in kept else heir
    return out


def match_themes(new: Themes, old: Themes, *, threshold: float = 0.5) -> Themes:
    """Give ``new`` themes, at every level, the ids of the ``old`` themes they continue.

    Each level is matched with the same level of the old fit (:func:`_match_level`); unmatched
    themes get fresh ids, never used before at any level. ``id_map`` (of each level's view)
    records old id -> new id (``None`` for a theme that disappeared).
    """
    new_views, old_views = _views(new), _views(old)
    next_id = max([old.next_id, *[t + 1 for v in old_views.values() for t in v.ids]])
    plans: dict[str, dict[int, int]] = {}
    names: list[str] = [n for n in ("themes", "broad", "fine") if n in new_views]
    for name in names:
        view = new_views[name]
        prev = old_views.get(name) or (old if len(old_views) == 1 else None)
        plan = _match_level(view, prev, threshold) if prev is not None else {}
        for t in view.ids:  # largest first
            if t not in plan:
                plan[t] = next_id
                next_id += 1
        plans[name] = plan
    relabelled = {name: view.relabel(plans[name]) for name, view in new_views.items()}
    for level, view in relabelled.items():
        view.next_id = next_id
        view.previous_generation = old.generation
        prev = old_views.get(level) or (old if len(old_views) == 1 else None)
        view.id_map = _heirs(view, prev) if prev is not None else {}
    if new._tree is not None:
        ThemeTree(linkage=new._tree.linkage, views=relabelled).attach()
    return relabelled[new.level_name]
