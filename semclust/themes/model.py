"""Themes: UMAP + HDBSCAN clustering of articles into labelled, stable, explainable themes.

How a fit works (:class:`ThemeModel`):

1. Each article's vector is the normalised mean of its chunk vectors. The *units* clustered are
   these article vectors (``level="articles"``, the default, which scored better on the BBC and
   Reuters benchmarks) or the chunk vectors (``level="chunks"``).
2. UMAP (cosine, 5 components, seeded) reduces the units, then HDBSCAN picks the *leaf*
   clusters of its condensed tree: the finest dense groups (``min_cluster_size`` articles or
   more), the *fine* themes. A corpus with fewer than ``small_corpus`` units (e.g. the two seed
   articles) skips both: articles about the same story (cosine similarity at least
   ``merge_similarity``) form one fine group, every other article one of its own.
3. Each fine theme's centre is the normalised mean of its members in embedding space. Every
   article is assigned to its nearest centre, or to no theme (an outlier) when its similarity
   is below that centre's threshold (the ``outlier_quantile`` of its members' similarities).
   Prediction for a new article uses the very same rule (numpy only: no UMAP at prediction
   time), so fit and :meth:`Themes.predict` agree on every fitted article.
4. The fine themes are merged, most similar first, by group-average similarity of their
   articles in the original embedding space, up to one root (:mod:`semclust.themes.tree`).
   The default level is the cut of that tree whose themes are most *modular* on the articles'
   nearest-neighbour graph (more of each theme's neighbour links fall inside it than chance
   would put there), its themes of under 1% of the articles hung under their nearest; the
   broad level is the most modular cut with at most half as many; the fine level is the fine
   themes. ``themes.level(...)``, ``tree()``, ``children()``,
   ``parent()`` and ``reduce(n)`` walk it.
   A corpus of more than ``max_fit_articles`` articles (default 10,000) runs steps 2-3 on a
   seeded random sample of that many and assigns the rest by the same rule (see
   :mod:`semclust.themes.scale`, which also places them on the 2-D map).
5. An article's themes and weights come from its chunks: the share of its chunks nearest each
   theme (with the article's own vector as one more vote; an article without a theme has no
   weights). Its main theme is listed first.
6. Labels (:mod:`semclust.themes.labels`, :mod:`semclust.themes.naming`): c-TF-IDF candidate
   words, re-ranked by their similarity to the theme's centre when a word embedder is given
   (with MMR for diversity), a name of their first words, representative articles and passages.

The fitted result (:class:`Themes`, :class:`ThemePrediction`) lives in
:mod:`semclust.themes.result`, saving in :mod:`semclust.themes.persist`, the tree in
:mod:`semclust.themes.tree` and :mod:`semclust.themes.hierarchy`, the assignment rule in
:mod:`semclust.themes.assign`.
"""

from __future__ import annotations

import inspect
import logging
import math
from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any, Literal

import numpy as np

from semclust.errors import InvalidArgumentError
from semclust.themes.assign import Assignment, assign
from semclust.themes.build import Corpus, LeafModel, Units, build_tree, keyword_texts, prepare_units
from semclust.themes.cluster import (
    StageClock,
    by_size,
    fine_centres,
    link_similar,
    make_hdbscan,
    make_umap,
    map_coordinates,
    neighbours_for,
    run_reducer,
    uses_exact_neighbours,
)
from semclust.themes.naming import WordVectors
from semclust.themes.refine import Votes
from semclust.themes.scale import (
    MAX_FIT_ARTICLES,
    keyword_articles,
    scaled_size,
)
from semclust.themes.settle import KEPT_SHARE, settle_above_floor
from semclust.themes.tree import (
    THEME_FLOOR,
    Levels,
    absorb_small,
    broad_level,
    choose_levels,
    merge_tree,
    small_levels,
)

__all__ = ["SMALL_CORPUS", "ThemeModel", "default_min_cluster_size"]

logger = logging.getLogger(__name__)

Level = Literal["articles", "chunks"]

#: Corpora with fewer clustering units than this take the small-corpus path (no UMAP/HDBSCAN).
SMALL_CORPUS = 30
#: On the small-corpus path, an article less similar than this to every theme has no theme.
SMALL_CORPUS_NOVELTY = 0.4
#: The smallest fine theme, in articles (HDBSCAN's ``min_cluster_size`` for its leaf clusters).
FINE_CLUSTER_SIZE = 10
#: HDBSCAN's ``min_samples`` for the fine clusters.
FINE_MIN_SAMPLES = 5
_STAGES = ("reduce", "cluster", "assign", "labels", "coords")


def default_min_cluster_size(n_units: int) -> int:
    """The smallest fine theme for ``n_units`` points: :data:`FINE_CLUSTER_SIZE` articles (fewer
    in a corpus of under 50), whatever the corpus size: how many themes a level has is chosen
    from the data by the theme tree (:mod:`semclust.themes.tree`), not from this.
    """
    return max(2, min(FINE_CLUSTER_SIZE, n_units // 5))


class ThemeModel:
    """Themes of articles as a tree (UMAP + HDBSCAN fine themes, merged up), scikit-learn style.

    Args:
        level: Cluster ``"articles"`` (chunk vectors pooled per article) or ``"chunks"``.
        umap_model: Your own reducer with ``fit_transform`` (default: UMAP with the settings
            below); it runs on the clustering units.
        hdbscan_model: Your own clusterer with ``fit`` and ``labels_`` (default: scikit-learn's
            HDBSCAN choosing leaf clusters, settings below; ``-1`` marks noise). Its clusters are
            the fine themes.
        n_neighbors: UMAP neighbours (at most units - 1), and the neighbours of each article in
            the graph that chooses the default level.
        n_components: UMAP output dimensions.
        min_dist: UMAP ``min_dist``.
        min_cluster_size: The smallest fine theme, in articles of the whole corpus (default
            :func:`default_min_cluster_size`).
        min_samples: HDBSCAN's density smoothing (default :data:`FINE_MIN_SAMPLES`).
        outlier_quantile: A fine theme's threshold is this quantile of its members'
            similarities to its centre; articles below every threshold are outliers.
        assign_outliers: Place each outlier in its nearest theme anyway (its ``confidence``
            and ``strength`` say how well it fits).
        small_corpus: Below this many units, skip UMAP/HDBSCAN (see the module docs).
        max_fit_articles: Fit UMAP and HDBSCAN on at most this many articles (default
            :data:`~semclust.themes.scale.MAX_FIT_ARTICLES`); a larger corpus is fitted on a
            seeded random sample of this many and the other articles are assigned by the same
            nearest-centre rule (``min_cluster_size`` is then scaled by the sample's share).
            ``None``: always fit on every article.
        merge_similarity: Cosine similarity at which the small-corpus path joins articles into
            one fine group (0.7: about the same story).
        n_keywords: Keywords shown per theme.
        ngram_range: Word n-grams for keywords.
        stop_words: Words to leave out of keywords (default: English and news stop words).
        coords: Compute 2-D coordinates of the articles for plotting (a second, 2-D UMAP).
        temperature: Softmax temperature that turns similarities into ``confidence``.
        random_state: Seed of UMAP (and so of the whole fit).
        progress: Show a progress bar over the stages.

    Fitted attributes: ``themes_`` (:class:`Themes` at the default level; ``themes_.level(...)``
    for the others), ``labels_`` (main theme id per article), ``article_ids_``, ``centroids_``
    (of the fine themes), ``embedding_`` (the UMAP output, ``None`` on the small-corpus path),
    ``small_corpus_``, ``fit_sample_`` (indices of the articles fitted on, ``None`` when all
    were), ``min_cluster_size_``, ``levels_`` (themes per level), ``tree_`` (the merge tree),
    ``clusterer_``, ``timings_``, ``umap_model_``, ``hdbscan_model_``.
    """

    _knn: tuple[np.ndarray, np.ndarray] | None = None

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
        word_vectors: WordVectors | None = None,
    ) -> ThemeModel:
        """Find the themes of a corpus, as a tree with a default level chosen from the data.

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
            word_vectors: Embeds words with the model that made ``X`` (texts -> vectors), to
                rank each theme's candidate keywords by meaning (:mod:`semclust.themes.naming`);
                without it the c-TF-IDF order is kept.

        Returns:
            ``self``, fitted.
        """
        self._check_params()
        data = prepare_units(X, doc_ids, self.level, self.max_fit_articles, self.random_state)
        self.fit_sample_ = data.sample
        clock = StageClock(self.progress, _STAGES)
        fine = self._fine_themes(data, clock)
        leaves, result = self._leaves(data, fine)
        clock.lap("assign")
        corpus = self._corpus(data, result, texts, passages, titles, published)
        self.themes_ = build_tree(
            corpus, leaves, self._settings(), word_vectors=word_vectors, coords=None,
            params=self._saved_params(len(data.article_ids)),
        )
        clock.lap("labels")
        if self.coords:
            coords = map_coordinates(
                data.units, data.article_vectors, data.row_article, self.themes_.level("fine").labels,
                data.sample, data.fit_rows, level=self.level, small=self.small_corpus_,
                n_neighbors=self.n_neighbors, random_state=self.random_state,
                knn=self._knn if self._knn is not None and len(self._knn[0]) == len(data.units) else None,
            )
            for view in self.themes_._tree.views.values() if self.themes_._tree else [self.themes_]:
                view.coords = coords
        clock.lap("coords")
        clock.close()
        self.article_ids_ = data.article_ids
        self.labels_ = self.themes_.labels.copy()
        self.centroids_ = leaves.centroids
        self.levels_ = leaves.levels.as_dict()
        self.tree_ = leaves.tree
        self.timings_ = clock.timings
        self._knn = None
        logger.debug("themes: levels %s, %d outliers", self.levels_, self.themes_.n_outliers)
        return self

    def _fine_themes(self, data: Units, clock: StageClock) -> np.ndarray:
        """The fine theme of each unit (``-1``: HDBSCAN noise), largest first."""
        units = data.units
        n_all = len(data.article_vectors) if self.level == "articles" else len(data.vectors)
        self.small_corpus_ = len(units) < max(self.small_corpus, 3)
        self._knn = None
        self._level_k = 0
        self.umap_model_: Any = None
        self.hdbscan_model_: Any = None
        self.embedding_: np.ndarray | None = None
        self.min_cluster_size_ = self.min_cluster_size or default_min_cluster_size(n_all)
        if self.small_corpus_:
            clock.lap("reduce")
            seed = link_similar(units, self.merge_similarity)
            self.clusterer_ = "average-linkage"
        else:
            self.embedding_ = self._reduce(units)
            clock.lap("reduce")
            share = len(units) / n_all
            size = scaled_size(self.min_cluster_size_, share, 5)
            samples = min(FINE_MIN_SAMPLES, size)
            if self.min_samples:
                samples = scaled_size(self.min_samples, share, 1)
            seed = self._cluster(self.embedding_, size, samples)
        seed = by_size(seed)
        if seed.max(initial=-1) < 0:
            logger.info("no dense theme found among %d units; using one theme for all", len(units))
            seed = np.zeros(len(units), dtype=np.int64)
        clock.lap("cluster")
        return seed

    def _leaves(self, data: Units, seed: np.ndarray) -> tuple[LeafModel, Assignment]:
        """The fine themes' centres (a fine theme left with no article is dropped), the merge
        tree over them and its levels, and the articles' assignment to the fine themes.
        """
        units = data.units
        centroids, _, _ = fine_centres(units, seed, self.outlier_quantile)
        # Thresholds come from every unit nearest a centre, HDBSCAN's noise included: the leaf
        # clusters are dense cores, and an article at their edge is still of their theme.
        nearest = (units @ centroids.T).argmax(axis=1)
        _, thresholds, quantiles = fine_centres(units, nearest, self.outlier_quantile, centroids)
        if self.small_corpus_:  # no distribution to learn from: a fixed similarity decides
            thresholds = np.minimum(thresholds, SMALL_CORPUS_NOVELTY)
            quantiles = np.minimum(quantiles, quantiles[:, :1])  # every member counts as typical
        for _ in range(3):
            result = self._place(data, centroids, thresholds, quantiles)
            sizes = np.bincount(result.main[result.main >= 0], minlength=len(centroids))
            if sizes.all() or not sizes.any():
                break
            keep = sizes > 0
            centroids, thresholds, quantiles = centroids[keep], thresholds[keep], quantiles[keep]
        # Every fitted unit counts in the tree, HDBSCAN's noise with its nearest fine theme.
        unit_leaf = (units @ centroids.T).argmax(axis=1)
        n_leaves = len(centroids)
        means = np.stack([units[unit_leaf == t].mean(axis=0) if (unit_leaf == t).any() else centroids[t]
                          for t in range(n_leaves)])
        counts = np.maximum(np.bincount(unit_leaf, minlength=n_leaves), 1)
        tree = merge_tree(means, counts)
        levels = self._levels(units, unit_leaf, tree, data)
        if not self.small_corpus_ and levels.themes > 1 and self._knn is not None:
            # no theme of the default level (nor above it) is a small group kept apart to the top
            tree, themes = absorb_small(tree, means, counts, levels.themes, THEME_FLOOR * len(units))
            if themes != levels.themes:
                broad = broad_level(tree, unit_leaf, self._knn[0][:, : self._level_k], themes)
                levels = Levels(broad=broad, themes=themes, fine=levels.fine)
        leaf_size = np.bincount(result.main[result.main >= 0], minlength=n_leaves).astype(np.int64)
        leaves = LeafModel(centroids, thresholds, quantiles, leaf_size, tree, levels)
        if self.small_corpus_ or self.level != "articles" or self._knn is None or levels.themes < 2:
            return leaves, result
        # The articles' neighbours settle the borders between themes (semclust.themes.refine).
        start = np.where(result.main[data.unit_article] >= 0, unit_leaf, -1)
        neighbours = self._knn[0][:, : self._level_k]
        def place(leaves: LeafModel, votes: Votes, voted: np.ndarray) -> Assignment:
            return self._place(data, leaves.centroids, leaves.thresholds, leaves.quantiles, votes, voted)

        settled = settle_above_floor(
            leaves, units, start, neighbours, data.article_vectors, place,
            min_size=max(1, math.ceil(KEPT_SHARE * self.min_cluster_size_)), floor=THEME_FLOOR * len(units),
            start_of=lambda placed: placed.main[data.unit_article],
        )
        if settled is None:
            return leaves, result
        # The broad level again, on the settled tree and borders (settling may drop the odd
        # few articles that were a broad theme of their own).
        leaves, placed = settled
        leaf_of = placed.main[data.unit_article]
        leaf_of = np.where(leaf_of >= 0, leaf_of, (units @ leaves.centroids.T).argmax(axis=1))
        broad = broad_level(leaves.tree, leaf_of, neighbours, leaves.levels.themes)
        return replace(leaves, levels=replace(leaves.levels, broad=broad)), placed

    def _place(
        self, data: Units, centroids: np.ndarray, thresholds: np.ndarray, quantiles: np.ndarray,
        votes: Votes | None = None, voted: np.ndarray | None = None,
    ) -> Assignment:
        """Every article's fine cluster by the fit's rule."""
        return assign(
            data.vectors, data.row_article, len(data.article_ids), centroids, thresholds, quantiles,
            np.arange(len(centroids)), level=self.level, assign_outliers=self.assign_outliers,
            temperature=self.temperature, votes=votes, voted=voted,
        )

    def _levels(self, units: np.ndarray, unit_leaf: np.ndarray, tree: np.ndarray, data: Units) -> Levels:
        n_leaves = int(unit_leaf.max()) + 1
        if self.small_corpus_:
            # A theme of one article is not a theme: the default level keeps only cuts whose
            # themes all have two articles or more (one theme for the seeds' two articles).
            return small_levels(tree, unit_leaf, neighbours_for(units, min(5, len(units) - 1))[0])
        if n_leaves < 2:
            return Levels(1, 1, 1)
        # The graph that chooses the level links each unit to its nearest neighbours, at most a
        # tenth of the corpus: a theme must be able to hold its members' neighbours.
        k = min(self.n_neighbors, max(3, len(units) // 10))
        self._level_k = k
        if self._knn is None or len(self._knn[0]) != len(units) or self._knn[0].shape[1] < k:
            self._knn = neighbours_for(units, k)
        return choose_levels(tree, unit_leaf, self._knn[0][:, :k])

    def _corpus(
        self, data: Units, result: Assignment, texts: Sequence[str] | Mapping[str, str] | None,
        passages: Sequence[str] | None, titles: Mapping[str, str] | None,
        published: Mapping[str, str | None] | None,
    ) -> Corpus:
        ids = data.article_ids
        rows = None if data.sample is None else keyword_articles(result.main, result.similarity, data.sample)
        return Corpus(
            vectors=data.vectors, row_article=data.row_article, article_vectors=data.article_vectors,
            article_ids=ids, titles=[(titles or {}).get(a, "") for a in ids],
            published=[(published or {}).get(a) for a in ids], passages=passages,
            texts=keyword_texts(ids, texts, rows), keyword_rows=rows,
        )

    def _settings(self) -> dict[str, Any]:
        return {
            "level": self.level, "assign_outliers": self.assign_outliers, "temperature": self.temperature,
            "ngram_range": self.ngram_range, "stop_words": self.stop_words, "n_keywords": self.n_keywords,
        }

    def fit_predict(self, X: Any, doc_ids: Sequence[str] | None = None, texts: Any = None) -> np.ndarray:
        """Fit, then return the main theme id of each article (``-1``: no theme)."""
        return self.fit(X, doc_ids, texts).labels_

    def predict(self, X: Any, doc_ids: Sequence[str] | None = None) -> np.ndarray:
        """Main theme id of each article in ``X`` (rows grouped by ``doc_ids`` as in ``fit``)."""
        if not hasattr(self, "themes_"):
            raise InvalidArgumentError("this ThemeModel is not fitted yet; call fit first")
        return np.array([p.theme_id for p in self.themes_.predict(X, doc_ids)], dtype=np.int64)

    def _saved_params(self, n_articles: int) -> dict[str, Any]:
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
        out["n_fit_articles_"] = len(self.fit_sample_) if self.fit_sample_ is not None else n_articles
        out["clusterer_"] = self.clusterer_
        return out

    def _reduce(self, units: np.ndarray) -> np.ndarray:
        reducer = self.umap_model
        if reducer is None:
            knn = None
            if uses_exact_neighbours(len(units)):  # where UMAP would run NN-descent
                self._knn = neighbours_for(units, self.n_neighbors)
                knn = self._knn
            reducer = make_umap(
                units, n_neighbors=self.n_neighbors, n_components=min(self.n_components, len(units) - 2),
                min_dist=self.min_dist, random_state=self.random_state, knn=knn,
            )
        self.umap_model_ = reducer
        return run_reducer(reducer, units)

    def _cluster(self, embedding: np.ndarray, min_cluster_size: int, min_samples: int) -> np.ndarray:
        clusterer = self.hdbscan_model
        if clusterer is None:
            clusterer = make_hdbscan(len(embedding), min_cluster_size, min_samples)
        clusterer.fit(embedding)
        self.hdbscan_model_ = clusterer
        kind = type(clusterer)
        self.clusterer_ = f"{kind.__module__.split('.')[0]}.{kind.__qualname__}"
        return np.asarray(clusterer.labels_, dtype=np.int64)
