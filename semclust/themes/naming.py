"""Theme keywords re-ranked by meaning, with diversity: names a reader recognises.

c-TF-IDF (:mod:`semclust.themes.labels`) proposes each theme's candidate words: frequent in the
theme, rare elsewhere. Some are frequent only by accident (a name, a sign-off, a boilerplate
line). As BERTopic's ``KeyBERTInspired`` representation does, the candidates are embedded with
the same model as the articles and ranked by cosine similarity to the theme's centre, so the
words kept are the ones that *mean* what the theme's articles mean; maximal marginal relevance
(MMR) then picks them one by one, each time trading that similarity against the similarity to
the words already picked, so a name does not say one idea three times.

Where the theme's articles are counted (which candidates each article holds), the keywords are
picked one by one by a wider MMR: the first is the candidate that is both high in c-TF-IDF
and near the centre, and each next one also weighs how often it is found *together* with the
words already picked in the theme's articles (their NPMI over the theme's articles), minus
its closeness in meaning to them. Words a theme's articles use together name one thing; a
word that is frequent in the theme but used apart from the others ("thanks", "today") is left
for later. Measured on BBC, Reuters R8 and 20 Newsgroups (top-10 NPMI coherence of the default
themes, as ``benchmarks/bench_themes.py`` counts it): 0.155 / 0.181 / 0.084, where meaning
alone chose the three leading words and c-TF-IDF the rest (:data:`BY_MEANING`, still the rule
when the articles are not counted): 0.119 / 0.128 / 0.042.

The word embedder is a plain callable (texts -> unit vectors), given to
:meth:`ThemeModel.fit <semclust.themes.model.ThemeModel.fit>` by whoever owns the model (the
store passes its embedder's ``embed``); without one, c-TF-IDF rank alone says how well a
candidate marks the theme.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

import numpy as np

from semclust.themes.assign import unit_rows
from semclust.themes.labels import ArticleCounts, dedupe_keywords

__all__ = ["WordVectors", "mmr", "pick_coherent", "ranks", "rerank_keywords", "shared", "together"]

#: Texts -> ``(len(texts), dim)`` vectors in the articles' embedding space.
WordVectors = Callable[[Sequence[str]], np.ndarray]

#: Weight of relevance against redundancy in MMR (1: relevance only).
MMR_RELEVANCE = 0.7
#: c-TF-IDF candidates re-ranked per theme.
CANDIDATES = 20
#: Without counted articles: keywords picked by meaning (MMR) to lead the list, and so to make
#: the name; the rest follow in c-TF-IDF order. Meaning chooses the words a reader sees first;
#: letting it choose all ten brought weaker words in (top-10 NPMI coherence 0.079 instead of
#: 0.128 on Reuters R8, 0.002 instead of 0.042 on 20 Newsgroups, 0.116 instead of 0.119 on
#: BBC; the names were the same).
BY_MEANING = 3
#: A keyword must be found in this many of its theme's articles (while enough are).
MIN_ARTICLES = 2
#: Weight of being found with the words already picked (their NPMI in the theme's articles)
#: against how well a candidate marks the theme, when the articles are counted.
COHERENCE = 0.7
#: Share of meaning (similarity to the centre) against c-TF-IDF rank in how well a candidate
#: marks the theme.
MEANING = 0.5
#: Weight of the closeness in meaning to a word already picked (the MMR penalty).
REDUNDANCY = 0.1
#: Themes of fewer articles are named by meaning alone (:data:`BY_MEANING`): over two or three
#: articles every pair of shared words is found together in all of them, so co-occurrence says
#: nothing (the two seed articles came out "nato chinese russia" instead of "nato china
#: security").
COHERENT_FROM = 5
#: A pair's NPMI counts ``n / (n + SUPPORT)`` of itself when the pair shares ``n`` articles:
#: two words of one quoted line, in the same two articles, are not yet a theme's vocabulary.
SUPPORT = 3.0


def mmr(relevance: np.ndarray, similarity: np.ndarray, n: int, weight: float = MMR_RELEVANCE) -> list[int]:
    """Indices of ``n`` items picked by maximal marginal relevance.

    Each step takes the item maximising ``weight * relevance - (1 - weight) * (its highest
    similarity to an item already taken)``; the first is the most relevant.
    """
    left = list(range(len(relevance)))
    picked: list[int] = []
    while left and len(picked) < n:
        redundancy = similarity[np.ix_(left, picked)].max(axis=1) if picked else np.zeros(len(left))
        score = weight * relevance[left] - (1.0 - weight) * redundancy
        best = left[int(np.argmax(score))]
        picked.append(best)
        left.remove(best)
    return picked


def together(articles: ArticleCounts, pool: Sequence[str]) -> np.ndarray:
    """NPMI of each pair of ``pool`` words over a theme's articles (``-1``: never in the same
    article, ``0``: independent, ``1``: always together); a positive one is shrunk by how few
    articles hold the pair (:data:`SUPPORT`).
    """
    index = {w: i for i, w in enumerate(articles)}
    at = [index[w] for w in pool]
    both = articles.together[np.ix_(at, at)].astype(np.float64)
    n = float(max(articles.articles, 1))
    alone = np.diag(both)
    with np.errstate(divide="ignore", invalid="ignore"):
        pmi = np.log(both * n / np.outer(alone, alone))
        out = pmi / -np.log(both / n)
    out[both >= n] = 1.0
    out[both == 0] = -1.0
    out = np.nan_to_num(out, nan=0.0, posinf=1.0, neginf=-1.0)
    return np.where(out > 0, out * both / (both + SUPPORT), out)


def pick_coherent(
    mark: np.ndarray, with_picked: np.ndarray, similarity: np.ndarray, n: int,
    *, coherence: float = COHERENCE, redundancy: float = REDUNDANCY,
) -> list[int]:
    """Indices of ``n`` items picked one by one: first the best ``mark`` (how well an item
    marks the theme), then each step the item maximising ``(1 - coherence) * mark + coherence
    * (mean with_picked to the items taken) - redundancy * (highest similarity to one taken)``.
    """
    left = list(range(len(mark)))
    picked: list[int] = []
    while left and len(picked) < n:
        if picked:
            score = (
                (1.0 - coherence) * mark[left] + coherence * with_picked[np.ix_(left, picked)].mean(axis=1)
                - redundancy * similarity[np.ix_(left, picked)].max(axis=1)
            )
        else:
            score = mark[left]
        best = left[int(np.argmax(score))]
        picked.append(best)
        left.remove(best)
    return picked


def ranks(weights: Sequence[float]) -> np.ndarray:
    """``1 - position / len(weights)`` of each of ``weights`` (best first), equal weights
    sharing the better position: how well c-TF-IDF ranks each candidate, in ``(0, 1]``.
    """
    w = np.asarray(weights, dtype=np.float64)
    first = np.array([int(np.flatnonzero(w == x)[0]) for x in w.tolist()], dtype=np.float64)
    return 1.0 - first / max(len(w), 1)


def shared(pool: list[str], articles: Mapping[str, int] | None) -> list[str]:
    """``pool`` without the words found in fewer than :data:`MIN_ARTICLES` of the theme's
    articles, unless fewer than two words would be left.
    """
    if not articles:
        return pool
    kept = [w for w in pool if articles.get(w, 0) >= MIN_ARTICLES]
    return kept if len(kept) >= 2 else pool


def rerank_keywords(
    terms: Mapping[int, Sequence[tuple[str, float]]],
    centres: Mapping[int, np.ndarray],
    word_vectors: WordVectors | None,
    n_keywords: int,
    *,
    candidates: int = CANDIDATES,
    articles: Mapping[int, Mapping[str, int]] | None = None,
) -> dict[int, list[str]]:
    """Each theme's keywords, best first.

    Where ``articles`` counts the pairs too (:class:`~semclust.themes.labels.ArticleCounts`)
    over at least :data:`COHERENT_FROM` articles, they are picked by :func:`pick_coherent`:
    how well a candidate marks the theme (its c-TF-IDF rank, mixed by :data:`MEANING` with its
    similarity to the theme's centre), how often it is found with the words already picked,
    and how close in meaning it is to them.
    Otherwise :data:`BY_MEANING` are picked by meaning and diversity (MMR over the candidates'
    similarity to the theme's centre), then the other candidates follow in c-TF-IDF order.

    Args:
        terms: A theme's c-TF-IDF ``(term, weight)`` candidates, best first.
        centres: A theme's centre in the embedding space (unit vector).
        word_vectors: Embeds terms; ``None``: by c-TF-IDF rank (and articles) only.
        n_keywords: Keywords per theme.
        candidates: c-TF-IDF candidates considered per theme.
        articles: How many of a theme's articles contain each candidate
            (:func:`~semclust.themes.labels.term_articles`); a candidate found in only one
            of them is dropped while others are left (a theme is named for what its
            articles share, not for a phrase of one of them).
    """
    found = articles or {}
    pools = {
        t: shared(dedupe_keywords([w for w, _ in ws]), found.get(t))[:candidates] for t, ws in terms.items()
    }
    vocab = sorted({w for pool in pools.values() for w in pool})
    vectors = unit_rows(word_vectors(vocab)) if word_vectors is not None and vocab else None
    row = {w: i for i, w in enumerate(vocab)}
    out: dict[int, list[str]] = {}
    for t, pool in pools.items():
        counted = found.get(t)
        rank = ranks([dict(terms[t]).get(w, 0.0) for w in pool])
        mark, similarity = rank, np.zeros((len(pool), len(pool)))
        relevance = None
        if vectors is not None and pool:
            vec = vectors[[row[w] for w in pool]]
            relevance, similarity = vec @ unit_rows(centres[t])[0], vec @ vec.T
            mark = (1.0 - MEANING) * rank + MEANING * relevance
        if isinstance(counted, ArticleCounts) and counted.articles >= COHERENT_FROM and pool:
            pairs = together(counted, pool)
            picked = pick_coherent(
                mark, pairs, similarity, n_keywords, coherence=COHERENCE, redundancy=REDUNDANCY
            )
            out[t] = [pool[i] for i in picked]
        elif relevance is not None:
            lead = [pool[i] for i in mmr(relevance, similarity, min(n_keywords, BY_MEANING, len(pool)))]
            out[t] = (lead + [w for w in pool if w not in lead])[:n_keywords]
        else:
            out[t] = pool[:n_keywords]
    return out
