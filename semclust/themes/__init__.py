"""Themes: article vectors clustered into a tree of labelled, stable themes.

UMAP + HDBSCAN find fine themes, which merge up by group-average similarity in the embedding
space; the default level is chosen from the data (:mod:`semclust.themes.tree`). Modules:
``model`` (the estimator), ``cluster`` (UMAP, HDBSCAN, the map), ``tree`` (merge tree, levels),
``build`` (levels, ids, labels of a fit), ``hierarchy`` (walking the tree, stable ids),
``labels`` and ``naming`` (keywords and names), ``assign`` (nearest-centre rule), ``result``
(:class:`Themes`), ``persist`` (saving without pickle), ``scale`` (large corpora).

The stage takes vectors and texts (:meth:`ThemeModel.fit`) and never a store; the store's
themes (fit, save, load, predict) are wired in :mod:`semclust.store.themes`.
"""

from __future__ import annotations

from semclust.themes.assign import Assignment, assign, unit_rows
from semclust.themes.labels import Passage, Theme
from semclust.themes.model import SMALL_CORPUS, ThemeModel, default_min_cluster_size
from semclust.themes.result import THEMES_FORMAT_VERSION, ThemePrediction, Themes, match_themes
from semclust.themes.scale import MAX_FIT_ARTICLES

__all__ = [
    "MAX_FIT_ARTICLES",
    "SMALL_CORPUS",
    "THEMES_FORMAT_VERSION",
    "Assignment",
    "Passage",
    "Theme",
    "ThemeModel",
    "ThemePrediction",
    "Themes",
    "assign",
    "default_min_cluster_size",
    "match_themes",
    "unit_rows",
]
