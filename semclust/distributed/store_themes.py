"""A store's themes with the assignment of every article done on Ray."""

from __future__ import annotations

import os
from typing import Any

from semclust.distributed.themes import DEFAULT_ARTICLES_PER_TASK, assign_themes
from semclust.store.store import Store
from semclust.themes.assign import Assignment
from semclust.themes.result import Themes

__all__ = ["store_themes"]


def store_themes(
    store: str | os.PathLike[str] | Store,
    *,
    address: str | None = None,
    refit: bool = False,
    articles_per_task: int = DEFAULT_ARTICLES_PER_TASK,
    progress: bool = False,
    **params: Any,
) -> tuple[Themes, list[str], Assignment]:
    """Fit (or load) the store's themes on the driver, then assign every article on Ray.

    The fit is :meth:`Store.themes` (UMAP and HDBSCAN on a seeded sample above
    ``max_fit_articles``); the assignment of all the store's articles to the fitted themes runs
    in Ray tasks (:func:`~semclust.distributed.themes.assign_themes`) and equals the
    single-process one. Returns the themes, the article ids and their assignment.
    """
    st = store if isinstance(store, Store) else Store.open(store, create=False)
    try:
        themes = st.themes(refit=refit, progress=progress, **params)
        vectors, _, doc_ids = st.embeddings()
        ids, assignment = assign_themes(
            vectors, doc_ids, themes, address=address, articles_per_task=articles_per_task, progress=progress
        )
    finally:
        if st is not store:
            st.close()
    return themes, ids, assignment
