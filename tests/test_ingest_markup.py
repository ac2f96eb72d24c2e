"""Escaped markup in text fields (RSS and wire feeds) is decoded at ingest, and chunk and hit
offsets index the stored, decoded text."""

import json
from pathlib import Path

import pytest

import semclust
from semclust.ingest.cleaning import decode_markup

# The first article of a 4-topic news corpus, as its feed ships it.
WIRE = (
    "&lt;b&gt;Wall St.&lt;/b&gt; Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, "
    "Wall Street#39;s dwindling band of ultra-cynics, are seeing green again. AT&amp;amp;T said "
    "&quot;no comment&quot;, and it&#39;s the third time this week.\n"
    "&lt;p&gt;Oil prices rose again on Friday.&lt;/p&gt;&lt;br/&gt;Traders blamed the weather."
)
DECODED = (
    "Wall St. Bears Claw Back Into the Black (Reuters) Reuters - Short-sellers, "
    "Wall Street's dwindling band of ultra-cynics, are seeing green again. AT&T said "
    '"no comment", and it\'s the third time this week.\n\n'  # <p> and <br> are paragraph breaks
    "Oil prices rose again on Friday.\n\nTraders blamed the weather."
)


@pytest.mark.parametrize(
    ("raw", "clean"),
    [
        ("&lt;b&gt;Bold&lt;/b&gt; &amp; co", "Bold & co"),
        ("Street#39;s and it&#39;s and #8217;s", "Street's and it's and ’s"),
        ("&amp;lt;i&amp;gt;twice escaped&amp;lt;/i&amp;gt;", "twice escaped"),
        ("Caf&eacute; &#x263A; x&nbsp;y", "Café ☺ x y"),
        ('<a href="https://x.org/a" target=_blank>link</a><img src="p.png"/>', "link"),
        ("one<br>two</p><p class='x'>three", "one\ntwo\n\nthree"),
        ("<!-- note -->kept<script>alert(1)</script>", "kept"),
        # prose that only looks like markup stays as it is
        ("AT&T, R&D, Q&A and &copy alone", "AT&T, R&D, Q&A and &copy alone"),
        (
            "5 < 6 and a<b and c>d; issue #12; see <unknown>",
            "5 < 6 and a<b and c>d; issue #12; see <unknown>",
        ),
        ("plain text", "plain text"),
    ],
)
def test_decode_markup(raw: str, clean: str) -> None:
    assert decode_markup(raw) == clean


def _by_id(source) -> dict[str, semclust.Document]:
    return {d.id: d for d in semclust.read(source)}


def test_jsonl_csv_txt_and_dicts_are_decoded(tmp_path: Path) -> None:
    (tmp_path / "feed.jsonl").write_text(
        json.dumps({"id": "j", "title": "Wall St.&#39;s &lt;i&gt;bears&lt;/i&gt;", "text": WIRE}) + "\n",
        encoding="utf-8",
    )
    (tmp_path / "feed.csv").write_text(
        'id,title,text\nc,"AT&amp;T &amp; friends","' + WIRE.replace('"', '""') + '"\n', encoding="utf-8"
    )
    (tmp_path / "t.txt").write_text("A &quot;title&quot;\n" + WIRE, encoding="utf-8")
    docs = _by_id(tmp_path)
    assert docs["j"].text == docs["c"].text == docs["t"].text == DECODED
    assert docs["j"].title == "Wall St.'s bears"
    assert docs["c"].title == "AT&T & friends"
    assert docs["t"].title == 'A "title"'
    (d,) = semclust.read([{"id": "d", "title": "x &amp; y", "text": WIRE}])
    assert (d.title, d.text) == ("x & y", DECODED)
    raw = _by_id(semclust.read(tmp_path / "feed.jsonl", clean=False))["j"]
    assert raw.text == WIRE  # clean=False keeps the text as it came
    kept = _by_id(semclust.read(tmp_path / "feed.jsonl", furniture=[]))["j"]
    assert kept.text == DECODED  # furniture=[] keeps every line, still decodes


def test_offsets_point_into_the_decoded_text(make_store, tmp_path: Path) -> None:
    feed = tmp_path / "feed.jsonl"
    rows = [
        {"id": "wire", "title": "Markets", "text": WIRE},
        {"id": "other", "title": "Weather", "text": "Rain &amp; wind are expected over the hills tomorrow."},
    ]
    feed.write_text("\n".join(json.dumps(r) for r in rows), encoding="utf-8")
    store = make_store()
    store.add(semclust.read(feed))
    stored = store.get("wire")
    assert stored.text == DECODED
    chunks = store.chunks("wire")
    assert len(chunks) > 1  # the fake model's small budget splits the article
    for c in chunks:
        assert stored.text[c.start : c.end] == c.text
        assert "&" not in c.text.replace("AT&T", "") and "lt;" not in c.text and "#39;" not in c.text
    hit = store.search("oil prices rose again on Friday", k=1)[0]
    assert hit.doc_id == "wire"
    assert stored.text[hit.start : hit.end] == hit.passage
    assert "Oil prices rose again on Friday." in hit.passage
