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
   A corpus of more than ``max_fit_articles`` articles (default 10,000) runs steps 2-3 on a
   seeded random sample of that many and assigns the rest by the same rule (see
   :mod:`semclust.themes.scale`, which also places them on the 2-D map).
4. An article's themes and weights come from its chunks: the share of its chunks nearest each
   theme (with the article's own vector as one more vote; an article without a theme has no
   weights). Its main theme is listed first.
5. Labels (see :mod:`semclust.themes.labels`): c-TF-IDF keywords, a short name, representative
   articles and passages nearest the centre.

:func:`store_themes` fits on a store's embeddings and caches the result under
``<store>/themes/`` (JSON + ``.npy``, never pickle) until the store's generation changes; a
refit keeps the ids of themes that match the previous fit (see :func:`match_themes`).

The fitted result (:class:`Themes`, :class:`ThemePrediction`, saving, :func:`match_themes`)
lives in :mod:`semclust.themes.result` and the assignment rule in :mod:`semclust.themes.assign`;
both are importable from here as before.
"""

from __future__ import annotations

import inspect
import logging
import math
import time
import warnings
from collections.abc import Mapping, Sequence
from typing import Any, Literal

import numpy as np

from semclust.errors import InvalidArgumentError, MissingDependencyError
from semclust.themes.assign import Assignment, assign, group_rows, pool_articles, unit_rows
from semclust.themes.labels import Passage, Theme, class_tfidf, make_theme, representatives
from semclust.themes.result import THEMES_FORMAT_VERSION, ThemePrediction, Themes, match_themes
from semclust.themes.scale import (
    EXACT_NEIGHBOURS_MAX,
    EXACT_NEIGHBOURS_MIN,
    MAX_FIT_ARTICLES,
    exact_neighbours,
    fit_sample,
    keyword_articles,
    place_by_neighbours,
    scaled_size,
)

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

logger = logging.getLogger(__name__)

Level = Literal["articles", "chunks"]

# Earlier names of the helpers now in semclust.themes.assign.
_group = group_rows
_pool = pool_articles

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
        max_fit_articles: Fit UMAP and HDBSCAN on at most this many articles (default
            :data:`~semclust.themes.scale.MAX_FIT_ARTICLES`, 10,000: about 30 s of UMAP on two
            cores); a larger corpus is fitted on a seeded random sample of this many and the
            other articles are assigned to the themes found, by the same nearest-centre rule
            (``min_cluster_size`` and ``min_samples`` are then scaled by the sample's share).
            ``None``: always fit on every article.
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
    ``article_ids_``, ``centroids_``, ``embedding_`` (the UMAP output of the fitted units,
    ``None`` on the small-corpus path), ``small_corpus_`` (bool), ``fit_sample_`` (indices of
    the articles fitted on, ``None`` when all were), ``min_cluster_size_`` (in articles of the
    whole corpus), ``clusterer_`` (which clusterer ran), ``timings_`` (seconds per stage),
    ``umap_model_``, ``hdbscan_model_``.
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
        max_fit_articles: int | None = MAX_FIT_ARTICLES,
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
        self.max_fit_articles = max_fit_articles
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
        cap, least = self.max_fit_articles, max(self.small_corpus, 3)
        if cap is not None and (isinstance(cap, bool) or not isinstance(cap, int) or cap < least):
            raise InvalidArgumentError(
                f"max_fit_articles must be None or a whole number of at least small_corpus ({least}), "
                f"got {cap!r}"
            )

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
        article_ids, row_article = group_rows(doc_ids, n_rows)
        n_articles = len(article_ids)
        article_vectors = pool_articles(vectors, row_article, n_articles)
        all_units = article_vectors if self.level == "articles" else vectors
        # Above max_fit_articles, UMAP and HDBSCAN see a seeded sample of the articles (the
        # units are the sample's article vectors or chunk rows); every article is assigned.
        sample = fit_sample(n_articles, self.max_fit_articles, self.random_state)
        fit_rows: np.ndarray | None = None
        if sample is None:
            units = all_units
        elif self.level == "articles":
            units = article_vectors[sample]
        else:
            in_sample = np.zeros(n_articles, dtype=bool)
            in_sample[sample] = True
            fit_rows = np.flatnonzero(in_sample[row_article])
            units = vectors[fit_rows]
        self.fit_sample_ = sample
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
        self._knn: tuple[np.ndarray, np.ndarray] | None = None
        self.umap_model_: Any = None
        self.hdbscan_model_: Any = None
        self.embedding_: np.ndarray | None = None
        self.min_cluster_size_ = self.min_cluster_size or default_min_cluster_size(len(all_units))
        share = len(units) / len(all_units)
        fit_cluster_size = scaled_size(self.min_cluster_size_, share, 5)
        fit_min_samples = scaled_size(self.min_samples, share, 1) if self.min_samples else fit_cluster_size
        if self.small_corpus_:
            lap("reduce")
            seed = _link_similar(units, self.merge_similarity)
            self.clusterer_ = "average-linkage"
        else:
            self.embedding_ = self._reduce(units)
            lap("reduce")
            seed = self._cluster(self.embedding_, fit_cluster_size, fit_min_samples)
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
                vectors, row_article, n_articles, centroids, thresholds, quantiles,
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

        keyword_rows = None if sample is None else keyword_articles(result.main, result.similarity, sample)
        terms = self._keywords(article_ids, texts, result.main, keyword_rows)
        reps = representatives(
            vectors, row_article, article_vectors, result.main, centroids, article_ids, passages
        )
        lap("labels")
        coords = None
        if self.coords:
            coords = self._coordinates(units, article_vectors, row_article, result.main, sample, fit_rows)
        self._knn = None
        lap("coords")
        bar.close()

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
        out["n_fit_articles_"] = (
            len(self.fit_sample_) if self.fit_sample_ is not None else len(self.article_ids_)
        )
        out["clusterer_"] = self.clusterer_
        return out

    def _umap(self, units: np.ndarray, n_components: int, min_dist: float) -> Any:
        try:
            with warnings.catch_warnings():  # umap warns on import that TensorFlow is missing
                warnings.simplefilter("ignore", ImportWarning)
                from umap import UMAP  # type: ignore[import-untyped]
        except ImportError as err:
            raise _missing("themes", err) from err
        from semclust.themes._jit_cache import enable_umap_jit_cache

        enable_umap_jit_cache()  # compile UMAP's functions once per machine, not per process
        n_neighbors = max(2, min(self.n_neighbors, len(units) - 1))
        knn: tuple[Any, Any, Any] = (None, None, None)
        if EXACT_NEIGHBOURS_MIN <= len(units) <= EXACT_NEIGHBOURS_MAX:
            # Where UMAP would run NN-descent: the exact graph, computed once per fit.
            if self._knn is None or len(self._knn[0]) != len(units):
                self._knn = exact_neighbours(units, n_neighbors)
            knn = (self._knn[0].copy(), self._knn[1].copy(), None)  # UMAP edits them in place
        return UMAP(
            n_neighbors=n_neighbors,
            n_components=n_components,
            min_dist=min_dist,
            metric="cosine",
            random_state=self.random_state,
            n_jobs=1 if self.random_state is not None else -1,
            low_memory=True,
            precomputed_knn=knn,
        )

    def _reduce(self, units: np.ndarray) -> np.ndarray:
        n_components = min(self.n_components, len(units) - 2)
        reducer = self.umap_model
        if reducer is None:
            reducer = self._umap(units, n_components, self.min_dist)
        self.umap_model_ = reducer
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            embedding = np.asarray(reducer.fit_transform(units), dtype=np.float32)
        for w in caught:  # UMAP's notes (disconnected graph, spectral fallback) are not errors
            logger.info("UMAP: %s", w.message)
        return embedding

    def _cluster(self, embedding: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
        # scikit-learn's HDBSCAN: fast_hdbscan gave the same themes on BBC and R8 (ARI 0.999)
        # but was no faster up to 10,000 points and compiles for 20 s on its first run
        # (benchmarks/bench_themes.py --scale); pass hdbscan_model= to use another.
        if self.hdbscan_model is not None:
            clusterer = self.hdbscan_model
        else:
            try:
                from sklearn.cluster import HDBSCAN  # type: ignore[import-untyped]
            except ImportError as err:
                raise _missing("themes", err) from err
            mcs = min(min_cluster_size, len(embedding))
            clusterer = HDBSCAN(
                min_cluster_size=mcs, min_samples=min(min_samples, len(embedding)),
                cluster_selection_method="eom", copy=True,
            )
        clusterer.fit(embedding)
        self.hdbscan_model_ = clusterer
        kind = type(clusterer)
        self.clusterer_ = f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"
        return np.asarray(clusterer.labels_, dtype=np.int64)

    def _keywords(
        self,
        article_ids: list[str],
        texts: Sequence[str] | Mapping[str, str] | None,
        main: np.ndarray,
        rows: np.ndarray | None = None,
    ) -> dict[int, list[tuple[str, float]]]:
        """c-TF-IDF keywords per theme from the texts of all articles, or of ``rows`` only."""
        if texts is None:
            return {}
        picked = range(len(article_ids)) if rows is None else rows.tolist()
        if isinstance(texts, Mapping):
            docs = [texts.get(article_ids[i], "") for i in picked]
        else:
            if len(texts) != len(article_ids):
                raise InvalidArgumentError(
                    f"got {len(texts)} texts for {len(article_ids)} articles; give one text per "
                    "article (in order of first appearance in doc_ids) or a mapping id -> text"
                )
            docs = [texts[i] for i in picked]
        stop = list(self.stop_words) if self.stop_words is not None else None
        ngrams = (int(self.ngram_range[0]), int(self.ngram_range[1]))
        labels = main if rows is None else main[rows]
        return class_tfidf(docs, labels, ngram_range=ngrams, stop_words=stop)

    def _coordinates(
        self,
        units: np.ndarray,
        article_vectors: np.ndarray,
        row_article: np.ndarray,
        main: np.ndarray,
        sample: np.ndarray | None,
        fit_rows: np.ndarray | None,
    ) -> np.ndarray:
        """2-D map positions of the articles: a 2-D UMAP of the fitted units (PCA for a small
        corpus); on a sampled fit, the other articles are placed among their nearest sample
        articles of the same theme (:func:`~semclust.themes.scale.place_by_neighbours`).
        """
        if self.small_corpus_ or len(units) < 8:
            return _pca2(article_vectors)
        reducer = self._umap(units, 2, 0.1)
        with warnings.catch_warnings(record=True):
            warnings.simplefilter("always")
            xy = np.asarray(reducer.fit_transform(units), dtype=np.float32)
        n = len(article_vectors)
        if self.level == "chunks":
            unit_article = row_article if fit_rows is None else row_article[fit_rows]
            xy = pool_articles(xy, unit_article, n, normalise=False)
            if sample is not None:
                xy = xy[sample]
        if sample is None:
            return xy.astype(np.float32)
        coords = np.zeros((n, 2), dtype=np.float32)
        coords[sample] = xy
        rest = np.setdiff1d(np.arange(n), sample, assume_unique=True)
        coords[rest] = place_by_neighbours(
            article_vectors[rest], main[rest], article_vectors[sample], xy, main[sample]
        )
        return coords


# -- fit helpers ------------------------------------------------------------------------------


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
