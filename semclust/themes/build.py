"""From fine clusters to the fitted theme tree: every named level's assignment, ids, keywords,
names and representatives (used by :class:`~semclust.themes.model.ThemeModel`).

Ids: the default level's themes are ``0..k-1`` by size (largest first), the broad level's
follow, then the fine level's, so an id names one theme of one level.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from semclust.errors import InvalidArgumentError
from semclust.themes.assign import Assignment, assign, group_rows, pool_articles, unit_rows
from semclust.themes.boilerplate import drop_boilerplate
from semclust.themes.labels import (
    Theme,
    count_terms,
    ctfidf,
    make_theme,
    representatives,
    term_articles,
)
from semclust.themes.naming import WordVectors, rerank_keywords
from semclust.themes.refine import Votes
from semclust.themes.result import Themes
from semclust.themes.scale import fit_sample
from semclust.themes.tree import LEVELS, Levels, ThemeTree, cut

__all__ = ["Corpus", "LeafModel", "Units", "build_tree", "keyword_texts", "prepare_units"]

_ORDER = ("themes", "broad", "fine")  # the order ids are given in
#: The fine level's keywords are re-ranked by meaning only up to this many fine themes.
FINE_RERANK_MAX = 30


@dataclass
class Units:
    """A fit's inputs, grouped: chunk rows, their articles, and the units clustered."""

    vectors: np.ndarray
    row_article: np.ndarray
    article_ids: list[str]
    article_vectors: np.ndarray
    units: np.ndarray
    unit_article: np.ndarray  # the article of each unit
    sample: np.ndarray | None
    fit_rows: np.ndarray | None


def prepare_units(
    X: Any, doc_ids: Sequence[str] | None, level: str, max_fit_articles: int | None, random_state: int | None
) -> Units:
    """Unit rows of ``X``, their articles, the pooled article vectors and the units to cluster
    (a seeded sample of the articles above ``max_fit_articles``).
    """
    vectors = unit_rows(X)
    if len(vectors) == 0:
        raise InvalidArgumentError("no vectors to find themes in; add articles first")
    article_ids, row_article = group_rows(doc_ids, len(vectors))
    n = len(article_ids)
    article_vectors = pool_articles(vectors, row_article, n)
    # Above max_fit_articles, UMAP and HDBSCAN see a seeded sample of the articles (the
    # units are the sample's article vectors or chunk rows); every article is assigned.
    sample = fit_sample(n, max_fit_articles, random_state)
    fit_rows = None
    if level == "articles":
        units = article_vectors if sample is None else article_vectors[sample]
        unit_article = np.arange(n) if sample is None else sample
    elif sample is None:
        units, unit_article = vectors, row_article
    else:
        in_sample = np.zeros(n, dtype=bool)
        in_sample[sample] = True
        fit_rows = np.flatnonzero(in_sample[row_article])
        units, unit_article = vectors[fit_rows], row_article[fit_rows]
    return Units(
        vectors, row_article, article_ids, article_vectors, units, unit_article, sample, fit_rows
    )


@dataclass
class Corpus:
    """The articles of a fit: chunk rows, their articles, and what labels are made from."""

    vectors: np.ndarray
    row_article: np.ndarray
    article_vectors: np.ndarray
    article_ids: list[str]
    titles: list[str]
    published: list[str | None]
    passages: Sequence[str] | None
    texts: list[str] | None  # the keyword texts, aligned with keyword_rows
    keyword_rows: np.ndarray | None  # articles whose texts give keywords (None: all)


@dataclass
class LeafModel:
    """The fine clusters: centres, thresholds, strength quantiles, and the merge tree."""

    centroids: np.ndarray
    thresholds: np.ndarray
    quantiles: np.ndarray
    leaf_size: np.ndarray
    tree: np.ndarray
    levels: Levels
    votes: Votes | None = None
    voted: np.ndarray | None = None  # the fit's articles' votes (counted once for every level)


def _level_assignments(
    corpus: Corpus, leaves: LeafModel, settings: Mapping[str, Any]
) -> dict[str, tuple[np.ndarray, Assignment]]:
    """Per level: ``leaf -> global theme id`` and the articles' assignment with those ids."""
    n_leaves = len(leaves.centroids)
    out: dict[str, tuple[np.ndarray, Assignment]] = {}
    next_id = 0
    sizes_of = leaves.levels.as_dict()
    for name in _ORDER:
        if name != "themes" and sizes_of[name] == sizes_of["themes"]:
            continue  # the same cut as the default level: no level of its own
        groups = cut(leaves.tree, n_leaves, sizes_of[name])
        result = assign(
            corpus.vectors, corpus.row_article, len(corpus.article_ids), leaves.centroids,
            leaves.thresholds, leaves.quantiles, groups, level=str(settings["level"]),
            assign_outliers=bool(settings["assign_outliers"]), temperature=float(settings["temperature"]),
            votes=leaves.votes, voted=leaves.voted,
        )
        k = int(groups.max()) + 1
        sizes = np.bincount(result.main[result.main >= 0], minlength=k)
        leaf_mass = np.bincount(groups, weights=leaves.leaf_size, minlength=k)
        order = np.lexsort((-leaf_mass, -sizes))  # largest first
        rank = np.empty(k, dtype=np.int64)
        rank[order] = np.arange(next_id, next_id + k)
        out[name] = (rank[groups], result.renumbered(rank))
        next_id += k
    return out


def _centres(corpus: Corpus, main: np.ndarray, ids: list[int]) -> dict[int, np.ndarray]:
    """Each theme's centre: the normalised mean of its articles' vectors."""
    return {t: unit_rows(corpus.article_vectors[main == t].mean(axis=0))[0] for t in ids}


def build_tree(
    corpus: Corpus,
    leaves: LeafModel,
    settings: Mapping[str, Any],
    *,
    word_vectors: WordVectors | None,
    coords: np.ndarray | None,
    params: Mapping[str, Any],
) -> Themes:
    """The fitted themes at the default level, with the whole tree behind them."""
    per_level = _level_assignments(corpus, leaves, settings)
    counts = vocab = None
    if corpus.texts is not None:
        ngrams = tuple(int(x) for x in settings["ngram_range"])
        stop = settings.get("stop_words")
        counts, vocab = count_terms(  # signatures and bylines are nobody's topic
            drop_boilerplate(corpus.texts), ngram_range=(ngrams[0], ngrams[1]),
            stop_words=None if stop is None else list(stop),
        )
    n_keywords = int(settings["n_keywords"])
    views: dict[str, Themes] = {}
    total = sum(int(lt.max()) + 1 - int(lt.min()) for lt, _ in per_level.values())
    for name in [n for n in LEVELS if n in per_level]:
        leaf_theme, result = per_level[name]
        ids = sorted(set(leaf_theme.tolist()))
        centres = _centres(corpus, result.main, ids)
        keywords: dict[int, list[str]] = {t: [] for t in ids}
        terms: dict[int, list[tuple[str, float]]] = {t: [] for t in ids}
        if counts is not None and vocab is not None:
            rows = corpus.keyword_rows
            labels = result.main if rows is None else result.main[rows]
            terms.update(ctfidf(counts, vocab, labels))
            # The fine level (up to hundreds of themes) keeps the c-TF-IDF order: embedding its
            # candidate words would cost more than the rest of the fit.
            words = word_vectors if name != "fine" or len(ids) <= FINE_RERANK_MAX else None
            found = term_articles(counts, vocab, labels, {t: [w for w, _ in ws] for t, ws in terms.items()})
            keywords = rerank_keywords(terms, centres, words, n_keywords, articles=found)
        themes = _records(corpus, result, ids, centres, terms, keywords)
        views[name] = Themes(
            themes=themes, article_ids=corpus.article_ids, titles=corpus.titles,
            published=corpus.published, assignment=result, centroids=leaves.centroids,
            thresholds=leaves.thresholds, quantiles=leaves.quantiles, leaf_theme=leaf_theme,
            leaf_size=leaves.leaf_size, coords=coords, params=params, next_id=total, level=name,
            votes=leaves.votes,
        )
    ThemeTree(linkage=leaves.tree, views=views).attach()
    return views["themes"]


def _records(
    corpus: Corpus,
    result: Assignment,
    ids: list[int],
    centres: Mapping[int, np.ndarray],
    terms: Mapping[int, list[tuple[str, float]]],
    keywords: Mapping[int, list[str]],
) -> list[Theme]:
    """The :class:`Theme` records of one level."""
    local = {t: i for i, t in enumerate(ids)}
    main_local = np.array([local.get(int(t), -1) for t in result.main.tolist()], dtype=np.int64)
    reps = representatives(
        corpus.vectors, corpus.row_article, corpus.article_vectors, main_local,
        np.stack([centres[t] for t in ids]), corpus.article_ids, corpus.passages,
    )
    n = len(corpus.article_ids)
    return [
        make_theme(
            t, terms.get(t, []), int((result.main == t).sum()), n, len(keywords.get(t, [])) or 10,
            reps.articles.get(local[t], []), reps.passages.get(local[t], []), keywords=keywords.get(t),
        )
        for t in ids
    ]


def keyword_texts(
    article_ids: list[str], texts: Sequence[str] | Mapping[str, str] | None, rows: np.ndarray | None
) -> list[str] | None:
    """The texts keywords are counted on: every article's, or those of ``rows`` only."""
    if texts is None:
        return None
    picked = range(len(article_ids)) if rows is None else rows.tolist()
    if isinstance(texts, Mapping):
        return [texts.get(article_ids[i], "") for i in picked]
    if len(texts) != len(article_ids):
        raise InvalidArgumentError(
            f"got {len(texts)} texts for {len(article_ids)} articles; give one text per "
            "article (in order of first appearance in doc_ids) or a mapping id -> text"
        )
    return [texts[i] for i in picked]
