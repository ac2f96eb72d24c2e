"""Theme labels: class-based TF-IDF keywords and short readable names.

Each theme is treated as one "class document" made of the texts of its articles. A term's
weight in a theme is the square root of its frequency there (the articles holding it,
normalised by the theme's length) times ``log(1 + A / f)``, where ``A`` is the average number
of words per class and ``f`` the term's frequency over all classes (outliers form a class of
their own, so words common everywhere score low). This is the c-TF-IDF of BERTopic with its
``reduce_frequent_words`` option (the square root), built on scikit-learn's ``CountVectorizer``
with 1-2 grams and English stop words (plus a few words every news story uses). Without the
square root, words a theme uses often but so does every other ("think", "use", "thanks")
led the keywords of broad themes.

Keywords are de-duplicated: a keyword is kept only if it adds a word not already in a better
keyword (``"china hungary"`` after ``"china"`` and ``"hungary"`` is dropped). A theme's name is
its first few keyword words, e.g. ``"china hungary security"``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = [
    "JUNK_WORDS",
    "NEWS_STOP_WORDS",
    "TOKEN_PATTERN",
    "ArticleCounts",
    "Passage",
    "Representatives",
    "class_tfidf",
    "count_terms",
    "ctfidf",
    "dedupe_keywords",
    "is_junk",
    "merge_keywords",
    "representatives",
    "same_word",
    "stop_word_list",
    "term_articles",
    "theme_name",
]

#: Words of reporting (and wire-service abbreviations such as Reuters' ``mln``, ``shr``, ``vs``)
#: that every news story uses; removed besides scikit-learn's English list.
NEWS_STOP_WORDS = frozenset(
    {
        "said", "says", "say", "told", "tells", "mr", "mrs", "ms", "also", "would", "could",
        "like", "just", "according", "reported", "reporting", "year", "years", "new", "week",
        "one", "two", "read", "image", "via", "reuter", "reuters", "dlrs", "pct", "cts", "mln",
        "vs", "shr", "shrs", "qtr", "mths", "revs", "dlr", "avg", "inc", "corp", "co", "ltd",
    }
)  # fmt: skip

#: Words of three or more letters (no digits, no underscores); a word may hold an apostrophe
#: (``don't``), so contractions never split into fragments such as ``don``.
TOKEN_PATTERN = r"(?u)\b[^\W\d_]{2,}(?:['\u2019][^\W\d_]+)*\b"

#: Never a keyword: contraction fragments, wire-service credits and dateline words, and the
#: leftovers of escaped markup (``&lt;b&gt;`` read as words).
JUNK_WORDS = frozenset(
    {
        "don", "doesn", "didn", "isn", "aren", "wasn", "weren", "hasn", "haven", "hadn", "won",
        "wouldn", "couldn", "shouldn", "mustn", "needn", "ain", "ll", "ve", "re",
        "ap", "afp", "upi", "reuters", "reuter", "ians", "pti", "xinhua", "dpa", "ansa", "efe",
        "tass", "bernama", "newswire", "prnewswire", "businesswire", "copyright",
        "lt", "gt", "amp", "quot", "apos", "nbsp", "href", "http", "https", "www", "com", "html",
    }
)  # fmt: skip


def is_junk(term: str) -> bool:
    """Whether a keyword is junk: a word of one or two letters, a bare number, a contraction
    (``don't``) or its fragment, a wire credit or a markup leftover (:data:`JUNK_WORDS`), a
    phrase made of one of those, or a phrase that repeats a word (``"net net"``, from "net ...
    vs net ..." once the stop words between are gone).
    """
    words = term.split()
    if len(set(words)) < len(words):
        return True
    for word in words:
        if len(word) <= 2 or word.isdigit() or "'" in word or "\u2019" in word or word in JUNK_WORDS:
            return True
    return False


def _plain(text: str) -> str:
    """Lower-case ``text`` with HTML entities decoded (so ``&amp;`` is never a word)."""
    import html

    return html.unescape(text).lower()


def stop_word_list(extra: Iterable[str] | None = None) -> list[str]:
    """scikit-learn's English stop words, the news words, and ``extra`` (sorted)."""
    from sklearn.feature_extraction.text import ENGLISH_STOP_WORDS  # type: ignore[import-untyped]

    return sorted(set(ENGLISH_STOP_WORDS) | NEWS_STOP_WORDS | JUNK_WORDS | set(extra or ()))


def count_terms(
    texts: Sequence[str],
    *,
    ngram_range: tuple[int, int] = (1, 2),
    stop_words: Iterable[str] | None = None,
    min_df: int | None = None,
) -> tuple[Any, np.ndarray]:
    """Term counts of ``texts`` (a sparse ``(n_texts, n_terms)`` matrix) and the terms.

    Words are those of :data:`TOKEN_PATTERN` (three letters or more, no digits), never stop words,
    contraction fragments or wire credits (:func:`is_junk`); ``min_df`` defaults to 2 (1 for
    fewer than 20 texts). No term at all gives an empty matrix.
    """
    from scipy import sparse  # type: ignore[import-untyped]
    from sklearn.feature_extraction.text import CountVectorizer

    if min_df is None:
        min_df = 2 if len(texts) >= 20 else 1
    stop = stop_word_list() if stop_words is None else sorted(set(stop_words) | JUNK_WORDS)
    for tries in (min_df, 1):
        vectorizer = CountVectorizer(
            ngram_range=ngram_range, stop_words=stop, token_pattern=TOKEN_PATTERN, min_df=tries,
            lowercase=True, preprocessor=_plain, binary=True,
        )
        try:
            counts = vectorizer.fit_transform(texts)
        except ValueError:  # no term left (empty texts or only stop words)
            continue
        vocab = vectorizer.get_feature_names_out()
        keep = np.array([not is_junk(t) for t in vocab], dtype=bool)
        return counts[:, np.flatnonzero(keep)].tocsr(), np.asarray(vocab[keep], dtype=object)
    return sparse.csr_matrix((len(texts), 0)), np.zeros(0, dtype=object)


def ctfidf(
    counts: Any, vocab: np.ndarray, classes: np.ndarray, top_n: int = 30
) -> dict[int, list[tuple[str, float]]]:
    """The ``top_n`` c-TF-IDF terms of each class ``>= 0`` from term ``counts`` (one row per
    text, as :func:`count_terms` gives) and each text's class (``-1`` takes part in the
    weighting but gets no terms).
    """
    from scipy import sparse

    labels = np.asarray(classes, dtype=np.int64)
    wanted = sorted(int(c) for c in np.unique(labels) if c >= 0)
    if not wanted or counts.shape[1] == 0:
        return {c: [] for c in wanted}
    uniq, inverse = np.unique(labels, return_inverse=True)
    indicator = sparse.csr_matrix(
        (np.ones(len(labels)), (inverse, np.arange(len(labels)))), shape=(len(uniq), len(labels))
    )
    per_class = np.asarray((indicator @ counts).todense(), dtype=np.float64)
    totals = per_class.sum(axis=1, keepdims=True)
    tf = per_class / np.maximum(totals, 1.0)
    idf = np.log1p(float(totals.mean()) / np.maximum(per_class.sum(axis=0), 1.0))
    scores = np.sqrt(tf) * idf  # sqrt: words frequent everywhere ("think", "use") weigh less
    out: dict[int, list[tuple[str, float]]] = {}
    for row, cls in enumerate(uniq.tolist()):
        if cls < 0:
            continue
        top = np.argsort(-scores[row], kind="stable")[:top_n]
        out[int(cls)] = [(str(vocab[j]), float(scores[row, j])) for j in top if scores[row, j] > 0]
    return out


class ArticleCounts(dict[str, int]):
    """How many of a theme's articles contain each of its terms (``{term: articles}``), and
    how many contain each pair of them.

    Attributes:
        articles: The theme's articles.
        together: ``together[i, j]``: articles holding both the ``i``-th and the ``j``-th term
            (in key order); the diagonal is the terms' own counts.
    """

    def __init__(self, counts: Mapping[str, int], articles: int, together: np.ndarray) -> None:
        super().__init__(counts)
        self.articles = articles
        self.together = together


def term_articles(
    counts: Any, vocab: np.ndarray, classes: np.ndarray, terms: Mapping[int, Sequence[str]]
) -> dict[int, ArticleCounts]:
    """For each class, how many of its texts contain each of its ``terms`` and each pair of
    them (``counts`` are binary, as :func:`count_terms` gives): whether a keyword is shared by
    a theme's articles or is the word of one of them, and which keywords go together.
    """
    labels = np.asarray(classes, dtype=np.int64)
    column = {str(w): j for j, w in enumerate(vocab.tolist())}
    out: dict[int, ArticleCounts] = {}
    for cls, words in terms.items():
        rows = np.flatnonzero(labels == cls)
        cols = list(dict.fromkeys(column[w] for w in words if w in column))
        if not len(rows) or not cols:
            out[cls] = ArticleCounts({}, len(rows), np.zeros((0, 0), dtype=np.int64))
            continue
        found = (counts[rows][:, cols] > 0).astype(np.int64)
        together = np.asarray((found.T @ found).todense(), dtype=np.int64)
        df = np.diag(together)
        out[cls] = ArticleCounts(
            {str(vocab[j]): int(f) for j, f in zip(cols, df.tolist(), strict=True)}, len(rows), together
        )
    return out


def class_tfidf(
    texts: Sequence[str],
    classes: Sequence[int] | np.ndarray,
    *,
    ngram_range: tuple[int, int] = (1, 2),
    stop_words: Iterable[str] | None = None,
    min_df: int | None = None,
    top_n: int = 30,
) -> dict[int, list[tuple[str, float]]]:
    """The ``top_n`` keywords of each class by c-TF-IDF, best first, with their weights.

    Args:
        texts: One text per document.
        classes: The class (theme id) of each document; ``-1`` (outliers) takes part in the
            weighting but gets no keywords.
        ngram_range: Word n-gram lengths.
        stop_words: Words to drop; default :func:`stop_word_list`.
        min_df: Ignore terms in fewer documents (default 2, or 1 for fewer than 20 documents).
        top_n: Keywords kept per class (before de-duplication).

    Returns:
        ``{class: [(keyword, weight), ...]}`` for every class ``>= 0``.
    """
    labels = np.asarray(classes, dtype=np.int64)
    if len(labels) != len(texts):
        raise ValueError(f"got {len(texts)} texts but {len(labels)} classes")
    if not (labels >= 0).any():
        return {}
    counts, vocab = count_terms(texts, ngram_range=ngram_range, stop_words=stop_words, min_df=min_df)
    return ctfidf(counts, vocab, labels, top_n=top_n)


def _stem(word: str) -> str:
    return word[:-1] if len(word) > 3 and word.endswith("s") else word


def dedupe_keywords(keywords: Sequence[str]) -> list[str]:
    """Keep each keyword only if it adds a word (plural-insensitive) not in a better one."""
    seen: set[str] = set()
    kept: list[str] = []
    for kw in keywords:
        stems = {_stem(w) for w in kw.split()}
        if stems <= seen:
            continue
        kept.append(kw)
        seen |= stems
    return kept


def same_word(a: str, b: str) -> bool:
    """Whether two words are forms of one for a name: the same but for a plural ``s``, or
    sharing a beginning of five letters or more that leaves at most three letters of the
    shorter one (``israel`` / ``israeli``, ``japan`` / ``japanese``, ``deleted`` /
    ``deletion``, ``economy`` / ``economic``).
    """
    if _stem(a) == _stem(b):
        return True
    shared = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return shared >= 5 and shared >= min(len(a), len(b)) - 3


def theme_name(keywords: Sequence[str], n_words: int = 3, more: Sequence[str] = ()) -> str:
    """A short name from the best keywords: their first ``n_words`` words, each a different
    word (:func:`same_word`: "israeli arab peace", not "israeli israel arab").

    A name is two words at least where there are two: when the keywords are all forms of one
    word ("deletion", "deleted"), the next of ``more`` (the theme's further candidate terms, best
    first) completes it.

    >>> theme_name(["china", "hungary", "china hungary", "security"])
    'china hungary security'
    >>> theme_name(["deletion", "deleted"], more=["deletion", "files", "disk"])
    'deletion files disk'
    """
    name = _name_words(keywords, n_words)
    if len(name) < 2 and more:
        name = _name_words([*keywords, *more], n_words)
    return " ".join(name)


def _name_words(keywords: Sequence[str], n_words: int) -> list[str]:
    words: list[str] = []
    for kw in keywords:
        new: list[str] = []
        for w in kw.split():  # a word once, even within one keyword
            if not any(same_word(w, x) for x in (*words, *new)):
                new.append(w)
        if not new:
            continue
        if words and len(words) + len(new) > n_words:
            continue
        words.extend(new)
        if len(words) >= n_words:
            break
    return words


def merge_keywords(
    parts: Sequence[Sequence[tuple[str, float]]], sizes: Sequence[int], top_n: int = 30
) -> list[tuple[str, float]]:
    """Keywords of a merged theme: the parts' keyword weights averaged by theme size."""
    total = float(sum(sizes)) or 1.0
    merged: dict[str, float] = {}
    for kws, size in zip(parts, sizes):
        for word, weight in kws:
            merged[word] = merged.get(word, 0.0) + weight * size / total
    return sorted(merged.items(), key=lambda kv: (-kv[1], kv[0]))[:top_n]


@dataclass(frozen=True)
class Passage:
    """A passage of an article close to a theme's centre.

    Attributes:
        doc_id: The article's id.
        index: The chunk's position in the article.
        similarity: Cosine similarity of the chunk to the theme's centre.
        text: The passage (empty when the texts were not given to the fit).
    """

    doc_id: str
    index: int
    similarity: float
    text: str = ""

    def to_dict(self) -> dict[str, Any]:
        """The passage as a JSON-serialisable dict."""
        return asdict(self)


@dataclass
class Representatives:
    """The articles and passages nearest each theme's centre (best first)."""

    articles: dict[int, list[str]] = field(default_factory=dict)
    passages: dict[int, list[Passage]] = field(default_factory=dict)


def representatives(
    vectors: np.ndarray,
    row_article: np.ndarray,
    article_vectors: np.ndarray,
    main: np.ndarray,
    centroids: np.ndarray,
    article_ids: Sequence[str],
    passages: Sequence[str] | None = None,
    n: int = 3,
) -> Representatives:
    """The ``n`` articles (by article vector) and passages (by chunk vector, at most one per
    article) of each theme nearest its centre; ``main`` is each article's theme (``-1``: none).
    """
    order = np.argsort(row_article, kind="stable")
    first = np.searchsorted(row_article[order], row_article[order], side="left")
    chunk_index = np.empty(len(row_article), dtype=np.int64)
    chunk_index[order] = np.arange(len(order)) - first
    out = Representatives()
    row_theme = main[row_article]
    for t, centre in enumerate(centroids):
        members = np.flatnonzero(main == t)
        sims = article_vectors[members] @ centre
        out.articles[t] = [article_ids[i] for i in members[np.argsort(-sims, kind="stable")[:n]]]
        rows = np.flatnonzero(row_theme == t)
        row_sims = vectors[rows] @ centre
        picked: list[Passage] = []
        seen: set[int] = set()
        for j in np.argsort(-row_sims, kind="stable").tolist():
            r = int(rows[j])
            art = int(row_article[r])
            if art in seen:
                continue
            seen.add(art)
            text = passages[r] if passages is not None else ""
            picked.append(Passage(article_ids[art], int(chunk_index[r]), round(float(row_sims[j]), 6), text))
            if len(picked) == n:
                break
        out.passages[t] = picked
    return out


@dataclass(frozen=True)
class Theme:
    """One theme.

    Attributes:
        id: Stable id (kept across refits of a store when the theme persists).
        name: A short name from the keywords, e.g. ``"china hungary security"``.
        keywords: The best c-TF-IDF keywords (1-2 grams), de-duplicated, best first.
        size: Articles whose main theme this is.
        share: ``size`` over all articles.
        representatives: Ids of the articles nearest the theme's centre.
        passages: The passages nearest the theme's centre (one per article).
        terms: Up to 30 ``(keyword, c-TF-IDF weight)`` pairs, before de-duplication.
    """

    id: int
    name: str
    keywords: list[str]
    size: int
    share: float
    representatives: list[str] = field(default_factory=list)
    passages: list[Passage] = field(default_factory=list)
    terms: list[tuple[str, float]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        """The theme as a JSON-serialisable dict."""
        out = asdict(self)
        out["terms"] = [[w, s] for w, s in self.terms]
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Theme:
        """Rebuild a theme from :meth:`to_dict` output."""
        return cls(
            id=int(d["id"]), name=str(d["name"]), keywords=list(d["keywords"]), size=int(d["size"]),
            share=float(d["share"]), representatives=list(d["representatives"]),
            passages=[Passage(**p) for p in d["passages"]],
            terms=[(str(w), float(s)) for w, s in d["terms"]],
        )


def make_theme(tid: int, terms: list[tuple[str, float]], size: int, n_articles: int, n_keywords: int,
               reps: list[str], passages: list[Passage], *, keywords: Sequence[str] | None = None) -> Theme:
    """A :class:`Theme` with keywords (``keywords``, or the best c-TF-IDF ``terms``) and a name
    of their first two to four words.
    """
    if keywords is None:
        keywords = dedupe_keywords([w for w, _ in terms])
    kept = list(keywords)[:n_keywords]
    return Theme(
        id=tid, name=theme_name(kept, more=[w for w, _ in terms]) or f"theme {tid}", keywords=kept, size=size,
        share=round(size / max(n_articles, 1), 6), representatives=reps, passages=passages,
        terms=[(w, round(s, 6)) for w, s in terms],
    )
