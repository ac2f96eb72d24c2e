"""Saving fitted themes without pickle: a folder with ``themes.json`` (format version, library
versions, parameters, every level's themes, article ids) and plain ``.npy`` arrays (the fine
clusters' centres, thresholds and quantiles, the merge tree, each level's assignment).

Layout (format version 2)::

    themes.json            manifest: levels, the level shown by default, themes per level, ids
    centroids.npy ...      the fine clusters, shared by every level
    linkage.npy            the merge tree (see semclust.themes.tree.merge_tree)
    <level>.<array>.npy    per level: leaf_theme and the assignment arrays
    coords.npy             2-D map positions, when computed
    votes.vectors.npy ...  the fitted articles that place articles by their neighbours' votes
                           (vectors, group, leaf_group; their ``k`` in the manifest), when used
"""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semclust._disk import library_versions
from semclust.errors import NotFoundError, StoreFormatError
from semclust.themes.assign import Assignment
from semclust.themes.labels import Theme
from semclust.themes.refine import Votes
from semclust.themes.tree import ThemeTree

if TYPE_CHECKING:
    from semclust.themes.result import Themes

__all__ = ["THEMES_FORMAT_VERSION", "THEMES_MANIFEST", "load_themes", "save_themes"]

#: Version of the saved themes layout (``themes/themes.json`` and ``.npy`` files).
THEMES_FORMAT_VERSION = 2
#: The saved themes' manifest file.
THEMES_MANIFEST = "themes.json"

_SHARED = ("centroids", "thresholds", "quantiles", "leaf_size")
_VOTES = ("vectors", "group", "leaf_group")
_PER_LEVEL = (
    "leaf_theme", "main", "similarity", "confidence", "strength", "outlier",
    "weight_article", "weight_theme", "weight_value",
)


def _level_arrays(view: Themes) -> dict[str, np.ndarray]:
    a = view.assignment
    arrays = {name: getattr(a, name) for name in _PER_LEVEL if name != "leaf_theme"}
    arrays["leaf_theme"] = view.leaf_theme
    return arrays


def save_themes(themes: Themes, folder: str | os.PathLike[str]) -> Path:
    """Write ``themes`` (every level of their tree) to ``folder``, replacing it as a whole."""
    target = Path(folder)
    tmp = target.with_name(target.name + ".tmp")
    if tmp.exists():
        shutil.rmtree(tmp)
    tmp.mkdir(parents=True)
    views = themes._tree.views if themes._tree is not None else {themes.level_name: themes}
    arrays = {name: getattr(themes, name) for name in _SHARED}
    if themes._tree is not None:
        arrays["linkage"] = themes._tree.linkage
    if themes.coords is not None:
        arrays["coords"] = themes.coords
    if themes.votes is not None:
        arrays.update({f"votes.{name}": getattr(themes.votes, name) for name in _VOTES})
    for level, view in views.items():
        arrays.update({f"{level}.{k}": v for k, v in _level_arrays(view).items()})
    for name, arr in arrays.items():
        np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
    manifest = {
        "format_version": THEMES_FORMAT_VERSION, "versions": library_versions(),
        "generation": themes.generation, "previous_generation": themes.previous_generation,
        "next_id": themes.next_id, "params": themes.params, "level": themes.level_name,
        "levels": {
            level: {
                "themes": [t.to_dict() for t in view],
                "id_map": {str(k): v for k, v in view.id_map.items()},
            }
            for level, view in views.items()
        },
        "article_ids": themes.article_ids, "titles": themes.titles, "published": themes.published,
        "arrays": sorted(arrays),
        "votes_k": None if themes.votes is None else themes.votes.k,
    }
    (tmp / THEMES_MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
    old = target.with_name(target.name + ".old")
    if target.exists():
        if old.exists():
            shutil.rmtree(old)
        os.replace(target, old)
    os.replace(tmp, target)
    shutil.rmtree(old, ignore_errors=True)
    return target


def _read_manifest(root: Path) -> dict[str, Any]:
    try:
        manifest: dict[str, Any] = json.loads((root / THEMES_MANIFEST).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise NotFoundError(f"no saved themes in {root} (no {THEMES_MANIFEST})") from None
    except (OSError, ValueError) as err:
        raise StoreFormatError(f"{root / THEMES_MANIFEST} is not readable: {err}") from None
    version = manifest.get("format_version")
    if version != THEMES_FORMAT_VERSION:
        raise StoreFormatError(
            f"themes in {root} have format version {version}; this semclust reads version "
            f"{THEMES_FORMAT_VERSION}. Fit them again: store.themes(refit=True)"
        )
    return manifest


def load_themes(cls: type[Themes], folder: str | os.PathLike[str]) -> Themes:
    """Read themes written by :func:`save_themes` (no refitting, no pickle), at the level they
    were saved at, with their whole tree.
    """
    root = Path(folder)
    manifest = _read_manifest(root)
    try:
        arrays = {name: np.load(root / f"{name}.npy", allow_pickle=False) for name in manifest["arrays"]}
        votes = None
        if manifest.get("votes_k") is not None:
            votes = Votes(**{name: arrays[f"votes.{name}"] for name in _VOTES}, k=int(manifest["votes_k"]))
        views: dict[str, Themes] = {}
        for level, saved in manifest["levels"].items():
            own = {k: arrays[f"{level}.{k}"] for k in _PER_LEVEL}
            views[level] = cls(
                themes=[Theme.from_dict(t) for t in saved["themes"]],
                article_ids=manifest["article_ids"], titles=manifest["titles"],
                published=manifest["published"],
                assignment=Assignment(**{k: v for k, v in own.items() if k != "leaf_theme"}),
                leaf_theme=own["leaf_theme"], coords=arrays.get("coords"), params=manifest["params"],
                generation=manifest["generation"], previous_generation=manifest["previous_generation"],
                next_id=manifest["next_id"], id_map={int(k): v for k, v in saved["id_map"].items()},
                level=level, votes=votes, **{name: arrays[name] for name in _SHARED},
            )
        if "linkage" in arrays:
            ThemeTree(linkage=arrays["linkage"], views=views).attach()
        return views[manifest["level"]]
    except (OSError, KeyError, TypeError, ValueError) as err:
        raise StoreFormatError(
            f"the themes in {root} are damaged ({err}); fit them again: store.themes(refit=True)"
        ) from None
