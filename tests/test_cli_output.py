"""The command line's output contract: one-line errors (JSON with --json), no traceback when the
reader of stdout goes away, typed --where comparisons, and errors that say how to fix them."""

import json
import os
import subprocess
import sys
from pathlib import Path

import fake_embedder
import pytest
from conftest import ROOT, SEEDS

from semclust.cli import EXIT_CODES, exit_code, main, where_value
from semclust.errors import NotFoundError, RecordError, SemclustError


def _store(tmp_path: Path) -> Path:
    import semclust

    path = tmp_path / "s"
    semclust.Store.open(path, model=fake_embedder.FakeEmbedder(), cache=False).close()
    return path


def _news(tmp_path: Path) -> Path:
    rows = [
        ("a", "AP", 120),
        ("b", "AP", 300),
        ("c", "Reuters", 299),
        ("d", "Reuters", 1200),
        ("e", "AFP", 300),
    ]
    p = tmp_path / "news.csv"
    p.write_text(
        "id,text,source,words\n"
        + "".join(f"{i},Trade talks and security news number {i}.,{s},{w}\n" for i, s, w in rows)
    )
    return p


def _ids(capsys) -> list[str]:
    return sorted(h["doc_id"] for h in json.loads(capsys.readouterr().out)["hits"])


def test_where_comparisons_and_typed_values(tmp_path: Path, capsys) -> None:
    store = _store(tmp_path)
    assert main(["index", str(_news(tmp_path)), "--store", str(store), "-q"]) == 0
    capsys.readouterr()
    search = ["search", "trade talks", "--store", str(store), "--json"]
    cases = {
        "words>=300": ["b", "d", "e"],
        "words<300": ["a", "c"],
        "words>300": ["d"],
        "words<=299": ["a", "c"],
        "words=300": ["b", "e"],  # a number, as the CSV column is
        "words!=300": ["a", "c", "d"],
        "source!=AP": ["c", "d", "e"],
        "source=AP": ["a", "b"],
        'words="300"': [],  # quoted: the string "300", which no article has
    }
    for where, expected in cases.items():
        assert main([*search, "--where", where]) == 0, where
        assert _ids(capsys) == expected, where
    assert main([*search, "--where", "words>=300", "--where", "words<1000"]) == 0
    assert _ids(capsys) == ["b", "e"]
    assert main([*search, "--where", "source=AP", "--where", "source=AFP"]) == 0
    assert _ids(capsys) == ["a", "b", "e"]  # FIELD=A FIELD=B: one of
    assert main([*search, "--source", "Reuters", "--where", "words>=300"]) == 0
    assert _ids(capsys) == ["d"]
    with pytest.raises(SystemExit) as exit_info:
        main([*search, "--where", "words>=1", "--where", "words>=2"])
    assert exit_info.value.code == 2
    assert "--where gives words>= twice" in capsys.readouterr().err


def test_where_value_types() -> None:
    assert where_value("300") == 300 and isinstance(where_value("300"), int)
    assert where_value("-2.5") == -2.5
    assert where_value("007") == "007" and where_value("AP") == "AP"
    assert where_value("true") is True and where_value("false") is False
    assert where_value('"300"') == "300" and where_value("'x y'") == "x y"


def test_usage_errors_are_one_line(capsys) -> None:
    for argv in (["search"], ["nonsense"], ["search", "q", "--store", "s", "-k", "many"], []):
        with pytest.raises(SystemExit) as exit_info:
            main(argv)
        assert exit_info.value.code == 2
        err = capsys.readouterr().err
        assert err.count("\n") == 1 and err.startswith("semclust: error: "), err
        assert "--help)" in err
    with pytest.raises(SystemExit):
        main(["search", "--json"])
    body = json.loads(capsys.readouterr().err)["error"]
    assert body["type"] == "UsageError" and body["exit_code"] == 2 and "query" in body["message"]


def test_errors_are_json_with_json(tmp_path: Path, capsys) -> None:
    store = _store(tmp_path)
    main(["index", str(SEEDS), "--store", str(store), "-q"])
    capsys.readouterr()
    assert main(["related", "nope", "--store", str(store), "--json"]) == 1
    captured = capsys.readouterr()
    assert captured.out == ""
    body = json.loads(captured.err)["error"]
    assert body["type"] == "NotFoundError" and "nope" in body["message"] and body["exit_code"] == 1
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"id": "1", "text": "ok"}\n{"id": "2", "text": \n')
    assert main(["index", str(bad), "--store", str(store), "--json"]) == 1
    body = json.loads(capsys.readouterr().err)["error"]
    assert (body["type"], body["path"], body["line"], body["field"]) == ("RecordError", str(bad), 2, None)


def test_exit_codes_are_one_mapping() -> None:
    assert exit_code(NotFoundError("x")) == exit_code(RecordError("x")) == exit_code(SemclustError("x")) == 1
    assert exit_code(KeyboardInterrupt()) == 130 and exit_code(BrokenPipeError()) == 141
    assert [code for _, code in EXIT_CODES] == [2, 1, 1, 130, 141]


def test_missing_store_and_nothing_to_add_say_what_to_do(tmp_path: Path, capsys) -> None:
    missing = tmp_path / "missing"
    assert main(["search", "x", "--store", str(missing)]) == 1
    err = capsys.readouterr().err
    assert f"no semclust store at {missing}" in err and f"semclust index PATH --store {missing}" in err
    assert main(["serve", "--store", str(missing), "--json", "-q"]) == 1  # serve takes --json/-q too
    body = json.loads(capsys.readouterr().err)["error"]
    assert body["type"] == "StoreError" and "semclust index PATH --store" in body["message"]
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "blank.txt").write_text("   \n")
    store = _store(tmp_path)
    assert main(["index", str(empty), "--store", str(store), "--skip-errors"]) == 1
    err = capsys.readouterr().err
    assert (
        f"no articles to add: none read from {empty} (1 skipped: {empty / 'blank.txt'}: the file is empty)"
        in err
    )


@pytest.mark.parametrize("args", [["info", "--json"], ["search", "china", "--json", "-k", "2"], ["--help"]])
def test_closed_stdout_is_no_traceback(tmp_path: Path, args: list[str]) -> None:
    """``semclust info --json | head``: the reader goes away; no BrokenPipeError traceback."""
    store = _store(tmp_path)
    subprocess.run(
        [sys.executable, "-c", _RUN, "index", str(SEEDS), "--store", str(store), "-q"], check=True, cwd=ROOT
    )
    argv = [*args, "--store", str(store)] if args != ["--help"] else args
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader has gone before semclust writes a byte
    try:
        out = subprocess.run(
            [sys.executable, "-c", _RUN, *argv],
            stdout=write_end,
            stderr=subprocess.PIPE,
            text=True,
            timeout=120,
            cwd=ROOT,
        )
    finally:
        os.close(write_end)
    assert "Traceback" not in out.stderr and "BrokenPipeError" not in out.stderr, out.stderr
    assert out.returncode in (0, 141), out.stderr


_RUN = (
    "import sys; sys.path.insert(0, 'tests'); import fake_embedder; from semclust.cli import main; "
    "sys.exit(main(sys.argv[1:]))"
)
