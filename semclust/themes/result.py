"""Fitted themes: :class:`Themes` (labels, memberships, centres, the theme tree, views) and one
article's :class:`ThemePrediction`. Saving lives in :mod:`semclust.themes.persist`, the tree
walks and stable ids (:func:`match_themes`) in :mod:`semclust.themes.hierarchy`.

Importing this module, loading saved themes and predicting need numpy only (and pandas for the
table views): never UMAP or HDBSCAN.
"""

from __future__ import annotations

import html
import importlib
import os
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semclust.errors import InvalidArgumentError, NotFoundError
from semclust.themes import hierarchy as _tree_ops
from semclust.themes.assign import Assignment, assign, group_rows, unit_rows
from semclust.themes.hierarchy import match_themes
from semclust.themes.labels import Theme, dedupe_keywords, merge_keywords, theme_name
from semclust.themes.persist import THEMES_FORMAT_VERSION, THEMES_MANIFEST, load_themes, save_themes
from semclust.themes.refine import Votes

if TYPE_CHECKING:
    import pandas as pd

    from semclust.themes.tree import ThemeTree

__all__ = ["THEMES_FORMAT_VERSION", "THEMES_MANIFEST", "ThemePrediction", "Themes", "match_themes"]



@dataclass(frozen=True)
class ThemePrediction:
    """The theme(s) of one article.

    Attributes:
        theme_id: The main theme, or ``-1`` for no theme.
        name: The main theme's name (``"no theme"`` for ``-1``).
        themes: ``(theme id, name, weight)`` of every theme the article touches, main first;
            a weight is the share of the article's passages nearest that theme.
        similarity: Cosine similarity to the main (or nearest) theme's centre.
        confidence: Probability of that theme among all themes (softmax of similarities).
        strength: Share of the theme's core articles that are no closer to its centre.
        novel: ``True`` when the article is far from every theme (below their thresholds);
            such an article has no theme unless outliers are assigned.
        doc_id: The stored article's id, when one was given.
        fitted: ``True`` when the answer is the article's membership from the fit.
    """

    theme_id: int
    name: str
    themes: list[tuple[int, str, float]]
    similarity: float
    confidence: float
    strength: float
    novel: bool
    doc_id: str | None = None
    fitted: bool = False

    def to_dict(self) -> dict[str, Any]:
        """The prediction as a JSON-serialisable dict."""
        out = asdict(self)
        out["themes"] = [{"theme_id": t, "name": n, "weight": w} for t, n, w in self.themes]
        return out


class Themes:
    """The themes of a corpus: labels, memberships, centres, hierarchy; saved without pickle.

    Iterate over it for the :class:`Theme` records (largest first); ``themes[theme_id]`` gives
    one. Built by :class:`ThemeModel` (``model.themes_``) or :func:`store_themes`.
    """

    def __init__(
        self,
        *,
        themes: Sequence[Theme],
        article_ids: Sequence[str],
        titles: Sequence[str],
        published: Sequence[str | None],
        assignment: Assignment,
        centroids: np.ndarray,
        thresholds: np.ndarray,
        quantiles: np.ndarray,
        leaf_theme: np.ndarray,
        leaf_size: np.ndarray,
        coords: np.ndarray | None,
        params: Mapping[str, Any],
        generation: int | None = None,
        previous_generation: int | None = None,
        id_map: Mapping[int, int | None] | None = None,
        next_id: int | None = None,
        level: str = "themes",
        votes: Votes | None = None,
    ) -> None:
        self._themes = {t.id: t for t in sorted(themes, key=lambda t: (-t.size, t.id))}
        self.article_ids = list(article_ids)
        self.titles = list(titles)
        self.published = list(published)
        self.assignment = assignment
        self.centroids = centroids
        self.thresholds = thresholds
        self.quantiles = quantiles
        self.leaf_theme = leaf_theme
        self.leaf_size = leaf_size
        #: 2-D coordinates of the articles for plotting, or ``None``.
        self.coords = coords
        #: The fit's parameters (JSON values).
        self.params = dict(params)
        #: The store generation the themes were fitted on (``None`` outside a store).
        self.generation = generation
        self.previous_generation = previous_generation
        #: ``{old theme id: new theme id or None}`` against the previous fit of the store.
        self.id_map: dict[int, int | None] = dict(id_map or {})
        self.next_id = next_id if next_id is not None else max(self._themes, default=-1) + 1
        self._row = {a: i for i, a in enumerate(self.article_ids)}
        #: The level these themes are (``"broad"``, ``"themes"``, ``"fine"``, or ``"<level>/<n>"``
        #: after :meth:`reduce`).
        self.level_name = level
        self.votes = votes  #: neighbours' votes (all levels; None: nearest fine cluster only)
        self._tree: ThemeTree | None = None

    def __len__(self) -> int:
        return len(self._themes)

    def __iter__(self) -> Iterator[Theme]:
        return iter(self._themes.values())

    def __getitem__(self, theme_id: int) -> Theme:
        try:
            return self._themes[int(theme_id)]
        except (KeyError, ValueError, TypeError):
            raise NotFoundError(f"no theme with id {theme_id!r}; ids are {sorted(self._themes)}") from None

    def __repr__(self) -> str:
        n = len(self.article_ids)
        lines = [f"Themes({len(self)} themes, {n} articles, {self.outlier_share:.1%} outliers)"]
        lines += [f"{t.id:>5}  {t.size:>6}  {t.name}" for t in self]
        return "\n".join(lines)

    @property
    def ids(self) -> list[int]:
        """Theme ids, largest theme first."""
        return list(self._themes)

    @property
    def labels(self) -> np.ndarray:
        """Main theme id of each article (``-1``: no theme), aligned with ``article_ids``."""
        return self.assignment.main

    @property
    def n_outliers(self) -> int:
        """Articles with no theme."""
        return self.assignment.n_outliers

    @property
    def outlier_share(self) -> float:
        """Share of articles with no theme."""
        return self.n_outliers / max(len(self.article_ids), 1)

    # -- views -----------------------------------------------------------------------------------

    def to_frame(self) -> pd.DataFrame:
        """One row per theme (largest first, then a ``-1`` row for outliers, if any): theme_id,
        name, keywords, size, share, representatives (titles) and representative_ids.
        """
        import pandas as pd

        rows = [
            {
                "theme_id": t.id, "name": t.name, "keywords": t.keywords, "size": t.size, "share": t.share,
                "representatives": [self.titles[self._row[a]] or a for a in t.representatives],
                "representative_ids": t.representatives,
            }
            for t in self
        ]
        if self.n_outliers:
            rows.append({
                "theme_id": -1, "name": "no theme", "keywords": [], "size": self.n_outliers,
                "share": round(self.outlier_share, 6), "representatives": [], "representative_ids": [],
            })
        columns = ["theme_id", "name", "keywords", "size", "share", "representatives", "representative_ids"]
        return pd.DataFrame(rows, columns=columns)

    def articles(self, theme_id: int, *, main_only: bool = False) -> pd.DataFrame:
        """The articles of a theme: those whose main theme it is (best first, by similarity to
        its centre), then those that touch it with some of their passages.

        Columns: doc_id, title, main, weight (the theme's share of the article), similarity,
        strength and confidence (all three for the article's main theme), published.
        ``theme_id=-1`` lists the outliers.
        """
        import pandas as pd

        a = self.assignment
        if theme_id == -1:
            idx, weight = np.flatnonzero(a.main < 0), np.zeros(int((a.main < 0).sum()), dtype=np.float32)
        else:
            self[theme_id]  # NotFoundError for an unknown id
            sel = a.weight_theme == theme_id
            extra = np.setdiff1d(np.flatnonzero(a.main == theme_id), a.weight_article[sel])
            idx = np.concatenate([a.weight_article[sel], extra])
            weight = np.concatenate([a.weight_value[sel], np.zeros(len(extra), np.float32)])
        frame = pd.DataFrame({
            "doc_id": [self.article_ids[i] for i in idx], "title": [self.titles[i] for i in idx],
            "main": a.main[idx] == theme_id, "weight": weight, "similarity": a.similarity[idx],
            "strength": a.strength[idx], "confidence": a.confidence[idx],
            "published": [self.published[i] for i in idx],
        })
        if main_only:
            frame = frame[frame["main"]]
        frame = frame.sort_values(["main", "similarity"], ascending=[False, False], kind="stable")
        return frame.reset_index(drop=True)

    def fitted(self, doc_id: str) -> bool:
        """Whether article ``doc_id`` was part of this fit."""
        return doc_id in self._row

    def with_passage_texts(self, chunk_texts: Callable[[str], Sequence[str]]) -> Themes:
        """Fill in the text of each representative passage from ``chunk_texts(doc_id)`` (the
        article's chunk texts in order; an article that is gone gives ``[]``). Returns ``self``.
        """
        cache: dict[str, Sequence[str]] = {}
        for theme in list(self):
            passages = []
            for p in theme.passages:
                if p.doc_id not in cache:
                    cache[p.doc_id] = chunk_texts(p.doc_id)
                texts = cache[p.doc_id]
                passages.append(replace(p, text=texts[p.index] if 0 <= p.index < len(texts) else ""))
            self._themes[theme.id] = replace(theme, passages=passages)
        return self

    def theme_of(self, doc_id: str) -> ThemePrediction:
        """The fitted theme(s) of a fitted article."""
        i = self._row.get(doc_id)
        if i is None:
            raise NotFoundError(f"article {doc_id!r} was not part of this fit")
        return self._prediction(self.assignment, i, doc_id=doc_id, fitted=True)

    def predict(
        self, X: Any, doc_ids: Sequence[str] | None = None, *, assign_outliers: bool | None = None
    ) -> list[ThemePrediction]:
        """Predict the themes of new articles from their vectors, by the fit's rule.

        Args:
            X: ``(n_rows, dim)`` chunk vectors, or one vector per article.
            doc_ids: The article of each row (default: each row is an article, as in ``fit``).
            assign_outliers: Place articles far from every theme in the nearest one anyway
                (default: as in the fit); ``novel`` still tells they are far.
        """
        vectors = unit_rows(X)
        if vectors.shape[1] != self.centroids.shape[1]:
            raise InvalidArgumentError(
                f"vectors have {vectors.shape[1]} dimensions; the themes have {self.centroids.shape[1]}"
            )
        ids, rows = group_rows(doc_ids, len(vectors))
        if len(self.centroids) == 0:
            return [ThemePrediction(-1, "no theme", [], 0.0, 0.0, 0.0, True) for _ in ids]
        params = self.params
        if assign_outliers is None:
            assign_outliers = bool(params.get("assign_outliers"))
        result = assign(
            vectors, rows, len(ids), self.centroids, self.thresholds, self.quantiles, self.leaf_theme,
            level=str(params.get("level", "articles")), temperature=float(params.get("temperature", 0.05)),
            assign_outliers=assign_outliers, votes=self.votes,
        )
        return [self._prediction(result, i) for i in range(len(ids))]

    def predict_article(self, chunk_vectors: Any, *, assign_outliers: bool | None = None) -> ThemePrediction:
        """The themes of one new article from the vectors of its chunks."""
        vectors = unit_rows(chunk_vectors)
        return self.predict(vectors, ["new"] * len(vectors), assign_outliers=assign_outliers)[0]

    def _prediction(
        self, a: Assignment, i: int, *, doc_id: str | None = None, fitted: bool = False
    ) -> ThemePrediction:
        sel = a.weight_article == i
        pairs = zip(a.weight_theme[sel].tolist(), a.weight_value[sel].tolist())
        themes = [(int(t), self[int(t)].name, round(float(w), 6)) for t, w in pairs]
        main = int(a.main[i])
        return ThemePrediction(
            theme_id=main, name=self[main].name if main >= 0 else "no theme", themes=themes,
            similarity=round(float(a.similarity[i]), 6), confidence=round(float(a.confidence[i]), 6),
            strength=round(float(a.strength[i]), 6), novel=bool(a.outlier[i]), doc_id=doc_id, fitted=fitted,
        )

    def theme_centroids(self) -> tuple[list[int], np.ndarray]:
        """Theme ids (largest first) and their centres (leaf centres averaged by size)."""
        ids = self.ids
        rows = [
            (self.centroids[self.leaf_theme == t] * self.leaf_size[self.leaf_theme == t, None]).sum(axis=0)
            for t in ids
        ]
        return ids, unit_rows(np.stack(rows)) if rows else np.zeros((0, self.centroids.shape[1]), np.float32)

    def hierarchy(self) -> pd.DataFrame:
        """The merge tree of these themes (average linkage on their centres' cosine distance).

        One row per merge, closest first: parent_id, parent_name, themes (leaf ids under it),
        left_id, left_name, right_id, right_name, distance. Parent ids continue after the
        largest theme id, as in BERTopic's ``hierarchical_topics``. :meth:`tree` gives the
        fitted levels instead.
        """
        return _merge_frame(self)

    # -- the theme tree ------------------------------------------------------------------------

    @property
    def levels(self) -> dict[str, int]:
        """``{level: number of themes}`` of the fitted tree, broadest first."""
        views = self._tree.views if self._tree is not None else {self.level_name: self}
        order = [n for n in ("broad", "themes", "fine") if n in views] or list(views)
        return {n: len(views[n]) for n in order}

    def level(self, level: str | int) -> Themes:
        """The themes at another level of the tree: ``"broad"`` (a handful), ``"themes"`` (the
        default, chosen from the data), ``"fine"`` (the fine clusters), or a number ``n`` for
        the cut of the tree into at most ``n`` themes.
        """
        return _tree_ops.at_level(self, level)

    def tree(self) -> pd.DataFrame:
        """The whole hierarchy, broadest first: theme_id, parent_id (``-1`` at the top), level,
        depth, name, size, share, keywords. Every theme lies inside its parent.
        """
        return _tree_ops.tree_frame(self)

    def parent(self, theme_id: int) -> Theme | None:
        """The broader theme containing ``theme_id`` (``None`` at the top level)."""
        return _tree_ops.parent(self, theme_id)

    def children(self, theme_id: int) -> list[Theme]:
        """The finer themes inside ``theme_id``, largest first (``[]`` at the finest level)."""
        return _tree_ops.children(self, theme_id)

    def reduce(self, n: int) -> Themes:
        """A coarser view with at most ``n`` themes, each a union of these, cut along the tree.

        A merged theme keeps the id of its largest part; its keywords are its parts' weighted
        by size. Predictions on the result use the fine centres and report the merged ids.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidArgumentError(f"n must be a whole number of at least 1, got {n!r}")
        if n >= len(self):
            return self
        return _tree_ops.reduce_along(self, n)

    def over_time(self, freq: str = "W") -> pd.DataFrame:
        """Articles per period (rows: period start) and main theme (columns: theme ids, ``-1``
        for no theme), for articles with a ``published`` date; ``freq`` is a pandas period
        alias such as ``"D"``, ``"W"``, ``"M"``, ``"Q"``, ``"Y"``.
        """
        import pandas as pd

        dated = [(p, int(t)) for p, t in zip(self.published, self.assignment.main.tolist()) if p]
        if not dated:
            return pd.DataFrame(index=pd.DatetimeIndex([], name="period"))
        when = pd.to_datetime(pd.Series([p for p, _ in dated]), format="ISO8601", utc=True)
        when = when.dt.tz_convert(None)
        try:
            period = when.dt.to_period(freq).dt.start_time
        except (ValueError, TypeError) as err:
            raise InvalidArgumentError(
                f"freq must be a pandas period alias such as 'D', 'W', 'M', got {freq!r}: {err}"
            ) from None
        table = pd.crosstab(period.rename("period"), pd.Series([t for _, t in dated], name="theme_id"))
        return table.reindex(columns=[t for t in [*self.ids, -1] if t in table.columns])

    def to_dict(self, *, articles: bool = False) -> dict[str, Any]:
        """The themes as a JSON-serialisable dict (with each article's main theme if
        ``articles=True``).
        """
        out: dict[str, Any] = {
            "generation": self.generation, "n_articles": len(self.article_ids), "n_themes": len(self),
            "n_outliers": self.n_outliers, "outlier_share": round(self.outlier_share, 6),
            "themes": [t.to_dict() for t in self], "id_map": {str(k): v for k, v in self.id_map.items()},
            "params": self.params,
        }
        if articles:
            out["articles"] = {a: int(t) for a, t in zip(self.article_ids, self.assignment.main.tolist())}
        return out

    def plot(self, **kwargs: Any) -> Any:
        """Interactive 2-D map of the articles coloured by theme (see :func:`semclust.viz.plot_map`)."""
        return _plots().plot_map(self, **kwargs)

    def plot_sizes(self, **kwargs: Any) -> Any:
        """Bar chart of theme sizes (see :func:`semclust.viz.plot_sizes`)."""
        return _plots().plot_sizes(self, **kwargs)

    def plot_over_time(self, freq: str = "W", **kwargs: Any) -> Any:
        """Articles per period per theme (see :func:`semclust.viz.plot_over_time`)."""
        return _plots().plot_over_time(self, freq, **kwargs)

    def plot_similarity(self, **kwargs: Any) -> Any:
        """Theme-to-theme similarity heatmap (see :func:`semclust.viz.plot_similarity`)."""
        return _plots().plot_similarity(self, **kwargs)

    def show(self, theme_id: int, **kwargs: Any) -> Any:
        """One theme as a Jupyter-displayable view (see :func:`semclust.viz.show_theme`)."""
        return _plots().show_theme(self, theme_id, **kwargs)

    def _repr_html_(self) -> str:
        def cell(text: str) -> str:
            return f"<td style='text-align:left'>{text}</td>"

        rows = "".join(
            f"<tr><td>{t.id}</td><td><b>{html.escape(t.name)}</b></td><td>{t.size}</td><td>{t.share:.1%}</td>"
            + cell(html.escape(", ".join(t.keywords)))
            + cell("<br>".join(html.escape(self.titles[self._row[a]] or a) for a in t.representatives))
            + "</tr>"
            for t in self
        )
        titles = ("id", "name", "size", "share", "keywords", "representative articles")
        head = "".join(f"<th>{h}</th>" for h in titles)
        return (
            f"<div class='semclust-themes'><p><b>{len(self)} themes</b> in {len(self.article_ids)} articles, "
            f"{self.outlier_share:.1%} without a theme</p>"
            f"<table><thead><tr>{head}</tr></thead><tbody>{rows}</tbody></table></div>"
        )

    # -- saving ----------------------------------------------------------------------------------

    def save(self, folder: str | os.PathLike[str]) -> Path:
        """Write the themes, with every level of their tree, to ``folder`` (replaced as a
        whole): ``themes.json`` and ``.npy`` arrays, no pickle (:mod:`semclust.themes.persist`).
        """
        return save_themes(self, folder)

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Themes:
        """Read themes written by :meth:`save` (no refitting, no pickle)."""
        return load_themes(cls, folder)

    def relabel(self, mapping: Mapping[int, int]) -> Themes:
        """A copy with theme ids changed by ``mapping`` (ids not in it stay)."""
        themes = [replace(t, id=mapping.get(t.id, t.id)) for t in self]
        return Themes(
            themes=themes, article_ids=self.article_ids, titles=self.titles, published=self.published,
            assignment=self.assignment.renumbered(mapping), centroids=self.centroids,
            thresholds=self.thresholds, quantiles=self.quantiles, votes=self.votes,
            leaf_theme=np.array([mapping.get(int(t), int(t)) for t in self.leaf_theme], dtype=np.int64),
            leaf_size=self.leaf_size, coords=self.coords, params=self.params, generation=self.generation,
            previous_generation=self.previous_generation, id_map=self.id_map,
            next_id=max([self.next_id, *[t.id + 1 for t in themes]]), level=self.level_name,
        )


def _plots() -> Any:
    """The plotting functions of :mod:`semclust.viz`, found by name at call time: viz is built
    on the themes and imports them, so the themes never import viz (a plotting backend, as in
    pandas).
    """
    return importlib.import_module("semclust.viz")


# -- the merge tree of one level ------------------------------------------------------------------


def _merge_frame(themes: Themes) -> pd.DataFrame:
    import pandas as pd
    from scipy.cluster.hierarchy import linkage  # type: ignore[import-untyped]

    columns = [
        "parent_id", "parent_name", "themes", "left_id", "left_name", "right_id", "right_name", "distance"
    ]
    if len(themes) < 2:
        return pd.DataFrame([], columns=columns)
    _, centres = themes.theme_centroids()
    merges = np.asarray(linkage(centres.astype(np.float64), method="average", metric="cosine"))
    nodes: list[tuple[int, list[int], list[tuple[str, float]], int]] = [
        (t.id, [t.id], t.terms, t.size) for t in themes
    ]
    base = max(themes.next_id, max(themes.ids) + 1)

    def name(node: tuple[int, list[int], list[tuple[str, float]], int]) -> str:
        if len(node[1]) == 1:
            return themes[node[0]].name
        return theme_name(dedupe_keywords([w for w, _ in node[2]]))

    rows = []
    for step, (a, b, dist, _) in enumerate(merges.tolist()):
        left, right = nodes[int(a)], nodes[int(b)]
        terms = merge_keywords([left[2], right[2]], [left[3], right[3]])
        parent = (base + step, left[1] + right[1], terms, left[3] + right[3])
        nodes.append(parent)
        rows.append({
            "parent_id": parent[0], "parent_name": name(parent), "themes": sorted(parent[1]),
            "left_id": left[0], "left_name": name(left), "right_id": right[0], "right_name": name(right),
            "distance": round(float(dist), 6),
        })
    return pd.DataFrame(rows, columns=columns)
