"""The JSON of ``/themes`` and ``/themes/{id}``: the saved themes at one level of their tree,
each theme with its place in the tree (``parent_id``, ``level``, ``children``).

The levels are those of :meth:`semclust.Themes.level`: ``"broad"`` (a handful of themes),
``"themes"`` (the default level, chosen from the data; ``"default"`` in a request means the
same) and ``"fine"``. A theme id is unique across the levels, so ``/themes/{id}`` finds a theme
of any level. Replies are built field by field: the API's shape is the models' in
:mod:`semclust.server.models`, whatever else a theme carries in the library.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from semclust.errors import ApiError

if TYPE_CHECKING:
    from semclust.themes.labels import Theme
    from semclust.themes.result import Themes

__all__ = ["DEFAULT_LEVEL", "LEVEL_CHOICES", "ThemeIndex", "index_themes", "jsonable", "level_name"]

#: The name of the default level in replies (``"default"`` is accepted for it in requests).
DEFAULT_LEVEL = "themes"
#: The values of ``/themes?level=``.
LEVEL_CHOICES = ("broad", "default", "themes", "fine")


def jsonable(obj: Any) -> Any:
    """``obj`` as plain JSON values (numpy scalars and arrays, dataclasses, ``to_dict()``)."""
    to_dict = getattr(obj, "to_dict", None)
    if callable(to_dict):
        return jsonable(to_dict())
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        return jsonable(dataclasses.asdict(obj))
    if isinstance(obj, dict):
        return {str(k): jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [jsonable(v) for v in obj]
    if obj is None or isinstance(obj, (str, int, float, bool)):
        return obj
    tolist = getattr(obj, "tolist", None)  # numpy scalars and arrays
    return jsonable(tolist()) if callable(tolist) else str(obj)


def level_name(level: str | None, default: str = DEFAULT_LEVEL) -> str:
    """The library's name of a requested level (``None`` and ``"default"``: ``default``, the
    level the themes were saved at).
    """
    if level is None or level == "default":
        return default
    if level not in LEVEL_CHOICES:
        raise ApiError(422, f"query parameter 'level': expected one of {', '.join(LEVEL_CHOICES)}, "
                       f"got {level!r}")
    return level


def _theme_json(theme: Theme) -> dict[str, Any]:
    return {
        "id": theme.id, "name": theme.name, "keywords": list(theme.keywords), "size": theme.size,
        "share": theme.share, "representatives": list(theme.representatives),
        "passages": [
            {"doc_id": p.doc_id, "index": p.index, "similarity": p.similarity, "text": p.text}
            for p in theme.passages
        ],
        "terms": [[w, s] for w, s in theme.terms],
    }


@dataclass
class ThemeIndex:
    """Saved themes with every theme of every level placed in the tree, built once per load.

    Attributes:
        themes: The saved themes (the default level, with the whole tree behind it).
        store_generation: The store generation the index was built at.
        level_of: ``{theme id: level}``.
        parent_of: ``{theme id: parent id}`` (``None`` at the top level).
        children_of: ``{theme id: ids of the themes one level finer inside it}``, largest first.
    """

    themes: Themes
    store_generation: int
    level_of: dict[int, str] = field(default_factory=dict)
    parent_of: dict[int, int | None] = field(default_factory=dict)
    children_of: dict[int, list[int]] = field(default_factory=dict)
    _records: dict[int, Theme] = field(default_factory=dict)
    _replies: dict[str, dict[str, Any]] = field(default_factory=dict)

    @property
    def stale(self) -> bool:
        """Whether the store changed since the themes were fitted."""
        return self.themes.generation != self.store_generation

    def _freshness(self) -> dict[str, Any]:
        return {"generation": self.themes.generation, "store_generation": self.store_generation,
                "stale": self.stale}

    def _placed(self, theme: Theme) -> dict[str, Any]:
        return {**_theme_json(theme), "parent_id": self.parent_of.get(theme.id),
                "level": self.level_of.get(theme.id, self.themes.level_name),
                "children": list(self.children_of.get(theme.id, []))}

    def _ref(self, theme_id: int) -> dict[str, Any]:
        theme = self._records[theme_id]
        return {"id": theme.id, "name": theme.name, "size": theme.size, "level": self.level_of[theme_id]}

    def level_reply(self, level: str | None) -> dict[str, Any]:
        """The reply of ``/themes?level=...`` (``None``: the default level)."""
        name = level_name(level, self.themes.level_name)
        if name not in self._replies:
            view = self.themes.level(name)
            self._replies[name] = jsonable({
                **self._freshness(), "level": view.level_name, "default_level": self.themes.level_name,
                "levels": dict(self.themes.levels), "n_articles": len(view.article_ids),
                "n_themes": len(view), "n_outliers": view.n_outliers,
                "outlier_share": round(view.outlier_share, 6),
                "themes": [self._placed(t) for t in view],
                "id_map": {str(k): v for k, v in view.id_map.items()}, "params": dict(view.params),
            })
        return self._replies[name]

    def theme_reply(self, theme_id: str) -> dict[str, Any]:
        """The reply of ``/themes/{id}``: one theme of any level, with its parent and children."""
        try:
            key = int(theme_id)
        except ValueError:
            key = None
        if key is None or key not in self._records:
            raise ApiError(404, f"no theme with id {theme_id!r} at any level")
        parent = self.parent_of.get(key)
        reply: dict[str, Any] = jsonable({
            **self._placed(self._records[key]), **self._freshness(),
            "parent": self._ref(parent) if parent is not None else None,
            "child_themes": [self._ref(c) for c in self.children_of.get(key, [])],
        })
        return reply


def index_themes(themes: Themes, store_generation: int) -> ThemeIndex:
    """Place every theme of every level of ``themes``' tree (:meth:`semclust.Themes.tree`)."""
    index = ThemeIndex(themes=themes, store_generation=store_generation)
    for name in themes.levels:
        for theme in themes.level(name):
            index._records.setdefault(theme.id, theme)
    frame = themes.tree()
    rows = zip(frame["theme_id"].tolist(), frame["parent_id"].tolist(), frame["level"].tolist())
    for tid, parent, level in rows:
        if tid in index.level_of:  # an id at two levels: the broadest placing counts
            continue
        index.level_of[tid] = str(level)
        index.parent_of[tid] = parent if parent >= 0 else None
        index.children_of.setdefault(tid, [])
        if parent >= 0:
            index.children_of.setdefault(parent, []).append(tid)
    return index
