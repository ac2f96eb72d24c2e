"""Ranking: articles for a query, related articles, and the precomputed related lists."""

from __future__ import annotations

from semclust.search.ranking import RelatedMethod, article_similarity, rank_articles, rank_related
from semclust.search.related import DEFAULT_RELATED_K, related_lists

__all__ = [
    "DEFAULT_RELATED_K",
    "RelatedMethod",
    "article_similarity",
    "rank_articles",
    "rank_related",
    "related_lists",
]
