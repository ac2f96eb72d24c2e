"""Measures of theme quality for ``bench_themes.py``: label coherence (NPMI), topic diversity,
the k-means oracle and the tree's cut against coarse labels.
"""

from __future__ import annotations

import itertools
import re
from collections.abc import Sequence
from typing import Any

import numpy as np

from semclust.themes.labels import TOKEN_PATTERN


def tokens(text: str) -> list[str]:
    """The words of ``text`` as the theme labels count them (lower case)."""
    return [t.lower() for t in re.findall(TOKEN_PATTERN, text)]


def topic_words(words: Sequence[str], n: int) -> list[str]:
    """The first ``n`` distinct words of a theme's keywords (phrases split into words)."""
    out: list[str] = []
    for kw in words:
        for w in kw.split():
            if w not in out:
                out.append(w)
    return out[:n]


def npmi(topics: list[list[str]], docs: list[list[str]], topn: int = 10) -> float | None:
    """Mean NPMI coherence of the topics' top ``topn`` words on the tokenised ``docs``
    (gensim's ``CoherenceModel(coherence="c_npmi")``); ``None`` without gensim.
    """
    try:
        from gensim.corpora import Dictionary
        from gensim.models.coherencemodel import CoherenceModel
    except ImportError:
        return None
    dictionary = Dictionary(docs)
    known = [[w for w in t if w in dictionary.token2id][:topn] for t in topics]
    known = [t for t in known if len(t) >= 2]
    if not known:
        return None
    model = CoherenceModel(
        topics=known, texts=docs, dictionary=dictionary, coherence="c_npmi", topn=topn, processes=1
    )
    return round(float(model.get_coherence()), 4)


def diversity(topics: list[list[str]], topn: int = 25) -> float:
    """Share of unique words among all topics' top ``topn`` words (1: no word repeats)."""
    words = [w for t in topics for w in t[:topn]]
    return round(len(set(words)) / max(len(words), 1), 4)


def kmeans_labels(vectors: np.ndarray, k: int, seed: int = 0) -> np.ndarray:
    """The oracle's clustering: k-means told ``k`` (10 restarts, seeded)."""
    from sklearn.cluster import KMeans

    return np.asarray(KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(vectors))


def kmeans_stability(vectors: np.ndarray, k: int, seeds: int) -> float:
    """Mean pairwise ARI of the oracle's clusterings with ``seeds`` seeds: how stable a
    partition of these vectors into ``k`` groups is at all, the reference for the themes'
    own seed stability."""
    from sklearn.metrics import adjusted_rand_score

    runs = [kmeans_labels(vectors, k, seed) for seed in range(seeds)]
    return float(np.mean([adjusted_rand_score(a, b) for a, b in itertools.combinations(runs, 2)]))


def kmeans_oracle(vectors: np.ndarray, truth: list[str], k: int) -> dict[str, float]:
    """k-means told ``k`` on the article vectors: V-measure and ARI against ``truth``."""
    from sklearn.metrics import adjusted_rand_score, v_measure_score

    labels = kmeans_labels(vectors, k)
    return {
        "k": k,
        "v_measure": round(float(v_measure_score(truth, labels)), 4),
        "ari": round(float(adjusted_rand_score(truth, labels)), 4),
    }


def largest_share(labels: np.ndarray) -> float:
    """The largest theme's share of all articles."""
    found = labels[labels >= 0]
    return round(float(np.bincount(found).max() / len(labels)), 4) if len(found) else 0.0


def label_quality(themes: Any, docs: list[list[str]]) -> dict[str, Any]:
    """NPMI (top 10) and diversity (top 25) of fitted semclust themes, plus any junk name word."""
    from semclust.themes.labels import is_junk

    top10 = [topic_words(t.keywords, 10) for t in themes]
    top25 = [topic_words([*t.keywords, *(w for w, _ in t.terms)], 25) for t in themes]
    junk = sorted({w for t in themes for w in t.name.split() if is_junk(w)})
    return {"npmi": npmi(top10, docs), "diversity": diversity(top25), "junk_in_names": junk}
