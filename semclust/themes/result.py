"""Fitted themes: :class:`Themes` (labels, memberships, centres, hierarchy, views), one
article's :class:`ThemePrediction`, saving without pickle, and :func:`match_themes` for theme
ids that stay stable across refits.

Importing this module, loading saved themes and predicting need numpy only (and pandas for the
table views): never UMAP or HDBSCAN.
"""

from __future__ import annotations

import html
import importlib
import json
import os
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from semclust._disk import library_versions
from semclust.errors import InvalidArgumentError, NotFoundError, StoreFormatError
from semclust.themes.assign import Assignment, assign, group_rows, unit_rows
from semclust.themes.labels import Theme, dedupe_keywords, make_theme, merge_keywords, theme_name

if TYPE_CHECKING:
    import pandas as pd

__all__ = ["THEMES_FORMAT_VERSION", "THEMES_MANIFEST", "ThemePrediction", "Themes", "match_themes"]

#: Version of the saved themes layout (``themes/themes.json`` and ``.npy`` files).
THEMES_FORMAT_VERSION = 1
#: The saved themes' manifest file.
THEMES_MANIFEST = "themes.json"
_MANIFEST = THEMES_MANIFEST


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


_ARRAYS = ("centroids", "thresholds", "quantiles", "leaf_theme", "leaf_size")
_ASSIGNMENT = (
    "main", "similarity", "confidence", "strength", "outlier",
    "weight_article", "weight_theme", "weight_value",
)


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

    # -- sequence-like ---------------------------------------------------------------------------

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
            assign_outliers=assign_outliers,
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

    def _linkage(self) -> np.ndarray:
        from scipy.cluster.hierarchy import linkage  # type: ignore[import-untyped]

        _, centres = self.theme_centroids()
        return np.asarray(linkage(centres.astype(np.float64), method="average", metric="cosine"))

    def hierarchy(self) -> pd.DataFrame:
        """The merge tree of the themes (average linkage on their centres' cosine distance).

        One row per merge, closest first: parent_id, parent_name, themes (leaf ids under it),
        left_id, left_name, right_id, right_name, distance. Parent ids continue after the
        largest theme id, as in BERTopic's ``hierarchical_topics``.
        """
        import pandas as pd

        columns = [
            "parent_id", "parent_name", "themes", "left_id", "left_name", "right_id", "right_name", "distance"
        ]
        if len(self) < 2:
            return pd.DataFrame([], columns=columns)
        ids = self.ids
        nodes: list[tuple[int, list[int], list[tuple[str, float]], int]] = [
            (t.id, [t.id], t.terms, t.size) for t in self
        ]
        base = max(self.next_id, max(ids) + 1)
        rows = []
        for step, (a, b, dist, _) in enumerate(self._linkage().tolist()):
            left, right = nodes[int(a)], nodes[int(b)]
            terms = merge_keywords([left[2], right[2]], [left[3], right[3]])
            parent = (base + step, left[1] + right[1], terms, left[3] + right[3])
            nodes.append(parent)
            rows.append({
                "parent_id": parent[0], "parent_name": theme_name(dedupe_keywords([w for w, _ in terms])),
                "themes": sorted(parent[1]), "left_id": left[0], "left_name": self._node_name(left),
                "right_id": right[0], "right_name": self._node_name(right), "distance": round(float(dist), 6),
            })
        return pd.DataFrame(rows, columns=columns)

    def _node_name(self, node: tuple[int, list[int], list[tuple[str, float]], int]) -> str:
        if len(node[1]) == 1:
            return self[node[0]].name
        return theme_name(dedupe_keywords([w for w, _ in node[2]]))

    def reduce(self, n: int) -> Themes:
        """A coarser view with at most ``n`` themes, merged along :meth:`hierarchy`.

        A merged theme keeps the id of its largest part; its keywords are its parts' weighted
        by size. Predictions on the result use the fine centres and report the merged ids.
        """
        if isinstance(n, bool) or not isinstance(n, int) or n < 1:
            raise InvalidArgumentError(f"n must be a whole number of at least 1, got {n!r}")
        if n >= len(self):
            return self
        from scipy.cluster.hierarchy import fcluster  # type: ignore[import-untyped]

        groups = fcluster(self._linkage(), t=n, criterion="maxclust")
        mapping: dict[int, int] = {}
        merged: list[Theme] = []
        for g in sorted(set(groups.tolist())):
            parts = [t for t, gg in zip(self, groups.tolist()) if gg == g]
            head = parts[0]  # themes iterate largest first
            for t in parts:
                mapping[t.id] = head.id
            size = sum(t.size for t in parts)
            terms = merge_keywords([t.terms for t in parts], [t.size for t in parts])
            passages = sorted((p for t in parts for p in t.passages), key=lambda p: -p.similarity)[:3]
            members = np.flatnonzero(np.isin(self.assignment.main, [t.id for t in parts]))
            best = members[np.argsort(-self.assignment.similarity[members], kind="stable")[:3]]
            reps = [self.article_ids[i] for i in best]
            n_keywords = int(self.params.get("n_keywords", 10))
            merged.append(make_theme(head.id, terms, size, len(self.article_ids), n_keywords, reps, passages))
        a = self.assignment.renumbered(mapping)
        # Sum the weights of merged themes within each article.
        key = a.weight_article * (self.next_id + 1) + a.weight_theme
        _, first, inverse = np.unique(key, return_index=True, return_inverse=True)
        values = np.bincount(inverse, weights=a.weight_value).astype(np.float32)
        order = np.argsort(first, kind="stable")
        keep = first[order]
        a = replace(
            a, weight_article=a.weight_article[keep], weight_theme=a.weight_theme[keep],
            weight_value=values[order],
        )
        return Themes(
            themes=merged, article_ids=self.article_ids, titles=self.titles, published=self.published,
            assignment=a, centroids=self.centroids, thresholds=self.thresholds, quantiles=self.quantiles,
            leaf_theme=np.array([mapping.get(int(t), int(t)) for t in self.leaf_theme], dtype=np.int64),
            leaf_size=self.leaf_size, coords=self.coords, params={**self.params, "reduced_to": n},
            generation=self.generation, previous_generation=self.previous_generation, id_map=self.id_map,
            next_id=self.next_id,
        )

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
        """Write the themes to ``folder`` (replaced as a whole): ``themes.json`` (format
        version, library versions, parameters, themes, article ids) and ``.npy`` arrays.
        """
        target = Path(folder)
        tmp = target.with_name(target.name + ".tmp")
        if tmp.exists():
            shutil.rmtree(tmp)
        tmp.mkdir(parents=True)
        arrays = {name: getattr(self, name) for name in _ARRAYS}
        arrays.update({name: getattr(self.assignment, name) for name in _ASSIGNMENT})
        if self.coords is not None:
            arrays["coords"] = self.coords
        for name, arr in arrays.items():
            np.save(tmp / f"{name}.npy", np.ascontiguousarray(arr), allow_pickle=False)
        manifest = {
            "format_version": THEMES_FORMAT_VERSION,
            "versions": library_versions(),
            "generation": self.generation,
            "previous_generation": self.previous_generation, "next_id": self.next_id,
            "id_map": {str(k): v for k, v in self.id_map.items()}, "params": self.params,
            "themes": [t.to_dict() for t in self], "article_ids": self.article_ids,
            "titles": self.titles, "published": self.published, "arrays": sorted(arrays),
        }
        (tmp / _MANIFEST).write_text(json.dumps(manifest, ensure_ascii=False), encoding="utf-8")
        old = target.with_name(target.name + ".old")
        if target.exists():
            if old.exists():
                shutil.rmtree(old)
            os.replace(target, old)
        os.replace(tmp, target)
        shutil.rmtree(old, ignore_errors=True)
        return target

    @classmethod
    def load(cls, folder: str | os.PathLike[str]) -> Themes:
        """Read themes written by :meth:`save` (no refitting, no pickle)."""
        root = Path(folder)
        try:
            manifest = json.loads((root / _MANIFEST).read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise NotFoundError(f"no saved themes in {root} (no {_MANIFEST})") from None
        except (OSError, ValueError) as err:
            raise StoreFormatError(f"{root / _MANIFEST} is not readable: {err}") from None
        version = manifest.get("format_version")
        if version != THEMES_FORMAT_VERSION:
            raise StoreFormatError(
                f"themes in {root} have format version {version}; this semclust reads version "
                f"{THEMES_FORMAT_VERSION}. Fit them again: store.themes(refit=True)"
            )
        try:
            arrays = {name: np.load(root / f"{name}.npy", allow_pickle=False) for name in manifest["arrays"]}
            return cls(
                themes=[Theme.from_dict(t) for t in manifest["themes"]],
                article_ids=manifest["article_ids"], titles=manifest["titles"],
                published=manifest["published"],
                assignment=Assignment(**{name: arrays[name] for name in _ASSIGNMENT}),
                coords=arrays.get("coords"), params=manifest["params"], generation=manifest["generation"],
                previous_generation=manifest["previous_generation"], next_id=manifest["next_id"],
                id_map={int(k): v for k, v in manifest["id_map"].items()},
                **{name: arrays[name] for name in _ARRAYS},
            )
        except (OSError, KeyError, TypeError, ValueError) as err:
            raise StoreFormatError(
                f"the themes in {root} are damaged ({err}); fit them again: store.themes(refit=True)"
            ) from None

    def relabel(self, mapping: Mapping[int, int]) -> Themes:
        """A copy with theme ids changed by ``mapping`` (ids not in it stay)."""
        themes = [replace(t, id=mapping.get(t.id, t.id)) for t in self]
        return Themes(
            themes=themes, article_ids=self.article_ids, titles=self.titles, published=self.published,
            assignment=self.assignment.renumbered(mapping), centroids=self.centroids,
            thresholds=self.thresholds, quantiles=self.quantiles,
            leaf_theme=np.array([mapping.get(int(t), int(t)) for t in self.leaf_theme], dtype=np.int64),
            leaf_size=self.leaf_size, coords=self.coords, params=self.params, generation=self.generation,
            previous_generation=self.previous_generation, id_map=self.id_map,
            next_id=max([self.next_id, *[t.id + 1 for t in themes]]),
        )


def _plots() -> Any:
    """The plotting functions of :mod:`semclust.viz`, found by name at call time: viz is built
    on the themes and imports them, so the themes never import viz (a plotting backend, as in
    pandas).
    """
    return importlib.import_module("semclust.viz")


# -- stable ids ----------------------------------------------------------------------------------


def match_themes(new: Themes, old: Themes, *, threshold: float = 0.5) -> Themes:
    """Give ``new`` themes the ids of the ``old`` themes they continue.

    A pair scores ``0.5 * shared + 0.5 * cosine``: ``shared`` is the share of articles they have
    in common (over the smaller of the two, counting only old articles still present) and
    ``cosine`` the similarity of their centres. Pairs are matched one-to-one to maximise the
    total score (Hungarian method); a pair scoring below ``threshold`` is no match. Unmatched
    new themes get fresh ids (never reused). ``id_map`` records old id -> new id (``None`` for
    a theme that disappeared).
    """
    from scipy.optimize import linear_sum_assignment  # type: ignore[import-untyped]

    new_ids, new_c = new.theme_centroids()
    old_ids, old_c = old.theme_centroids()
    alive = set(new.article_ids)
    new_sets = [set(new.articles(t, main_only=True)["doc_id"]) for t in new_ids]
    old_sets = [set(old.articles(t, main_only=True)["doc_id"]) & alive for t in old_ids]
    score = np.zeros((len(new_ids), len(old_ids)))
    if len(new_ids) and len(old_ids):
        if new_c.shape[1] == old_c.shape[1]:
            score += 0.5 * np.clip(new_c @ old_c.T, 0.0, 1.0)
        for i, ns in enumerate(new_sets):
            for j, os_ in enumerate(old_sets):
                if ns and os_:
                    score[i, j] += 0.5 * len(ns & os_) / min(len(ns), len(os_))
    rows, cols = linear_sum_assignment(-score) if score.size else (np.zeros(0, int), np.zeros(0, int))
    mapping: dict[int, int] = {}
    for i, j in zip(rows.tolist(), cols.tolist()):
        if score[i, j] >= threshold:
            mapping[new_ids[i]] = old_ids[j]
    next_id = max([old.next_id, *[t + 1 for t in old_ids]])
    for t in new_ids:  # largest first
        if t not in mapping:
            mapping[t] = next_id
            next_id += 1
    result = new.relabel(mapping)
    result.next_id = next_id
    result.previous_generation = old.generation
    kept = {mapping[t] for t in new_ids} & set(old_ids)
    id_map: dict[int, int | None] = {}
    for j, o in enumerate(old_ids):  # a theme not kept maps to the one that took most of it
        best = int(np.argmax([len(ns & old_sets[j]) for ns in new_sets])) if new_sets else -1
        took = len(new_sets[best] & old_sets[j]) if best >= 0 else 0
        heir = mapping[new_ids[best]] if took and took * 2 >= len(old_sets[j]) else None
        id_map[o] = o if o in kept else heir
    result.id_map = id_map
    return result
