import gzip
import json
from pathlib import Path

import pytest

import semclust
from semclust.errors import BinaryFileError, EmptyInputError, InputError, RecordError


def test_folder_recursive_txt_md_html(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Headline A\nBody of article A. It has two sentences.")
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "b.md").write_text(
        "---\ntitle: Front title\nauthor: Ann\ndate: 2024-03-01\nsource: Blog\n---\n# Heading\nBody of B."
    )
    (tmp_path / "sub" / "c.html").write_text(
        "<html><head><title>C page</title></head><body><nav>Menu</nav><article><h1>C title</h1>"
        "<p>The central bank raised interest rates again on Thursday, citing persistent inflation in services.</p>"
        "<p>Economists had expected the move, which brings the policy rate to its highest level in fifteen years.</p>"
        "</article><footer>Comments are closed.</footer></body></html>"
    )
    (tmp_path / ".hidden.txt").write_text("ignored")
    (tmp_path / "notes.bin").write_bytes(b"\x00\x01")
    docs = {d.id: d for d in semclust.read(tmp_path)}
    assert set(docs) == {"a", "sub/b", "sub/c"}
    assert docs["a"].title == "Headline A" and docs["a"].text.startswith("Body of article A")
    assert docs["sub/b"].title == "Front title" and docs["sub/b"].metadata["author"] == "Ann"
    assert docs["sub/b"].published == "2024-03-01" and docs["sub/b"].source == "Blog"
    assert "central bank" in docs["sub/c"].text and "Menu" not in docs["sub/c"].text
    assert docs["sub/c"].title


def test_jsonl_gz_and_fields(tmp_path: Path) -> None:
    p = tmp_path / "x.jsonl.gz"
    rows = [
        {
            "article_id": 7,
            "headline": "T",
            "body": "Some text.",
            "date": "2024-02-17",
            "source": "S",
            "lang": "en",
        },
        {"body": "No id here.", "date": "2024-02-18T10:00:00Z"},
    ]
    with gzip.open(p, "wt") as f:
        f.write("\n".join(json.dumps(r) for r in rows) + "\n")
    docs = list(
        semclust.read(
            p, fields={"id": "article_id", "title": "headline", "text": "body", "published": "date"}
        )
    )
    assert docs[0].id == "7" and docs[0].title == "T" and docs[0].published == "2024-02-17"
    assert docs[0].source == "S" and docs[0].metadata == {"lang": "en"}
    assert docs[1].id == "x:2" and docs[1].published == "2024-02-18T10:00:00+00:00"


def test_malformed_jsonl_names_file_and_line(tmp_path: Path) -> None:
    p = tmp_path / "bad.jsonl"
    p.write_text('{"id": "1", "text": "ok"}\n{"id": "2", "text": \n{"id": "3", "text": "fine"}\n')
    with pytest.raises(RecordError) as err:
        list(semclust.read(p))
    assert err.value.line == 2 and "bad.jsonl, line 2" in str(err.value)
    arts = semclust.read(p, skip_errors=True)
    assert [d.id for d in arts] == ["1", "3"]
    assert len(arts.skipped) == 1 and arts.skipped[0].line == 2


def test_record_without_text_and_bad_date(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    p.write_text('{"id": "1", "title": "no text"}\n')
    with pytest.raises(EmptyInputError, match="line 1: field 'text'"):
        list(semclust.read(p))
    p.write_text('{"id": "1", "text": "x", "published": "17/02/2024"}\n')
    with pytest.raises(RecordError, match="field 'published'"):
        list(semclust.read(p))
    p.write_text('{"id": "1", "text": ["not", "a", "string"]}\n')
    with pytest.raises(RecordError, match="expected a string"):
        list(semclust.read(p))


def test_csv(tmp_path: Path) -> None:
    p = tmp_path / "a.csv"
    p.write_text('id,title,text,source\n1,One,"First, with comma.",S1\n2,Two,Second.,S2\n')
    docs = list(semclust.read(p))
    assert (
        [d.id for d in docs] == ["1", "2"] and docs[0].text == "First, with comma." and docs[1].source == "S2"
    )
    p.write_text("id,title,text\n1,One,First.\n2,Two\n")
    with pytest.raises(RecordError, match=r"a\.csv, line 3"):
        list(semclust.read(p))


def test_empty_binary_and_encoding(tmp_path: Path) -> None:
    (tmp_path / "empty.txt").write_text("   \n")
    with pytest.raises(EmptyInputError, match=r"empty\.txt"):
        list(semclust.read(tmp_path / "empty.txt"))
    (tmp_path / "bin.txt").write_bytes(bytes(range(256)) * 10)
    with pytest.raises(BinaryFileError, match=r"bin\.txt"):
        list(semclust.read(tmp_path / "bin.txt"))
    latin = "Title\nLe café était fermé à Zürich, où la bière coûte cher. Déjà vu, ça!"
    (tmp_path / "latin.txt").write_bytes(latin.encode("cp1252"))
    doc = next(iter(semclust.read(tmp_path / "latin.txt")))
    assert "café était fermé à Zürich" in doc.text
    arts = semclust.read(tmp_path, skip_errors=True)
    assert [d.id for d in arts] == ["latin"]
    assert {Path(s.path).name for s in arts.skipped if s.path} == {"bin.txt", "empty.txt"}


def test_missing_path_and_iterables() -> None:
    with pytest.raises(InputError, match="no such file"):
        list(semclust.read("/nonexistent/folder"))
    docs = list(semclust.read(["one text.", {"id": "d", "text": "two"}]))
    assert docs[0].id.startswith("doc-") and docs[1].id == "d"
    assert next(iter(semclust.read(["one text."]))).id == docs[0].id  # stable
    with pytest.raises(RecordError, match="record 1"):
        list(semclust.read([42]))


def test_tsv(tmp_path: Path) -> None:
    p = tmp_path / "a.tsv"
    p.write_text("id\ttitle\ttext\tsource\n1\tOne, two\tFirst, with a comma.\tS1\n2\tTwo\tSecond.\tS2\n")
    docs = list(semclust.read(p))
    assert [(d.id, d.title, d.text, d.source) for d in docs] == [
        ("1", "One, two", "First, with a comma.", "S1"),
        ("2", "Two", "Second.", "S2"),
    ]
    gz = tmp_path / "b.tsv.gz"
    with gzip.open(gz, "wt") as f:
        f.write("text\tlang\nGzipped and tab-separated.\tde\n")
    (doc,) = semclust.read(gz)
    assert doc.id == "b:2" and doc.metadata == {"lang": "de"}
    p.write_text("id\ttitle\ttext\n1\tOne\tFirst.\n2\tTwo\n")
    with pytest.raises(RecordError, match=r"a\.tsv, line 3"):
        list(semclust.read(p))


def test_custom_furniture(tmp_path: Path) -> None:
    p = tmp_path / "a.txt"
    p.write_text("Headline\nSubscribe now for more!\nLoading...\nThe body of the article.\nSubscribe now")
    (default,) = semclust.read(p)
    assert default.text == "Subscribe now for more!\nThe body of the article.\nSubscribe now"
    (own,) = semclust.read(p, furniture=[r"subscribe now.*"])
    assert own.text == "Loading...\nThe body of the article."  # replaces the default patterns
    (both,) = semclust.read(p, furniture=[*semclust.FURNITURE_PATTERNS, r"subscribe now.*"])
    assert both.text == "The body of the article."
    (kept,) = semclust.read(p, furniture=[])
    assert kept.text == "Subscribe now for more!\nLoading...\nThe body of the article.\nSubscribe now"
    records = list(
        semclust.read([{"id": "r", "text": "Keep me.\nSubscribe now!"}], furniture=["subscribe.*"])
    )
    assert records[0].text == "Keep me."
