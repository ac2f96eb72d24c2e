"""The store's themes: fit on the store's vectors and texts, save beside it, load, predict.

This is where the store meets :mod:`semclust.themes`: the themes stage takes vectors and texts
and never sees a :class:`~semclust.store.Store`; these functions read them from one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from semclust._types import Document
from semclust.errors import EmptyStoreError, InvalidArgumentError, NotFoundError, StoreFormatError
from semclust.themes.model import ThemeModel
from semclust.themes.result import THEMES_MANIFEST, ThemePrediction, Themes, match_themes

if TYPE_CHECKING:
    from pathlib import Path

    from semclust.chunking import Chunk

__all__ = ["ThemeSource", "saved_themes", "store_themes", "theme_of"]

logger = logging.getLogger(__name__)

#: Folder (inside the store) where the fitted themes are saved.
THEMES_FOLDER = "themes"
_LOCK = "themes.lock"


class ThemeSource(Protocol):
    """What the themes functions need from a store (a :class:`~semclust.store.Store` is one)."""

    path: Path

    @property
    def generation(self) -> int:
        """The committed generation the vectors and texts belong to."""

    def embeddings(self) -> tuple[np.ndarray, np.ndarray, list[str]]:
        """``(chunk vectors, chunk ids, article id of each row)``."""

    def documents(self) -> list[Document]:
        """Every article (for keywords, titles and dates)."""

    def chunks(self, doc_id: str) -> list[Chunk]:
        """An article's chunks (for representative passages)."""

    def duplicate_of(self, doc_id: str) -> str | None:
        """The article whose text ``doc_id`` repeats, or ``None``."""

    def article_vectors(self, item: str | None = None, *, text: str | None = None) -> np.ndarray:
        """The chunk vectors of a stored article (or of a text with white space), or of ``text``."""

    def __contains__(self, doc_id: object) -> bool:
        """Whether ``doc_id`` is a stored article."""


def _same_params(saved: Mapping[str, Any], given: Mapping[str, Any]) -> bool:
    for key, value in given.items():
        if key in ("umap_model", "hdbscan_model") and value is not None:
            return False
        if key != "progress" and saved.get(key) != (list(value) if isinstance(value, tuple) else value):
            return False
    return True


def store_themes(
    store: ThemeSource, *, refit: bool = False, progress: bool = False, level: str | int | None = None,
    **params: Any,
) -> Themes:
    """The themes of a store: loaded from ``<store>/themes/`` when they match the store's
    generation and ``params``, else fitted (with the parameters given for the previous fit,
    updated by ``params``), matched to the previous fit for stable ids at every level, and saved.

    Args:
        store: An open :class:`~semclust.store.Store`.
        refit: Fit again even if the saved themes are current.
        progress: Show a progress bar.
        level: The level of the theme tree to return: ``None`` or ``"themes"`` (the default
            level, chosen from the data), ``"broad"``, ``"fine"``, or a number ``n`` (the cut
            into at most ``n`` themes); see :meth:`Themes.level`.
        **params: :class:`~semclust.themes.ThemeModel` parameters.
    """
    themes = _store_themes(store, refit=refit, progress=progress, **params)
    return themes if level is None else themes.level(level)


def _word_vectors(store: ThemeSource) -> Any:
    """The store's embedder as a word embedder for theme names (``None`` if it has none)."""
    embedder = getattr(store, "embedder", None)
    embed = getattr(embedder, "embed", None)
    if embed is None:
        return None
    return lambda words: np.asarray(embed(list(words)), dtype=np.float32)


def _store_themes(store: ThemeSource, *, refit: bool, progress: bool, **params: Any) -> Themes:
    from filelock import FileLock

    valid = ThemeModel().get_params()
    unknown = sorted(set(params) - set(valid))
    if unknown:
        raise InvalidArgumentError(
            f"unknown theme parameter(s) {', '.join(unknown)}; valid: {', '.join(valid)}"
        )
    folder = store.path / THEMES_FOLDER
    with FileLock(str(store.path / _LOCK)):
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
        # Texts are read for the articles whose words give keywords (all, or a sample and a
        # few more); the representative passages' texts are looked up after the fit.
        model = ThemeModel(**settings, progress=progress).fit(
            vectors, doc_ids, _LazyTexts(docs), titles={i: docs[i].title for i in ids},
            published={i: docs[i].published for i in ids}, word_vectors=_word_vectors(store),
        )
        themes = model.themes_.with_passage_texts(lambda doc_id: _chunk_texts(store, doc_id))
        themes.generation = generation
        models = ("umap_model", "hdbscan_model")
        themes.params["given"] = {k: v for k, v in settings.items() if k not in models}
        if old is not None:
            themes = match_themes(themes, old)
        themes.save(folder)
        return themes


def _chunk_texts(store: ThemeSource, doc_id: str) -> Sequence[str]:
    try:
        return [c.text for c in store.chunks(doc_id)]
    except NotFoundError:  # deleted since the vectors were read
        return []


class _LazyTexts(Mapping[str, str]):
    """Article id -> its title and text, joined on access (a sampled fit reads only some)."""

    def __init__(self, docs: Mapping[str, Document]) -> None:
        self._docs = docs

    def __getitem__(self, doc_id: str) -> str:
        doc = self._docs[doc_id]
        return f"{doc.title}\n{doc.text}"

    def __iter__(self) -> Iterator[str]:
        return iter(self._docs)

    def __len__(self) -> int:
        return len(self._docs)


#: The last themes read by :func:`saved_themes` per folder, with the manifest's identity.
_LOADED: dict[str, tuple[tuple[int, int, int], Themes]] = {}


def saved_themes(store: ThemeSource) -> Themes | None:
    """The themes saved in a store, as they are (possibly fitted on an older generation:
    compare ``themes.generation`` with ``store.generation``), or ``None`` when there are none
    or they cannot be read. Never fits: loading imports neither UMAP nor HDBSCAN, so a service
    can answer from it at once. The themes read last are kept until the folder is rewritten
    (0.1 s saved per call at 100,000 articles); treat them as read-only.
    """
    folder = store.path / THEMES_FOLDER
    try:
        stat = (folder / THEMES_MANIFEST).stat()
    except OSError:
        return None
    key = (stat.st_ino, stat.st_mtime_ns, stat.st_size)
    cached = _LOADED.get(str(folder))
    if cached is not None and cached[0] == key:
        return cached[1]
    try:
        themes = Themes.load(folder)
    except (StoreFormatError, NotFoundError) as err:
        logger.warning("ignoring the saved themes: %s", err)
        return None
    _LOADED[str(folder)] = (key, themes)
    return themes


def theme_of(
    store: ThemeSource,
    text_or_doc_id: str | None = None,
    *,
    text: str | None = None,
    assign_outliers: bool | None = None,
    **params: Any,
) -> ThemePrediction:
    """The theme(s) of a stored article (its fitted membership) or of a new text (chunked,
    embedded and predicted in embedding space; ``novel`` when it is far from every theme).

    Prediction never refits saved themes, so it never pays for UMAP: with themes fitted before
    the store last changed, a stored article that the fit did not see (or whose text changed
    since) is predicted from its stored vectors by the fit's rule (``fitted=False``). Themes
    are fitted (:func:`store_themes`) only when the store has none yet, or when ``params``
    ask for other settings.

    Args:
        store: An open store.
        text_or_doc_id: A stored article id, or a text with white space in it (read as
            :meth:`Store.article_vectors <semclust.Store.article_vectors>` reads it: a string
            without white space that is not a stored id is a ``NotFoundError``, never scored
            as text).
        text: The text of an article, never looked up as an id.
        assign_outliers: For a predicted article: place it in the nearest theme even when far
            from all (default: as in the fit).
        **params: :class:`~semclust.themes.ThemeModel` parameters, for :func:`store_themes`.
    """
    if (text_or_doc_id is None) == (text is None):
        raise InvalidArgumentError("give one of an article id (or text) or text=")
    value = text_or_doc_id if text is None else text
    if not isinstance(value, str) or not value.strip():
        raise InvalidArgumentError("expected an article id or a non-empty text")
    themes = None if params else saved_themes(store)
    if themes is None:
        themes = store_themes(store, **params)
    if text is not None:
        vectors = store.article_vectors(text=text.strip())
        return themes.predict_article(vectors, assign_outliers=assign_outliers)
    if value in store:
        canonical = store.duplicate_of(value) or value
        if themes.generation == store.generation and themes.fitted(canonical):
            return replace(themes.theme_of(canonical), doc_id=value)
        vectors = store.article_vectors(canonical)
        return replace(themes.predict_article(vectors, assign_outliers=assign_outliers), doc_id=value)
    return themes.predict_article(store.article_vectors(value.strip()), assign_outliers=assign_outliers)
