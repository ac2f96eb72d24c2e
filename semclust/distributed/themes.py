"""Themes at scale: the fit stays on the driver, every article is assigned on Ray.

Assignment to fitted themes (:func:`semclust.themes.assign.assign`, the rule the fit and
:meth:`Themes.predict <semclust.themes.result.Themes.predict>` use) is independent per article,
so it runs on batches of whole articles in Ray tasks and the batches' results are concatenated:
the outcome is exactly the single-process assignment.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from semclust.distributed._ray import ray_session
from semclust.errors import InvalidArgumentError
from semclust.themes.assign import Assignment, assign, group_rows, unit_rows
from semclust.themes.result import Themes

__all__ = ["assign_batch", "assign_themes", "merge_assignments"]

#: Articles per Ray task in :func:`assign_themes` (rounded up to a multiple of :data:`ALIGN`).
DEFAULT_ARTICLES_PER_TASK = 4096
#: Tasks start at multiples of this many articles (see :func:`assign_themes`).
ALIGN = 64


def assign_batch(
    vectors: np.ndarray, row_article: np.ndarray, n_articles: int, model: dict[str, Any]
) -> Assignment:
    """Assign one batch of whole articles (a task): ``vectors`` are their chunk rows and
    ``row_article`` each row's article within the batch; ``model`` holds the fitted themes'
    centres, thresholds, quantiles, leaf themes and rule parameters.
    """
    return assign(
        unit_rows(vectors), row_article, n_articles, model["centroids"], model["thresholds"],
        model["quantiles"], model["leaf_theme"], level=model["level"],
        assign_outliers=model["assign_outliers"], temperature=model["temperature"],
        votes=model["votes"],
    )


def merge_assignments(parts: list[Assignment], sizes: list[int]) -> Assignment:
    """One assignment from those of consecutive batches of ``sizes`` articles."""
    offsets = np.concatenate([[0], np.cumsum(sizes)[:-1]]).astype(np.int64)

    def cat(name: str) -> np.ndarray:
        return np.concatenate([getattr(p, name) for p in parts])

    return Assignment(
        main=cat("main"), similarity=cat("similarity"), confidence=cat("confidence"),
        strength=cat("strength"), outlier=cat("outlier"),
        weight_article=np.concatenate([p.weight_article + o for p, o in zip(parts, offsets)]),
        weight_theme=cat("weight_theme"), weight_value=cat("weight_value"),
    )


def _rule(themes: Themes, assign_outliers: bool | None) -> dict[str, Any]:
    params = themes.params
    return {
        "centroids": themes.centroids, "thresholds": themes.thresholds, "quantiles": themes.quantiles,
        "leaf_theme": themes.leaf_theme, "level": str(params.get("level", "articles")),
        "votes": themes.votes,
        "temperature": float(params.get("temperature", 0.05)),
        "assign_outliers": (
            bool(params.get("assign_outliers")) if assign_outliers is None else assign_outliers
        ),
    }


def assign_themes(
    vectors: Any,
    doc_ids: list[str],
    themes: Themes,
    *,
    address: str | None = None,
    articles_per_task: int = DEFAULT_ARTICLES_PER_TASK,
    assign_outliers: bool | None = None,
    progress: bool = False,
) -> tuple[list[str], Assignment]:
    """Assign every article to ``themes`` on Ray, in tasks of ``articles_per_task`` articles.

    Args:
        vectors: ``(n_rows, dim)`` chunk vectors (e.g. ``store.embeddings()[0]``, memory-mapped).
        doc_ids: The article of each row.
        themes: Fitted themes (e.g. ``store.themes()``, fitted on the driver).
        address: As in :func:`semclust.distributed.build`.
        articles_per_task: Articles per Ray task (rounded up to a multiple of 64).
        assign_outliers: As in :meth:`Themes.predict`.
        progress: Show a progress bar.

    Returns:
        The article ids in order of first appearance in ``doc_ids`` and their
        :class:`~semclust.themes.assign.Assignment`, equal to the single-process one.
    """
    if articles_per_task < 1:
        raise InvalidArgumentError(f"articles_per_task must be at least 1, got {articles_per_task}")
    if len(themes.centroids) == 0:
        raise InvalidArgumentError("the themes have no theme to assign articles to")
    # A task's articles start at a multiple of ALIGN: BLAS kernels compute the last few rows of
    # a matrix apart (another rounding), so a task's matrix products then round exactly like
    # the same rows of the whole matrix do.
    articles_per_task = -(-articles_per_task // ALIGN) * ALIGN
    ids, row_article = group_rows(doc_ids, len(vectors))
    order = np.argsort(row_article, kind="stable")
    starts = np.arange(0, len(ids) + articles_per_task, articles_per_task)
    bounds = np.searchsorted(row_article[order], starts)
    from tqdm.auto import tqdm

    with ray_session(address) as ray:
        rule = ray.put(_rule(themes, assign_outliers))
        task = ray.remote(max_retries=3)(assign_batch)
        futures, sizes = [], []
        for b in range(len(bounds) - 1):
            first = b * articles_per_task
            if first >= len(ids):
                break
            rows = order[bounds[b] : bounds[b + 1]]
            n = min(articles_per_task, len(ids) - first)
            futures.append(task.remote(np.asarray(vectors[rows]), row_article[rows] - first, n, rule))
            sizes.append(n)
        parts = []
        for f in tqdm(futures, desc="assigning themes (Ray)", unit="task", disable=not progress):
            parts.append(ray.get(f))
    return ids, merge_assignments(parts, sizes)
