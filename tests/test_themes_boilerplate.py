"""Boilerplate lines (signatures, bylines, footers repeated word for word across articles)
never name a theme; the articles and their themes are untouched (no model).
"""

from __future__ import annotations

import numpy as np

from semclust.themes import ThemeModel
from semclust.themes.boilerplate import drop_boilerplate

SIGNATURE = "Skepticism is the chastity of the intellect, and shameful to surrender it too soon."
CONTENT = ["rocket launch", "orbit satellite", "shuttle astronaut", "telescope mirror"]


def test_a_line_in_three_articles_is_dropped_and_one_in_two_is_kept() -> None:
    texts = [
        "Story one.\nBill Thompson is a regular commentator.\nThanks all",
        "Story two.\n  bill   THOMPSON is a regular commentator.  \nThanks all",
        "Story three.\nBill Thompson is a regular commentator.",
        "Story four.\nA line shared by two articles only.",
        "Story five.\nA line shared by two articles only.",
        "Bill Thompson is a regular commentator.",
    ]
    out = drop_boilerplate(texts)
    assert out[0] == "Story one.\nThanks all"  # case and spacing do not hide the byline
    assert out[1] == "Story two.\nThanks all"  # a line of two words is never boilerplate
    assert out[2] == "Story three."
    assert out[3:5] == texts[3:5]  # two articles sharing a line may be two versions of a story
    assert out[5] == texts[5]  # an article of only boilerplate keeps its words
    assert drop_boilerplate(texts, min_articles=2)[3] == "Story four."


def _signed_space_theme(seed: int = 0, n: int = 40, dim: int = 32):
    """Two blobs of ``n`` articles: space stories (one of four subjects each, most signed by
    one poster) and football stories."""
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(2, dim)) * 3.0
    X = np.vstack([c + 0.1 * rng.normal(size=(n, dim)) for c in centres])
    texts = [
        f"Message {i}: the {CONTENT[i % 4]} news today." + (f"\n-- \n{SIGNATURE}" if i % 8 else "")
        for i in range(n)
    ]
    texts += [f"Report {i}: the football match and the goal." for i in range(n)]
    return X, texts


def test_a_signature_repeated_across_a_themes_articles_does_not_name_it() -> None:
    X, texts = _signed_space_theme()
    model = ThemeModel(coords=False).fit(X, texts=texts)
    space = model.themes_[int(model.labels_[0])]
    words = {w for k in space.keywords for w in k.split()}
    assert not words & {"skepticism", "chastity", "intellect", "shameful", "surrender"}, space.keywords
    assert words & {"rocket", "orbit", "shuttle", "telescope", "satellite", "launch"}, space.keywords
    # what the name is counted on does not move any article
    plain = ThemeModel(coords=False).fit(X, texts=[t.split("\n")[0] for t in texts])
    assert np.array_equal(plain.labels_, model.labels_)
