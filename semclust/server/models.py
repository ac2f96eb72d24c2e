"""The HTTP API's request and response models (they document the API in ``/docs``).

The response models describe exactly what the routes send: a hit is
:meth:`semclust.Hit.to_dict` (the same shape as ``semclust search --json``), and the tests
validate real replies of every route against the app's OpenAPI schemas. The output models
forbid extra fields, so a field added to a reply but not to its model fails those tests.

The id rule (:func:`id_problem`) is the same for reads (path parameters) and writes (the ``id``
of ``POST /documents``): an id that can be written can always be read back.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, field_validator

from semclust.ingest.fields import id_problem as ingest_id_problem
from semclust.ingest.limits import MAX_ID_CHARS

__all__ = [
    "MAX_ID_CHARS",
    "MAX_PUBLISHED_CHARS",
    "MAX_SOURCE_CHARS",
    "MAX_URL_CHARS",
    "ArticleIn",
    "DocumentOut",
    "ErrorOut",
    "HealthOut",
    "HitOut",
    "HitsOut",
    "PassageOut",
    "ThemeDetailOut",
    "ThemeOut",
    "ThemeRefOut",
    "ThemesOut",
    "WriteOut",
    "id_problem",
]

#: Longest ``url`` of a posted article.
MAX_URL_CHARS = 4096
#: Longest ``published`` (and ``since``/``until``) value.
MAX_PUBLISHED_CHARS = 40
#: Longest ``source`` of a posted article (and of the ``source`` filter).
MAX_SOURCE_CHARS = 512

def id_problem(doc_id: str) -> str | None:
    """What is wrong with ``doc_id`` as an article id, or ``None`` when it is a valid one: the
    readers' rule (:func:`semclust.ingest.fields.id_problem`: 1 to :data:`MAX_ID_CHARS` visible
    characters, no control characters or lone surrogates, not ``.``/``..``), and no leading or
    trailing white space (readers strip it, so such an id could never be looked up).
    """
    if doc_id != doc_id.strip():
        return "an id may not start or end with whitespace"
    return ingest_id_problem(doc_id)


class _Out(BaseModel):
    """Response models: exactly these fields (``additionalProperties: false`` in the schema)."""

    model_config = ConfigDict(extra="forbid")


class HitOut(_Out):
    """One related or matching article: :meth:`semclust.Hit.to_dict`."""

    doc_id: str = Field(description="the article's id")
    title: str
    score: float = Field(description="cosine similarity, higher is closer")
    passage: str = Field(description="the best-matching chunk of the article")
    start: int = Field(description="character offset of the passage in the article text")
    end: int = Field(description="character offset one past the passage's end")
    url: str | None = None
    source: str | None = None
    published: str | None = None
    metadata: dict[str, Any] = Field(
        description="the article's other fields (a source `path` only when relative)"
    )


class HitsOut(_Out):
    """A ranked list of articles."""

    id: str | None = Field(None, description="the article asked about (`/related`)")
    query: str | None = Field(None, description="the query text (`/search`)")
    k: int
    generation: int = Field(description="the store generation the results were computed at")
    results: list[HitOut]


class DocumentOut(_Out):
    """A stored article."""

    id: str
    title: str
    text: str
    url: str | None = None
    published: str | None = None
    source: str | None = None
    metadata: dict[str, Any] = Field(
        description="the article's other fields (a source `path` only when relative)"
    )


class WriteOut(_Out):
    """What a ``POST`` or ``DELETE`` changed (:meth:`semclust.AddReport.to_dict`)."""

    added: list[str]
    updated: list[str]
    unchanged: list[str]
    duplicates: dict[str, str] = Field(description="id: id of the article with the same text")
    deleted: list[str]
    chunks: int
    embedded: int
    skipped: list[str]
    replaced_in_batch: list[str] = Field(
        description="ids given more than once in the batch (the last record kept)"
    )
    seconds: float
    timings: dict[str, float]
    generation: int = Field(description="the store generation after the write")


class PassageOut(_Out):
    """A passage of an article close to a theme's centre."""

    doc_id: str
    index: int = Field(description="the chunk's position in the article")
    similarity: float = Field(description="cosine similarity of the chunk to the theme's centre")
    text: str = Field(description="the passage (empty when the texts were not kept)")


class ThemeOut(_Out):
    """One theme and its place in the theme tree."""

    id: int = Field(description="stable across refits at every level; unique across the levels")
    name: str
    keywords: list[str]
    size: int = Field(description="articles whose main theme this is")
    share: float = Field(description="size over all articles")
    representatives: list[str] = Field(description="ids of the articles nearest the theme's centre")
    passages: list[PassageOut]
    terms: list[tuple[str, float]] = Field(description="[keyword, c-TF-IDF weight] pairs")
    parent_id: int | None = Field(description="the broader theme containing this one (null at the top)")
    level: str = Field(description="the theme's level: broad, themes (the default level) or fine")
    children: list[int] = Field(description="ids of the themes one level finer inside it, largest first")


class ThemeRefOut(_Out):
    """A theme named from another one (its parent or a child)."""

    id: int
    name: str
    size: int
    level: str


class ThemeDetailOut(ThemeOut):
    """One theme of any level, with its parent and children, and how current the themes are."""

    parent: ThemeRefOut | None = Field(description="the broader theme (null at the top)")
    child_themes: list[ThemeRefOut] = Field(description="the themes one level finer, largest first")
    generation: int | None = Field(description="the corpus generation the themes were fitted on")
    store_generation: int = Field(description="the store's generation now")
    stale: bool = Field(description="the store changed since the themes were fitted")


class ThemesOut(_Out):
    """The store's saved themes at one level of their tree, and how current they are."""

    generation: int | None = Field(description="the corpus generation the themes were fitted on")
    store_generation: int = Field(description="the store's generation now")
    stale: bool = Field(description="the store changed since the themes were fitted")
    level: str = Field(description="the level of these themes: broad, themes (the default) or fine")
    default_level: str = Field(description="the level the themes were saved at (`?level=default`)")
    levels: dict[str, int] = Field(description="{level: number of themes}, broadest first")
    n_articles: int
    n_themes: int
    n_outliers: int = Field(description="articles with no theme")
    outlier_share: float
    themes: list[ThemeOut] = Field(description="largest first")
    id_map: dict[str, int | None] = Field(
        description="{old theme id: new id, or null for a theme that is gone} against the previous fit"
    )
    params: dict[str, Any] = Field(description="the fit's parameters")


class HealthOut(_Out):
    """Liveness and what is being served."""

    status: str
    articles: int
    generation: int
    model: str
    writes: bool = Field(description="whether POST and DELETE are enabled (an API key is set)")
    version: str


class ValidationProblem(_Out):
    """One invalid parameter of a 422."""

    location: str
    message: str


class ErrorOut(_Out):
    """An error: a short code and a message saying what was wrong."""

    error: str
    detail: str
    errors: list[ValidationProblem] | None = Field(None, description="each invalid parameter (422)")
    request_id: str | None = Field(None, description="the id to look for in the server log (500)")


class ArticleIn(BaseModel):
    """An article to add; fields other than these are kept as metadata."""

    model_config = ConfigDict(extra="allow")

    id: str = Field(min_length=1, max_length=MAX_ID_CHARS)
    text: str = Field(min_length=1)
    title: str = ""
    url: str | None = Field(None, max_length=MAX_URL_CHARS)
    published: str | None = Field(
        None, max_length=MAX_PUBLISHED_CHARS, description="ISO date such as 2024-02-17"
    )
    source: str | None = Field(None, max_length=MAX_SOURCE_CHARS)

    @field_validator("id")
    @classmethod
    def _valid_id(cls, value: str) -> str:
        problem = id_problem(value)
        if problem is not None:
            raise ValueError(problem)
        return value
