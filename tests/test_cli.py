import json
import os
import subprocess
import sys
from pathlib import Path

import fake_embedder
import pytest
from conftest import SEEDS

from semclust.cli import main


def _fake_store(tmp_path: Path) -> Path:
    import semclust

    path = tmp_path / "s"
    semclust.Store.open(path, model=fake_embedder.FakeEmbedder(), cache=False).close()
    return path


_OFF_TOPIC = {
    "pasta": "Fresh pasta\nKnead flour and eggs into a smooth dough, rest it, roll it thin and cut "
    "ribbons. Boil them in salted water for two minutes and toss them with butter and sage.",
    "tides": "Tides and the moon\nThe moon's gravity pulls the oceans into two bulges, so most "
    "coasts see two high tides a day; spring tides come when sun and moon line up.",
}


def _corpus(tmp_path: Path) -> list[str]:
    """The two seed articles (both about China and European security) and two off-topic ones,
    so that a related or search ranking has something to get wrong."""
    extra = tmp_path / "extra"
    extra.mkdir()
    for name, text in _OFF_TOPIC.items():
        (extra / f"{name}.txt").write_text(text, encoding="utf-8")
    return [str(SEEDS), str(extra)]


def test_index_search_related_info_json(tmp_path: Path, capsys) -> None:
    store = _fake_store(tmp_path)
    assert main(["index", *_corpus(tmp_path), "--store", str(store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["added"]) == ["china-hungary-security", "nato-china-watching-ukraine", "pasta", "tides"]
    assert main(["search", "Hungary security", "--store", str(store), "-k", "1", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 1 and {"doc_id", "title", "score", "passage", "start", "end"} <= set(hits[0])
    assert hits[0]["doc_id"] == "china-hungary-security"
    assert main(["related", "china-hungary-security", "--store", str(store), "--json"]) == 0
    related = json.loads(capsys.readouterr().out)["hits"]
    # three candidates: the other seed article must come first, the off-topic ones after it
    assert related[0]["doc_id"] == "nato-china-watching-ukraine"
    assert {h["doc_id"] for h in related[1:]} == {"pasta", "tides"}
    assert related[0]["score"] > max(h["score"] for h in related[1:])
    assert main(["info", "--store", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["articles"] == 4 and info["model"]["backend"] == "fake"
    assert main(["info", "--store", str(store)]) == 0
    assert "articles:   4" in capsys.readouterr().out
    assert main(["delete", "china-hungary-security", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["deleted"] == ["china-hungary-security"]


def test_errors_are_one_line(tmp_path: Path, capsys) -> None:
    store = _fake_store(tmp_path)
    main(["index", str(SEEDS), "--store", str(store), "-q"])
    capsys.readouterr()
    assert main(["related", "nope", "--store", str(store)]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("semclust: error:") and "nope" in err and "\n" not in err
    assert main(["search", "x", "--store", str(store), "-k", "0"]) == 1
    assert "k must be" in capsys.readouterr().err
    assert main(["search", "x", "--store", str(tmp_path / "missing")]) == 1
    assert "no semclust store" in capsys.readouterr().err
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "ok"}\nnot json\n')
    assert main(["index", str(bad), "--store", str(store)]) == 1
    assert "bad.jsonl, line 2" in capsys.readouterr().err
    assert main(["index", str(bad), "--store", str(store), "--skip-errors", "--json"]) == 0
    captured = capsys.readouterr()
    assert json.loads(captured.out)["skipped"] == [
        f"{bad}, line 2: invalid JSON (Expecting value at column 1)"
    ]
    with pytest.raises(SystemExit) as exit_info:
        main(["search"])
    assert exit_info.value.code == 2


@pytest.mark.integration
def test_console_script_demo_real_model() -> None:
    exe = Path(sys.executable).with_name("semclust")
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "semclust.cli"]
    out = subprocess.run(
        [*cmd, "demo", "--json"], capture_output=True, text=True, timeout=600, env={**os.environ}
    )
    assert out.returncode == 0, out.stderr[-3000:]
    data = json.loads(out.stdout)
    assert data["search"]["hits"][0]["doc_id"] == "china-hungary-security"
    assert data["related"]["china-hungary-security"][0]["doc_id"] == "nato-china-watching-ukraine"
    text = subprocess.run([*cmd, "demo", "-q"], capture_output=True, text=True, timeout=600)
    assert text.returncode == 0 and "Related to china-hungary-security" in text.stdout


def test_themes_command_and_store_facade(tmp_path: Path, capsys) -> None:
    store_path = _fake_store(tmp_path)
    assert main(["index", str(SEEDS), "--store", str(store_path), "-q"]) == 0
    capsys.readouterr()
    assert main(["themes", "--store", str(store_path), "--json", "--articles"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["n_articles"] == 2 and data["n_themes"] >= 1
    assert set(data["articles"]) == {"china-hungary-security", "nato-china-watching-ukraine"}
    import semclust

    store = semclust.Store.open(store_path, cache=False)
    themes = store.themes()
    pred = store.theme_of("china-hungary-security")
    assert (
        pred.theme_id
        == data["articles"]["china-hungary-security"]
        == themes.theme_of("china-hungary-security").theme_id
    )
    # the two seeds share one theme (issue 12): its keywords name what they share
    assert {"china", "beijing", "hungary"} & set(" ".join(themes[pred.theme_id].keywords).split())
    assert main(["themes", "--store", str(store_path)]) == 0
    assert "keywords:" in capsys.readouterr().out


def _records(tmp_path: Path) -> Path:
    rows = [
        {
            "key": "w1",
            "headline": "Border talks",
            "body": "Ministers met at the border to talk about trade and security.",
            "section": "world",
            "words": 120,
        },
        {
            "key": "w2",
            "headline": "Summit ends",
            "body": "The summit ended with a joint statement on security and trade.",
            "section": "world",
            "words": 450,
        },
        {
            "key": "b1",
            "headline": "Shares fall",
            "body": "Shares fell as trade talks stalled and security worries grew.",
            "section": "business",
            "words": 300,
        },
        {
            "key": "s1",
            "headline": "Cup final",
            "body": "The cup final went to penalties after a goalless draw in the rain.",
            "section": "sport",
            "words": 80,
        },
    ]
    path = tmp_path / "news.jsonl"
    path.write_text("\n".join(json.dumps(r) for r in rows) + "\n", encoding="utf-8")
    return path


_FIELDS = ["--field", "id=key", "--field", "title=headline", "--field", "text=body"]


def test_index_field_mapping(tmp_path: Path, capsys) -> None:
    store = _fake_store(tmp_path)
    records = _records(tmp_path)
    assert main(["index", str(records), "--store", str(store), "-q"]) == 1  # no "text" field
    assert "news.jsonl, line 1: field 'text': missing" in capsys.readouterr().err
    assert main(["index", str(records), "--store", str(store), *_FIELDS, "--json"]) == 0
    assert sorted(json.loads(capsys.readouterr().out)["added"]) == ["b1", "s1", "w1", "w2"]
    assert (
        main(
            [
                "search",
                "cup final went to penalties after a goalless draw",
                "--store",
                str(store),
                "-k",
                "1",
                "--json",
            ]
        )
        == 0
    )
    hit = json.loads(capsys.readouterr().out)["hits"][0]
    assert (hit["doc_id"], hit["title"]) == ("s1", "Cup final")
    assert hit["metadata"] == {"section": "sport", "words": 80}
    with pytest.raises(SystemExit) as exit_info:
        main(["index", str(records), "--store", str(store), "--field", "text"])
    assert exit_info.value.code == 2
    assert "--field expects OURS=THEIRS" in capsys.readouterr().err


def _ids(capsys) -> list[str]:
    return [h["doc_id"] for h in json.loads(capsys.readouterr().out)["hits"]]


def test_where_filters(tmp_path: Path, capsys) -> None:
    store = _fake_store(tmp_path)
    assert main(["index", str(_records(tmp_path)), "--store", str(store), *_FIELDS, "-q"]) == 0
    capsys.readouterr()
    search = ["search", "trade and security", "--store", str(store), "--json"]
    assert main(search) == 0
    assert sorted(_ids(capsys)) == ["b1", "s1", "w1", "w2"]
    assert main([*search, "--where", "section=world"]) == 0
    assert sorted(_ids(capsys)) == ["w1", "w2"]
    assert main([*search, "--where", "section=world", "--where", "key=nothing"]) == 0
    assert _ids(capsys) == []  # every --where must hold
    assert main(["related", "w1", "--store", str(store), "--json", "--where", "section=business"]) == 0
    assert _ids(capsys) == ["b1"]
    with pytest.raises(SystemExit) as exit_info:
        main([*search, "--where", "section"])
    assert exit_info.value.code == 2
