from conftest import SEEDS

from semclust.ingest.cleaning import FURNITURE_PATTERNS, clean_text
from semclust.ingest.readers import read


def test_drops_furniture_lines() -> None:
    text = "Loading... Loading...\n\nReal news here.\nSee Also: Other story\nRead Next: More\nImage Via Shutterstock\nYou might also like\nComments are closed.\nEnd."
    assert clean_text(text) == "Real news here.\nEnd."


def test_keeps_sentences_that_merely_mention_words() -> None:
    text = "He said loading the truck took hours.\nSee also the annex, which lists the sources."
    assert clean_text(text) == text


def test_switchable() -> None:
    text = "Loading...\nBody."
    assert clean_text(text, patterns=[]) == text
    assert clean_text(text, patterns=[r"body\."]) == "Loading..."
    assert "loading" in FURNITURE_PATTERNS[0]


def test_seed_articles_are_clean() -> None:
    docs = {d.id: d for d in read(SEEDS)}
    assert set(docs) == {"china-hungary-security", "nato-china-watching-ukraine"}
    joined = "\n".join(d.text for d in docs.values())
    for furniture in (
        "Loading...",
        "See Also:",
        "Read Next:",
        "Image Via",
        "You might also like",
        "Comments are closed",
        "Getty Images",
    ):
        assert furniture not in joined
    assert "Wang Xiaohong" in docs["china-hungary-security"].text
    assert (
        docs["nato-china-watching-ukraine"].title
        == "Beijing is carefully watching Russia’s success in Ukraine"
    )
    raw = {d.id: d for d in read(SEEDS, clean=False)}
    assert "Loading..." in raw["china-hungary-security"].text
