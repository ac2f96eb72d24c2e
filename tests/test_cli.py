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


def test_index_search_related_info_json(tmp_path: Path, capsys) -> None:
    store = _fake_store(tmp_path)
    assert main(["index", str(SEEDS), "--store", str(store), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert sorted(out["added"]) == ["china-hungary-security", "nato-china-watching-ukraine"]
    assert main(["search", "Hungary security", "--store", str(store), "-k", "1", "--json"]) == 0
    hits = json.loads(capsys.readouterr().out)["hits"]
    assert len(hits) == 1 and {"doc_id", "title", "score", "passage", "start", "end"} <= set(hits[0])
    assert main(["related", "china-hungary-security", "--store", str(store), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["hits"][0]["doc_id"] == "nato-china-watching-ukraine"
    assert main(["info", "--store", str(store), "--json"]) == 0
    info = json.loads(capsys.readouterr().out)
    assert info["articles"] == 2 and info["model"]["backend"] == "fake"
    assert main(["info", "--store", str(store)]) == 0
    assert "articles:   2" in capsys.readouterr().out
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
    assert pred.theme_id == data["articles"]["china-hungary-security"] == themes.theme_of("china-hungary-security").theme_id
    assert "hungary" in pred.name
    assert main(["themes", "--store", str(store_path)]) == 0
    assert "keywords:" in capsys.readouterr().out
