"""Theme keywords: words a theme's articles use together come first; words frequent
everywhere weigh less (unit tests, no model).
"""

from __future__ import annotations

import numpy as np

from semclust.themes.labels import ArticleCounts, count_terms, ctfidf, term_articles
from semclust.themes.naming import rerank_keywords, together


def _rocket_theme() -> tuple[list[str], np.ndarray]:
    # Theme 0 (12 articles): "rocket", "launch" and "orbit" are found together (articles 0-5,
    # "rocket" also in 6-7); "lunch" is in more of them (5-11) than "launch" or "orbit", but
    # with those only once. Theme 1 is about football.
    texts = []
    for i in range(12):
        words = []
        if i < 8:
            words.append("rocket")
        if i < 6:
            words += ["launch", "orbit"]
        if i >= 5:
            words.append("lunch")
        texts.append(" ".join([*words, f"filler{chr(97 + i)}"]))
    texts += ["football goal match striker"] * 6
    return texts, np.array([0] * 12 + [1] * 6, dtype=np.int64)


def test_words_found_together_are_picked_before_a_word_used_apart() -> None:
    texts, labels = _rocket_theme()
    counts, vocab = count_terms(texts, ngram_range=(1, 1))
    terms = ctfidf(counts, vocab, labels)
    by_ctfidf = [w for w, _ in terms[0][:4]]
    assert by_ctfidf == ["rocket", "lunch", "launch", "orbit"]  # "lunch" is in more articles
    found = term_articles(counts, vocab, labels, {t: [w for w, _ in ws] for t, ws in terms.items()})
    assert isinstance(found[0], ArticleCounts) and found[0].articles == 12
    for words in (None, _flat_vectors):
        kept = rerank_keywords(terms, {0: np.ones(3), 1: np.ones(3)}, words, 4, articles=found)[0]
        assert kept == ["rocket", "launch", "orbit", "lunch"], kept  # the words used together first


def _flat_vectors(words: list[str]) -> np.ndarray:
    """Every word the same vector: meaning does not tell the candidates apart."""
    return np.ones((len(words), 3), dtype=np.float32)


def test_pair_coherence_over_the_themes_articles() -> None:
    # 10 articles: a and b always together (4), c never with a, d in every article
    counts = ArticleCounts(
        {"a": 4, "b": 4, "c": 5, "d": 10}, 10,
        np.array([[4, 4, 0, 4], [4, 4, 0, 4], [0, 0, 5, 5], [4, 4, 5, 10]]),
    )
    npmi = together(counts, ["a", "b", "c", "d"])
    assert np.allclose(npmi, npmi.T)
    assert npmi[0, 2] == -1.0  # never in the same article
    assert abs(npmi[0, 3]) < 1e-9  # "d" is everywhere: independent of "a"
    # a and b: NPMI 1 (always together), shrunk for a pair of only 4 articles
    assert 0.5 < npmi[0, 1] < 1.0
    rare = ArticleCounts({"a": 2, "b": 2}, 10, np.array([[2, 2], [2, 2]]))
    assert together(rare, ["a", "b"])[0, 1] < npmi[0, 1]  # the same NPMI on fewer articles weighs less


def test_a_word_frequent_everywhere_weighs_less_than_the_themes_own() -> None:
    # Theme 0 (10 articles): "think" in all of them and in 6 of the 20 others, "rocket" in
    # half of them and nowhere else. By plain frequency "think" would come first.
    texts = ["think " + ("rocket " if i >= 5 else "") + f"filler{chr(97 + i)}" for i in range(10)]
    texts += [("think " if i < 6 else "") + "football goal" for i in range(20)]
    labels = np.array([0] * 10 + [1] * 20, dtype=np.int64)
    counts, vocab = count_terms(texts, ngram_range=(1, 1))
    top = [w for w, _ in ctfidf(counts, vocab, labels)[0]]
    assert top[:2] == ["rocket", "think"], top


def test_candidates_tied_in_ctfidf_are_told_apart_by_meaning() -> None:
    # A two-article theme: every shared word is in both articles, so c-TF-IDF ties them all
    # (and sorts them alphabetically); meaning must pick the name, not the alphabet.
    from semclust.themes.naming import ranks

    assert ranks([3.0, 2.0, 2.0, 1.0]).tolist() == [1.0, 0.75, 0.75, 0.25]
    texts = ["china challenge security europe", "china challenge security europe"]
    counts, vocab = count_terms(texts, ngram_range=(1, 1))
    labels = np.zeros(2, dtype=np.int64)
    terms = ctfidf(counts, vocab, labels)
    assert [w for w, _ in terms[0]] == ["challenge", "china", "europe", "security"]  # all tied
    found = term_articles(counts, vocab, labels, {0: [w for w, _ in terms[0]]})
    space = {"challenge": [0, 0, 1], "china": [1, 0, 0], "europe": [0.6, 0.8, 0], "security": [0.8, 0.6, 0]}

    def vectors(words: list[str]) -> np.ndarray:
        return np.array([space[w] for w in words], dtype=np.float32)

    kept = rerank_keywords(terms, {0: np.array([1.0, 0.5, 0.0])}, vectors, 4, articles=found)[0]
    assert kept[0] == "security" and kept[-1] == "challenge", kept  # nearest the centre first, off-theme last


def test_a_theme_of_few_articles_is_named_by_meaning() -> None:
    # Three articles holding every word: co-occurrence cannot tell the pairs apart, so the
    # keywords are those of meaning alone (what they are without the pair counts).
    texts = ["china nato security russia chinese"] * 3 + ["football goal match striker"] * 6
    labels = np.array([0] * 3 + [1] * 6, dtype=np.int64)
    counts, vocab = count_terms(texts, ngram_range=(1, 1))
    terms = ctfidf(counts, vocab, labels)
    found = term_articles(counts, vocab, labels, {t: [w for w, _ in ws] for t, ws in terms.items()})
    space = {"china": [0.1, -0.1, 0.6], "chinese": [0.1, -0.5, 0.4], "nato": [1.3, 0.9, -0.7],
             "security": [-1.3, -0.6, 0.0], "russia": [-2.3, -0.2, -1.2], "football": [-0.7, -0.5, -0.3],
             "goal": [0.4, 1.0, -0.1], "match": [1.4, -0.7, 0.4], "striker": [0.9, 0.1, -0.7]}

    def vectors(words: list[str]) -> np.ndarray:
        return np.array([space[w] for w in words], dtype=np.float32)

    centres = {0: np.array([1.0, 0.5, 0.0]), 1: np.array([0.0, 0.0, 1.0])}
    plain = {t: dict(c) for t, c in found.items()}  # the counts without the pairs
    by_meaning = rerank_keywords(terms, centres, vectors, 3, articles=plain)[0]
    assert by_meaning == ["nato", "china", "chinese"]
    assert rerank_keywords(terms, centres, vectors, 3, articles=found)[0] == by_meaning
