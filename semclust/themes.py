"""Themes: UMAP + HDBSCAN clustering of articles into labelled, stable, explainable themes.

How a fit works (:class:`ThemeModel`):

1. Each article's vector is the normalised mean of its chunk vectors. The *units* clustered are
   these article vectors (``level="articles"``, the default, which scored better on the BBC and
   Reuters benchmarks) or the chunk vectors (``level="chunks"``).
2. UMAP (cosine, 5 components, seeded) reduces the units, then HDBSCAN finds dense groups:
   the *seed* themes. A corpus with fewer than ``small_corpus`` units (e.g. the two seed
   articles) skips both: average-linkage clustering joins units whose cosine similarity is at
   least ``merge_similarity``, so each article forms its own theme unless it is close to another.
3. Each theme's centre is the normalised mean of its seed members in embedding space. Every
   article is then assigned to its nearest centre, or to no theme (an outlier) when its
   similarity is below that theme's threshold (the ``outlier_quantile`` of its seed members'
   similarities). Prediction for a new article uses the very same rule (numpy only: no UMAP at
   prediction time), so fit and :meth:`Themes.predict` agree on every fitted article.
4. An article's themes and weights come from its chunks: the share of its chunks nearest each
   theme (with the article's own vector as one more vote; an article without a theme has no
   weights). Its main theme is listed first.
5. Labels (see :mod:`semclust.labels`): c-TF-IDF keywords, a short name, representative
   articles and passages nearest the centre.

:func:`store_themes` fits on a store's embeddings and caches the result under
``<store>/themes/`` (JSON + ``.npy``, never pickle) until the store's generation changes; a
refit keeps the ids of themes that match the previous fit (see :func:`match_themes`).
"""

from __future__ import annotations

import html
import inspect
import json
import logging
import math
import os
import shutil
import time
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from semclust.errors import (
    EmptyStoreError,
    InvalidArgumentError,
    MissingDependencyError,
    NotFoundError,
    StoreFormatError,
)
from semclust.labels import (
    Passage,
    Theme,
    class_tfidf,
    dedupe_keywords,
    make_theme,
    merge_keywords,
    representatives,
    theme_name,
)
from semclust.manifest import library_versions

if TYPE_CHECKING:
    import pandas as pd

    from semclust.store import Store

__all__ = [
    "SMALL_CORPUS",
    "THEMES_FORMAT_VERSION",
    "Assignment",
    "Passage",
    "Theme",
    "ThemeModel",
    "ThemePrediction",
    "Themes",
    "default_min_cluster_size",
    "match_themes",
    "store_themes",
    "theme_of",
]

logger = logging.getLogger(__name__)

Level = Literal["articles", "chunks"]

#: Version of the saved themes layout (``themes/themes.json`` and ``.npy`` files).
THEMES_FORMAT_VERSION = 1
_MANIFEST = "themes.json"
#: Corpora with fewer clustering units than this take the small-corpus path (no UMAP/HDBSCAN).
SMALL_CORPUS = 30
#: On the small-corpus path, an article less similar than this to every theme has no theme.
SMALL_CORPUS_NOVELTY = 0.4
_QUANTILES = 21  # points of each theme's similarity distribution kept for membership strength


def default_min_cluster_size(n_units: int) -> int:
    """HDBSCAN's ``min_cluster_size`` for ``n_units`` points: ``max(5, round(sqrt(n)))``.

    It grows with the corpus (10 for 100 articles, 46 for 2,100, 100 for 10,000), so a large
    corpus yields broad themes rather than hundreds of micro-topics (``Themes.hierarchy`` and
    ``Themes.reduce`` give coarser views); pass ``min_cluster_size`` for finer themes.
    """
    return max(5, round(math.sqrt(max(n_units, 0))))


def _missing(extra: str, err: ImportError) -> MissingDependencyError:
    return MissingDependencyError(
        f"themes need {err.name or 'an optional package'}: install them with "
        f"`pip install 'semclust[{extra}]'` (umap-learn and scikit-learn)"
    )


class ThemeModel:
    """UMAP + HDBSCAN themes of articles, scikit-learn style.

    Args:
        level: Cluster ``"articles"`` (chunk vectors pooled per article) or ``"chunks"``.
        umap_model: Your own reducer with ``fit_transform`` (default: UMAP with the settings
            below); it runs on the clustering units.
        hdbscan_model: Your own clusterer with ``fit`` and ``labels_`` (default: scikit-learn's
            HDBSCAN with the settings below; ``-1`` marks noise).
        n_neighbors: UMAP neighbours (at most units - 1); 30 keeps more of the corpus's global
            structure than UMAP's 15, which made themes more stable and closer to human topics.
        n_components: UMAP output dimensions.
        min_dist: UMAP ``min_dist``.
        min_cluster_size: HDBSCAN's smallest theme, in units; default
            :func:`default_min_cluster_size` of the number of units.
        min_samples: HDBSCAN's density smoothing; default ``min_cluster_size`` (HDBSCAN's own
            default; with ``n_neighbors=30`` it gave the most stable themes across seeds).
        outlier_quantile: A theme's threshold is this quantile of its seed members'
            similarities to its centre; articles below every threshold are outliers.
        assign_outliers: Place each outlier in its nearest theme anyway (its ``confidence``
            and ``strength`` say how well it fits).
        small_corpus: Below this many units, skip UMAP/HDBSCAN (see the module docs).
        merge_similarity: Cosine similarity at which the small-corpus path joins units (0.7:
            about the same story); a new article is novel there below ``SMALL_CORPUS_NOVELTY``.
        n_keywords: Keywords shown per theme.
        ngram_range: Word n-grams for keywords.
        stop_words: Words to leave out of keywords (default: English and news stop words).
        coords: Compute 2-D coordinates of the articles for plotting (a second, 2-D UMAP).
        temperature: Softmax temperature that turns similarities into ``confidence``.
        random_state: Seed of UMAP (and so of the whole fit).
        progress: Show a progress bar over the stages.

    Fitted attributes: ``themes_`` (:class:`Themes`), ``labels_`` (main theme id per article),
    ``article_ids_``, ``centroids_``, ``embedding_`` (the UMAP output, ``None`` on the
    small-corpus path), ``small_corpus_`` (bool), ``min_cluster_size_``, ``timings_``
    (seconds per stage), ``umap_model_``, ``hdbscan_model_``.
    """

    def __init__(
        self,
        *,
        level: Level = "articles",
        umap_model: Any = None,
        hdbscan_model: Any = None,
        n_neighbors: int = 30,
        n_components: int = 5,
        min_dist: float = 0.0,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        outlier_quantile: float = 0.02,
        assign_outliers: bool = False,
        small_corpus: int = SMALL_CORPUS,
        merge_similarity: float = 0.7,
        n_keywords: int = 10,
        ngram_range: tuple[int, int] = (1, 2),
        stop_words: Sequence[str] | None = None,
        coords: bool = True,
        temperature: float = 0.05,
        random_state: int | None = 42,
        progress: bool = False,
    ) -> None:
        self.level = level
        self.umap_model = umap_model
        self.hdbscan_model = hdbscan_model
        self.n_neighbors = n_neighbors
        self.n_components = n_components
        self.min_dist = min_dist
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.outlier_quantile = outlier_quantile
        self.assign_outliers = assign_outliers
        self.small_corpus = small_corpus
        self.merge_similarity = merge_similarity
        self.n_keywords = n_keywords
        self.ngram_range = ngram_range
        self.stop_words = stop_words
        self.coords = coords
        self.temperature = temperature
        self.random_state = random_state
        self.progress = progress

    # -- scikit-learn estimator protocol ------------------------------------------------------

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        """The constructor parameters, as given."""
        names = [p for p in inspect.signature(type(self).__init__).parameters if p != "self"]
        return {name: getattr(self, name) for name in names}

    def set_params(self, **params: Any) -> ThemeModel:
        """Set constructor parameters; unknown names raise ``InvalidArgumentError``."""
        valid = self.get_params()
        for key, value in params.items():
            if key not in valid:
                raise InvalidArgumentError(f"unknown ThemeModel parameter {key!r}; valid: {', '.join(valid)}")
            setattr(self, key, value)
        return self

    def __repr__(self) -> str:
        defaults = {k: p.default for k, p in inspect.signature(type(self).__init__).parameters.items()}
        params = self.get_params().items()
        changed = [f"{k}={v!r}" for k, v in params if v is not defaults[k] and v != defaults[k]]
        return f"ThemeModel({', '.join(changed)})"

    def _check_params(self) -> None:
        if self.level not in ("articles", "chunks"):
            raise InvalidArgumentError(f"level must be 'articles' or 'chunks', got {self.level!r}")
        if not 0.0 <= self.outlier_quantile < 1.0:
            raise InvalidArgumentError(f"outlier_quantile must be in [0, 1), got {self.outlier_quantile!r}")
        if self.min_cluster_size is not None and self.min_cluster_size < 2:
            raise InvalidArgumentError(f"min_cluster_size must be at least 2, got {self.min_cluster_size}")
        if self.n_components < 1 or self.n_neighbors < 2:
            raise InvalidArgumentError("n_components must be at least 1 and n_neighbors at least 2")
        if not -1.0 <= self.merge_similarity <= 1.0:
            raise InvalidArgumentError(f"merge_similarity must be in [-1, 1], got {self.merge_similarity}")
        if self.temperature <= 0:
            raise InvalidArgumentError(f"temperature must be positive, got {self.temperature}")

    # -- fitting --------------------------------------------------------------------------------

    def fit(
        self,
        X: Any,
        doc_ids: Sequence[str] | None = None,
        texts: Sequence[str] | Mapping[str, str] | None = None,
        *,
        passages: Sequence[str] | None = None,
        titles: Mapping[str, str] | None = None,
        published: Mapping[str, str | None] | None = None,
    ) -> ThemeModel:
        """Find the themes of a corpus.

        Args:
            X: ``(n_rows, dim)`` vectors: chunk vectors (several rows per article) or one
                vector per article. Rows are normalised to unit length.
            doc_ids: The article id of each row (default: each row is its own article,
                ``"0"``, ``"1"``, ...).
            texts: Article texts for keywords: a mapping id -> text, or one text per article
                in order of first appearance in ``doc_ids``. Without texts, names are
                ``"theme N"``.
            passages: The text of each row, to show representative passages.
            titles: Article titles, for display.
            published: ISO publication dates, for :meth:`Themes.over_time`.

        Returns:
            ``self``, fitted.
        """
        self._check_params()
        timings: dict[str, float] = {}
        vectors = unit_rows(X)
        n_rows = len(vectors)
        if n_rows == 0:
            raise InvalidArgumentError("no vectors to find themes in; add articles first")
        article_ids, row_article = _group(doc_ids, n_rows)
        article_vectors = _pool(vectors, row_article, len(article_ids))
        units = article_vectors if self.level == "articles" else vectors
        stages = ["reduce", "cluster", "assign", "labels", "coords"]
        from tqdm.auto import tqdm

        bar = tqdm(total=len(stages), desc="themes", unit="stage", disable=not self.progress)
        clock = time.perf_counter()

        def lap(stage: str) -> None:
            nonlocal clock
            now = time.perf_counter()
            timings[stage] = round(now - clock, 3)
            clock = now
            bar.set_postfix_str(stage)
            bar.update(1)

        self.small_corpus_ = len(units) < max(self.small_corpus, 3)
        self.umap_model_: Any = None
        self.hdbscan_model_: Any = None
        self.embedding_: np.ndarray | None = None
        self.min_cluster_size_ = self.min_cluster_size or default_min_cluster_size(len(units))
        if self.small_corpus_:
            lap("reduce")
            seed = _link_similar(units, self.merge_similarity)
        else:
            self.embedding_ = self._reduce(units)
            lap("reduce")
            seed = self._cluster(self.embedding_)
        seed = _by_size(seed)
        if seed.max(initial=-1) < 0:
            logger.info("no dense theme found among %d units; using one theme for all", len(units))
            seed = np.zeros(len(units), dtype=np.int64)
        lap("cluster")

        centroids, thresholds, quantiles = _centres(units, seed, self.outlier_quantile)
        if self.small_corpus_:  # no distribution to learn from: a fixed similarity decides
            thresholds = np.minimum(thresholds, SMALL_CORPUS_NOVELTY)
            quantiles = np.minimum(quantiles, quantiles[:, :1])  # every member counts as typical
        leaf_size = np.bincount(seed[seed >= 0], minlength=len(centroids)).astype(np.int64)
        for _ in range(2):  # a seed theme that keeps no article after assignment is dropped
            result = assign(
                vectors, row_article, len(article_ids), centroids, thresholds, quantiles,
                np.arange(len(centroids)), level=self.level, assign_outliers=self.assign_outliers,
                temperature=self.temperature,
            )
            sizes = np.bincount(result.main[result.main >= 0], minlength=len(centroids))
            if sizes.all() or not sizes.any():
                break
            keep = sizes > 0
            centroids, thresholds, quantiles = centroids[keep], thresholds[keep], quantiles[keep]
            leaf_size = leaf_size[keep]
        # Ids by final size, largest first.
        order = np.argsort(-sizes, kind="stable")
        rank = np.empty_like(order)
        rank[order] = np.arange(len(order))
        centroids, thresholds, quantiles = centroids[order], thresholds[order], quantiles[order]
        result = result.renumbered(rank)
        lap("assign")

        terms = self._keywords(article_ids, texts, result.main)
        reps = representatives(
            vectors, row_article, article_vectors, result.main, centroids, article_ids, passages
        )
        lap("labels")
        coords = self._coordinates(units, article_vectors, row_article) if self.coords else None
        lap("coords")
        bar.close()

        n_articles = len(article_ids)
        themes = [
            make_theme(
                t, terms.get(t, []), int((result.main == t).sum()), n_articles, self.n_keywords,
                reps.articles.get(t, []), reps.passages.get(t, []),
            )
            for t in range(len(centroids))
        ]
        self.article_ids_ = article_ids
        self.labels_ = result.main.copy()
        self.centroids_ = centroids
        self.timings_ = timings
        self.themes_ = Themes(
            themes=themes, article_ids=article_ids,
            titles=[(titles or {}).get(a, "") for a in article_ids],
            published=[(published or {}).get(a) for a in article_ids],
            assignment=result, centroids=centroids, thresholds=thresholds, quantiles=quantiles,
            leaf_theme=np.arange(len(centroids), dtype=np.int64),
            leaf_size=leaf_size[order],
            coords=coords, params=self._saved_params(),
        )
        logger.debug("themes: %d themes, %d outliers, %s", len(themes), result.n_outliers, timings)
        return self

    def fit_predict(self, X: Any, doc_ids: Sequence[str] | None = None, texts: Any = None) -> np.ndarray:
        """Fit, then return the main theme id of each article (``-1``: no theme)."""
        return self.fit(X, doc_ids, texts).labels_

    def predict(self, X: Any, doc_ids: Sequence[str] | None = None) -> np.ndarray:
        """Main theme id of each article in ``X`` (rows grouped by ``doc_ids`` as in ``fit``)."""
        if not hasattr(self, "themes_"):
            raise InvalidArgumentError("this ThemeModel is not fitted yet; call fit first")
        return np.array([p.theme_id for p in self.themes_.predict(X, doc_ids)], dtype=np.int64)

    def _saved_params(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in self.get_params().items():
            if key == "progress":
                continue
            if key in ("umap_model", "hdbscan_model"):
                out[key] = None if value is None else repr(value)
            elif isinstance(value, tuple):
                out[key] = list(value)
            else:
                out[key] = value
        out["min_cluster_size_"] = self.min_cluster_size_
        out["small_corpus_"] = self.small_corpus_
        return out

    def _umap(self, n_units: int, n_components: int, min_dist: float) -> Any:
        try:
            with warnings.catch_warnings():  # umap warns on import that TensorFlow is missing
                warnings.simplefilter("ignore", ImportWarning)
                from umap import UMAP  # type: ignore[import-untyped]
        except ImportError as err:
            raise _missing("themes", err) from err
        return UMAP(
            n_neighbors=max(2, min(self.n_neighbors, n_units - 1)),
            n_components=n_components,
            min_dist=min_dist,
            metric="cosine",
            random_state=self.random_state,
            n_jobs=1 if self.random_state is not None else -1,
            low_memory=True,
        )

    def _reduce(self, units: np.ndarray) -> np.ndarray:
        n_components = min(self.n_components, len(units) - 2)
        reducer = self.umap_model
        if reducer is None:
            reducer = self._umap(len(units), n_components, self.min_dist)
        self.umap_model_ = reducer
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            embedding = np.asarray(reducer.fit_transform(units), dtype=np.float32)
        for w in caught:  # UMAP's notes (disconnected graph, spectral fallback) are not errors
            logger.info("UMAP: %s", w.message)
        return embedding

    def _cluster(self, embedding: np.ndarray) -> np.ndarray:
        if self.hdbscan_model is not None:
            clusterer = self.hdbscan_model
        else:
            try:
                from sklearn.cluster import HDBSCAN  # type: ignore[import-untyped]
            except ImportError as err:
                raise _missing("themes", err) from err
            mcs = min(self.min_cluster_size_, len(embedding))
            min_samples = self.min_samples or mcs
            clusterer = HDBSCAN(
                min_cluster_size=mcs, min_samples=min(min_samples, len(embedding)),
                cluster_selection_method="eom", copy=True,
            )
        clusterer.fit(embedding)
        self.hdbscan_model_ = clusterer
        return np.asarray(clusterer.labels_, dtype=np.int64)

    def _keywords(
        self, article_ids: list[str], texts: Sequence[str] | Mapping[str, str] | None, main: np.ndarray
    ) -> dict[int, list[tuple[str, float]]]:
        if texts is None:
            return {}
        if isinstance(texts, Mapping):
            docs = [texts.get(a, "") for a in article_ids]
        else:
            docs = list(texts)
            if len(docs) != len(article_ids):
                raise InvalidArgumentError(
                    f"got {len(docs)} texts for {len(article_ids)} articles; give one text per "
                    "article (in order of first appearance in doc_ids) or a mapping id -> text"
                )
        stop = list(self.stop_words) if self.stop_words is not None else None
        ngrams = (int(self.ngram_range[0]), int(self.ngram_range[1]))
        return class_tfidf(docs, main, ngram_range=ngrams, stop_words=stop)

    def _coordinates(
        self, units: np.ndarray, article_vectors: np.ndarray, row_article: np.ndarray
    ) -> np.ndarray:
        if self.small_corpus_ or len(units) < 8:
            return _pca2(article_vectors)
        reducer = self._umap(len(units), 2, 0.1)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            xy = np.asarray(reducer.fit_transform(units), dtype=np.float32)
        if self.level == "chunks":
            xy = _pool(xy, row_article, len(article_vectors), normalise=False)
        return xy.astype(np.float32)


# -- numpy helpers (no UMAP, no scikit-learn: prediction must stay light) ----------------------


def unit_rows(X: Any) -> np.ndarray:
    """``X`` as a 2-D float32 array with rows of unit length (zero rows stay zero)."""
    arr = np.asarray(X, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr.reshape(1, -1)
    if arr.ndim != 2:
        raise InvalidArgumentError(f"expected a 2-D array of vectors, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise InvalidArgumentError("the vectors contain NaN or infinite values")
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return np.ascontiguousarray(arr / np.maximum(norms, 1e-12), dtype=np.float32)


def _group(doc_ids: Sequence[str] | None, n_rows: int) -> tuple[list[str], np.ndarray]:
    """Article ids in order of first appearance, and each row's article index."""
    if doc_ids is None:
        return [str(i) for i in range(n_rows)], np.arange(n_rows, dtype=np.int64)
    ids = [str(d) for d in doc_ids]
    if len(ids) != n_rows:
        raise InvalidArgumentError(f"got {len(ids)} doc_ids for {n_rows} vectors; give one id per row")
    index: dict[str, int] = {}
    rows = np.fromiter((index.setdefault(d, len(index)) for d in ids), dtype=np.int64, count=n_rows)
    return list(index), rows


def _pool(X: np.ndarray, row_article: np.ndarray, n: int, *, normalise: bool = True) -> np.ndarray:
    """Mean of the rows of each article (normalised to unit length unless ``normalise=False``)."""
    sums = np.zeros((n, X.shape[1]), dtype=np.float64)
    np.add.at(sums, row_article, X)
    if normalise:
        return unit_rows(sums)
    counts = np.bincount(row_article, minlength=n).reshape(-1, 1)
    return (sums / np.maximum(counts, 1)).astype(np.float32)


def _link_similar(units: np.ndarray, similarity: float) -> np.ndarray:
    """Small-corpus clustering: average linkage on cosine distance, cut at ``1 - similarity``."""
    if len(units) == 1:
        return np.zeros(1, dtype=np.int64)
    from scipy.cluster.hierarchy import fcluster, linkage  # type: ignore[import-untyped]

    tree = linkage(units.astype(np.float64), method="average", metric="cosine")
    return np.asarray(fcluster(tree, t=1.0 - similarity, criterion="distance"), dtype=np.int64) - 1


def _by_size(labels: np.ndarray) -> np.ndarray:
    """Relabel clusters 0..k-1 by size, largest first; ``-1`` stays."""
    out = np.full(len(labels), -1, dtype=np.int64)
    found, counts = np.unique(labels[labels >= 0], return_counts=True)
    for new, old in enumerate(found[np.argsort(-counts, kind="stable")].tolist()):
        out[labels == old] = new
    return out


def _centres(units: np.ndarray, seed: np.ndarray, q: float) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Each seed theme's centre, its threshold (quantile ``q`` of its members' similarities)
    and the grid of ``_QUANTILES`` quantiles used for membership strength.
    """
    k = int(seed.max()) + 1
    centroids = unit_rows(np.stack([units[seed == t].mean(axis=0) for t in range(k)]))
    grid = np.linspace(0.0, 1.0, _QUANTILES)
    quantiles = np.stack([np.quantile(units[seed == t] @ centroids[t], grid) for t in range(k)])
    thresholds = np.array([np.quantile(units[seed == t] @ centroids[t], q) for t in range(k)])
    return centroids, thresholds.astype(np.float32), quantiles.astype(np.float32)


def _pca2(X: np.ndarray) -> np.ndarray:
    """2-D coordinates by PCA (for corpora too small for UMAP)."""
    centred = X - X.mean(axis=0)
    if len(X) < 2:
        return np.zeros((len(X), 2), dtype=np.float32)
    u, s, _ = np.linalg.svd(centred, full_matrices=False)
    xy = u[:, :2] * s[:2]
    return np.pad(xy, ((0, 0), (0, 2 - xy.shape[1]))).astype(np.float32)


@dataclass
class Assignment:
    """Per-article theme memberships (arrays indexed like the articles).

    ``main``: main theme id or ``-1``; ``similarity``: cosine similarity to the main (or, for
    an outlier, the nearest) theme's centre; ``confidence``: softmax probability of that theme
    over all themes; ``strength``: share of the theme's core members that are no closer to
    its centre; ``outlier``: below every threshold (an outlier, even where placed by
    ``assign_outliers``). Weights are ``(article, theme id, weight)`` triples, main first.
    """

    main: np.ndarray
    similarity: np.ndarray
    confidence: np.ndarray
    strength: np.ndarray
    outlier: np.ndarray
    weight_article: np.ndarray
    weight_theme: np.ndarray
    weight_value: np.ndarray

    @property
    def n_outliers(self) -> int:
        """Articles without a main theme."""
        return int((self.main < 0).sum())

    def renumbered(self, mapping: np.ndarray | Mapping[int, int]) -> Assignment:
        """A copy with theme ids mapped (``mapping[old] = new``); ``-1`` stays."""
        def remap(ids: np.ndarray) -> np.ndarray:
            if isinstance(mapping, np.ndarray):
                return np.where(ids >= 0, mapping[np.maximum(ids, 0)], -1)
            mapped = [mapping.get(int(i), int(i)) if i >= 0 else -1 for i in ids.tolist()]
            return np.array(mapped, dtype=np.int64)

        return replace(self, main=remap(self.main), weight_theme=remap(self.weight_theme))


def assign(
    vectors: np.ndarray,
    row_article: np.ndarray,
    n_articles: int,
    centroids: np.ndarray,
    thresholds: np.ndarray,
    quantiles: np.ndarray,
    leaf_theme: np.ndarray,
    *,
    level: str,
    assign_outliers: bool,
    temperature: float,
) -> Assignment:
    """Assign articles (given by their chunk ``vectors``) to themes by nearest centre.

    ``centroids`` are *leaf* centres; ``leaf_theme[i]`` is the theme id of leaf ``i`` (several
    leaves form one theme after :meth:`Themes.reduce`). The fit and every prediction use this
    function, which is why they agree.
    """
    ids, leaf_pos = np.unique(leaf_theme, return_inverse=True)
    n, k, n_leaves = n_articles, len(ids), len(centroids)
    art = _pool(vectors, row_article, n)
    sims = art @ centroids.T
    best_leaf = sims.argmax(axis=1)
    best_sim = sims[np.arange(n), best_leaf]
    art_ok = best_sim >= thresholds[best_leaf]
    theme_sims = np.full((n, k), -np.inf, dtype=np.float32)
    for leaf in range(n_leaves):
        p = leaf_pos[leaf]
        theme_sims[:, p] = np.maximum(theme_sims[:, p], sims[:, leaf])
    row_sims = vectors @ centroids.T
    row_leaf = row_sims.argmax(axis=1)
    row_ok = row_sims[np.arange(len(vectors)), row_leaf] >= thresholds[row_leaf]
    n_chunks = np.bincount(row_article, minlength=n).astype(np.float32)
    counts = np.zeros((n, k), dtype=np.float32)
    if level == "articles":
        # The article decides whether it has a theme; its chunks only split it among themes
        # (a chunk is less typical than its article, so the article thresholds do not apply).
        main_pos = leaf_pos[best_leaf]
        has = art_ok | assign_outliers
        use = has[row_article]
        np.add.at(counts, (row_article[use], leaf_pos[row_leaf[use]]), 1.0)
        counts[np.flatnonzero(has), main_pos[has]] += 1.0
        denominator = n_chunks + 1.0
        outlier = ~art_ok
    else:
        use = row_ok | assign_outliers
        np.add.at(counts, (row_article[use], leaf_pos[row_leaf[use]]), 1.0)
        main_pos = np.argmax(counts * 4.0 + (theme_sims + 1.0), axis=1)  # ties: nearer theme
        outlier = np.bincount(row_article[row_ok], minlength=n) == 0
        has = counts.sum(axis=1) > 0
        main_pos = np.where(has, main_pos, leaf_pos[best_leaf])
        denominator = n_chunks
    similarity = theme_sims[np.arange(n), main_pos]
    z = (theme_sims - theme_sims.max(axis=1, keepdims=True)) / temperature
    probs = np.exp(z)
    confidence = probs[np.arange(n), main_pos] / probs.sum(axis=1)
    in_main = leaf_pos[None, :] == main_pos[:, None]
    main_leaf = np.where(in_main, sims, -np.inf).argmax(axis=1)
    strength = np.zeros(n, dtype=np.float32)
    grid = np.linspace(0.0, 1.0, quantiles.shape[1])
    for leaf in range(n_leaves):
        sel = main_leaf == leaf
        strength[sel] = np.interp(similarity[sel], quantiles[leaf], grid)
    weights = counts / np.maximum(denominator, 1.0)[:, None]
    art_idx, pos = np.nonzero(weights)
    is_main = pos == main_pos[art_idx]
    order = np.lexsort((-weights[art_idx, pos], ~is_main, art_idx))
    art_idx, pos = art_idx[order], pos[order]
    return Assignment(
        main=np.where(has, ids[main_pos], -1).astype(np.int64),
        similarity=similarity.astype(np.float32),
        confidence=confidence.astype(np.float32),
        strength=strength,
        outlier=outlier.astype(bool),
        weight_article=art_idx.astype(np.int64),
        weight_theme=ids[pos].astype(np.int64),
        weight_value=weights[art_idx, pos].astype(np.float32),
    )


# -- results ---------------------------------------------------------------------------------


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
        ids, rows = _group(doc_ids, len(vectors))
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
        from semclust import viz

        return viz.plot_map(self, **kwargs)

    def plot_sizes(self, **kwargs: Any) -> Any:
        """Bar chart of theme sizes (see :func:`semclust.viz.plot_sizes`)."""
        from semclust import viz

        return viz.plot_sizes(self, **kwargs)

    def plot_over_time(self, freq: str = "W", **kwargs: Any) -> Any:
        """Articles per period per theme (see :func:`semclust.viz.plot_over_time`)."""
        from semclust import viz

        return viz.plot_over_time(self, freq, **kwargs)

    def plot_similarity(self, **kwargs: Any) -> Any:
        """Theme-to-theme similarity heatmap (see :func:`semclust.viz.plot_similarity`)."""
        from semclust import viz

        return viz.plot_similarity(self, **kwargs)

    def show(self, theme_id: int, **kwargs: Any) -> Any:
        """One theme as a Jupyter-displayable view (see :func:`semclust.viz.show_theme`)."""
        from semclust import viz

        return viz.show_theme(self, theme_id, **kwargs)

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


# -- the store's themes --------------------------------------------------------------------------


def _same_params(saved: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    for key, value in given.items():
        if key in ("umap_model", "hdbscan_model") and value is not None:
            return False
        if key != "progress" and saved.get(key) != (list(value) if isinstance(value, tuple) else value):
            return False
    return True


def store_themes(store: Store, *, refit: bool = False, progress: bool = False, **params: Any) -> Themes:
    """The themes of a store: loaded from ``<store>/themes/`` when they match the store's
    generation and ``params``, else fitted (with the parameters given for the previous fit,
    updated by ``params``), matched to the previous fit for stable ids, and saved.

    Args:
        store: An open :class:`~semclust.store.Store`.
        refit: Fit again even if the saved themes are current.
        progress: Show a progress bar.
        **params: :class:`ThemeModel` parameters.
    """
    from filelock import FileLock

    valid = ThemeModel().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidArgumentError(
            f"unknown theme parameter(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    folder = store.path / "themes"
    with FileLock(str(store.path / "themes.lock")):
        generation = store.generation
        old: Themes | None = None
        if folder.exists():
            try:
                old = Themes.load(folder)
            except (StoreFormatError, NotFoundError) as err:
                logger.warning("ignoring the saved themes: %s", err)
        current = old is not None and old.generation == generation and _same_params(old.params, params)
        if old is not None and current and not refit:
            return old
        # Refit with the parameters the user gave before (not the defaults of that time).
        given = {k: list(v) if isinstance(v, tuple) else v for k, v in params.items()}
        settings = {**(old.params.get("given", {}) if old is not None else {}), **given}
        if "ngram_range" in settings:
            settings["ngram_range"] = tuple(settings["ngram_range"])
        vectors, _, doc_ids = store.embeddings()
        if len(vectors) == 0:
            raise EmptyStoreError(
                f"store {store.path} has no articles yet; add some before asking for themes"
            )
        docs = {d.id: d for d in store.documents()}
        ids = list(dict.fromkeys(doc_ids))
        passages: list[str] = []
        for doc_id in ids:
            passages.extend(c.text for c in store.chunks(doc_id))
        if len(passages) != len(doc_ids):  # rows and chunks disagree: show no passages
            passages = []
        model = ThemeModel(**settings, progress=progress).fit(
            np.asarray(vectors), doc_ids, {i: f"{docs[i].title}\n{docs[i].text}" for i in ids},
            passages=passages or None, titles={i: docs[i].title for i in ids},
            published={i: docs[i].published for i in ids},
        )
        themes = model.themes_
        themes.generation = generation
        models = ("umap_model", "hdbscan_model")
        themes.params["given"] = {k: v for k, v in settings.items() if k not in models}
        if old is not None:
            themes = match_themes(themes, old)
        themes.save(folder)
        return themes


def theme_of(
    store: Store, text_or_doc_id: str, *, assign_outliers: bool | None = None, **params: Any
) -> ThemePrediction:
    """The theme(s) of a stored article (its fitted membership) or of a new text (chunked,
    embedded and predicted in embedding space; ``novel`` when it is far from every theme).

    Args:
        store: An open store; its themes come from :func:`store_themes` (``**params``).
        text_or_doc_id: A stored article id, or the text of an article.
        assign_outliers: For a new text: place it in the nearest theme even when far from all
            (default: as in the fit).
    """
    if not isinstance(text_or_doc_id, str) or not text_or_doc_id.strip():
        raise InvalidArgumentError("expected an article id or a non-empty text")
    themes = store_themes(store, **params)
    if text_or_doc_id in store:
        canonical = store.duplicate_of(text_or_doc_id) or text_or_doc_id
        return replace(themes.theme_of(canonical), doc_id=text_or_doc_id)
    from semclust.chunking import chunk_document
    from semclust.documents import Document

    cfg = store.manifest["chunking"]
    chunks = chunk_document(
        Document(id="<text>", text=text_or_doc_id.strip()), store.embedder.tokenizer,
        max_tokens=int(cfg["max_tokens"]), overlap=int(cfg["overlap"]), title_context=False,
        language=str(cfg["language"]),
    )
    vectors = store.embedder.embed([c.embed_text for c in chunks])
    return themes.predict_article(vectors, assign_outliers=assign_outliers)
