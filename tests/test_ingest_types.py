"""Typed values: YAML front matter, CSV/TSV column types, numeric filters that work for every
input format, and the ``path`` field (relative to the folder read)."""

import json
from pathlib import Path

import pytest

import semclust
from semclust.errors import RecordError

FRONT = """---
title: Typed front matter
date: 2024-03-01
words: 300
ratio: 0.25
tags: [china, hungary]
draft: false
country: NO
zip: 01234
duration: 1:30
missing:
nested: {a: 1, b: [x, y]}
updated: 2024-03-02 10:30:00
---
# Heading
Body of the article.
"""


def test_front_matter_is_yaml(tmp_path: Path) -> None:
    (tmp_path / "a.md").write_text(FRONT, encoding="utf-8")
    (doc,) = semclust.read(tmp_path / "a.md")
    assert doc.title == "Typed front matter" and doc.published == "2024-03-01"
    assert doc.text == "# Heading\nBody of the article."  # the front matter's title wins
    meta = dict(doc.metadata)
    assert meta.pop("path") == "a.md"
    assert meta == {
        "words": 300,
        "ratio": 0.25,
        "tags": ["china", "hungary"],
        "draft": False,
        "country": "NO",  # YAML 1.2 booleans only: not False
        "zip": "01234",  # no octal, no leading-zero integers
        "duration": "1:30",  # no base-60 integers
        "missing": None,
        "nested": {"a": 1, "b": ["x", "y"]},
        "updated": "2024-03-02T10:30:00",
    }


def test_front_matter_that_is_not_yaml_falls_back(tmp_path: Path) -> None:
    (tmp_path / "b.md").write_text(
        "---\ntitle: China: the new power\nwords: 12\n---\nBody.\n", encoding="utf-8"
    )
    (doc,) = semclust.read(tmp_path / "b.md")
    assert doc.title == "China: the new power"
    assert doc.metadata["words"] == "12"  # the simple key: value reading keeps strings
    (tmp_path / "c.md").write_text("---\nid: '   '\n---\nBody.\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"c\.md: field 'id': empty or only white space"):
        list(semclust.read(tmp_path / "c.md"))
    (tmp_path / "c.md").write_text("---\ntitle: [a, b]\n---\nBody.\n", encoding="utf-8")
    with pytest.raises(RecordError, match=r"c\.md: field 'title': expected a string, got list"):
        list(semclust.read(tmp_path / "c.md"))


def test_csv_column_types(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text(
        "id,text,words,score,mixed,zip,user_id,big,label\n"
        "1,First.,300,0.5,12,01234,7,1234567890123456,x\n"
        "2,Second.,53,2,12a,02134,8,1,3\n"
        "3,Third.,,1.25,4,10001,9,2,\n",
        encoding="utf-8",
    )
    docs = list(semclust.read(p))
    assert [d.id for d in docs] == ["1", "2", "3"]  # ids are never numbers
    assert docs[0].metadata == {
        "words": 300,
        "score": 0.5,
        "mixed": "12",  # a column with one non-number stays text
        "zip": "01234",  # leading zeros: text
        "user_id": "7",  # id columns stay text
        "big": "1234567890123456",  # over 15 digits: text
        "label": "x",
    }
    assert docs[1].metadata["words"] == 53 and docs[1].metadata["score"] == 2.0
    assert isinstance(docs[1].metadata["score"], float) and docs[1].metadata["label"] == "3"
    assert "words" not in docs[2].metadata  # an empty cell is no value


def test_numeric_filters_work_for_every_format(make_store, tmp_path: Path) -> None:
    """The README's own example, ``filters={"words": {"gte": 300}}``, on .md, .csv and .jsonl."""
    (tmp_path / "long.md").write_text("---\nwords: 1200\n---\nA long article about trade.\n")
    (tmp_path / "short.md").write_text("---\nwords: 53\n---\nA short article about trade.\n")
    (tmp_path / "t.csv").write_text(
        "id,text,words\ncsv-long,Long trade news.,450\ncsv-short,Short trade news.,80\n"
    )
    (tmp_path / "t.jsonl").write_text(
        json.dumps({"id": "j-long", "text": "Trade news at length.", "words": 300})
        + "\n"
        + json.dumps({"id": "j-short", "text": "Trade news in brief.", "words": 299})
        + "\n"
    )
    store = make_store()
    store.add(semclust.read(tmp_path))
    hits = store.search("trade", k=10, filters={"words": {"gte": 300}})
    assert sorted(hits.ids) == ["csv-long", "j-long", "long"]
    hits = store.search("trade", k=10, filters={"words": {"lt": 300}})
    assert sorted(hits.ids) == ["csv-short", "j-short", "short"]


def test_path_field_is_relative_to_the_folder_read(tmp_path: Path) -> None:
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "a.txt").write_text("Title\nBody of a.")
    (tmp_path / "b.html").write_text(
        "<html><body><article><p>The central bank raised interest rates again on Thursday, citing "
        "inflation in services, which economists had expected.</p></article></body></html>"
    )
    docs = {d.id: d for d in semclust.read(tmp_path)}
    assert docs["sub/a"].metadata == {"path": "sub/a.txt"}
    assert docs["b"].metadata == {"path": "b.html"}
    (alone,) = semclust.read(tmp_path / "sub" / "a.txt")
    assert alone.metadata == {"path": "a.txt"}  # a file given alone: its name, never absolute
    (absolute,) = semclust.read((tmp_path / "sub" / "a.txt").resolve())
    assert absolute.metadata == {"path": "a.txt"}
