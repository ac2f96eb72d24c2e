"""Hostile and broken input: gzip bombs, special files, deep nesting, lone surrogates, NaN, and
the size limits. Each is an InputError naming file and line (skipped and listed with
skip_errors), never a hang, a traceback or a full memory."""

import gzip
import json
import os
import signal
import sys
import tracemalloc
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import semclust
from semclust.errors import EmptyInputError, InputError, RecordError
from semclust.ingest.limits import MAX_FIELD_CHARS, MAX_ID_CHARS, MAX_RECORD_BYTES, MAX_TEXT_CHARS

BOMB_BYTES = 128 << 20  # decompressed; about 0.5 MB on disk


class Hung(BaseException):
    """Not an OSError (as TimeoutError is), so that no ``except OSError`` can swallow it."""


@contextmanager
def time_limit(seconds: float) -> Iterator[None]:
    """Fail the test instead of hanging: SIGALRM interrupts a blocking open() or read()."""

    def expired(signum: int, frame: object) -> None:
        raise Hung(f"still running after {seconds} s")

    previous = signal.signal(signal.SIGALRM, expired)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _bomb(path: Path) -> None:
    """Two good records, then one line of BOMB_BYTES, then one more good record."""
    block = b"a" * (1 << 20)
    with gzip.open(path, "wb", compresslevel=1) as f:
        f.write(b'{"id": "ok1", "text": "First good record."}\n{"id": "ok2", "text": "Second one."}\n')
        f.write(b'{"id": "huge", "text": "')
        for _ in range(BOMB_BYTES // len(block)):
            f.write(block)
        f.write(b'"}\n{"id": "ok3", "text": "After the bomb."}\n')


def _peak_while(fn) -> tuple[object, int]:
    tracemalloc.start()
    try:
        out = fn()
        return out, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_is_refused_with_bounded_memory(tmp_path: Path) -> None:
    bomb = tmp_path / "bomb.jsonl.gz"
    _bomb(bomb)
    assert bomb.stat().st_size < 2 << 20

    def strict() -> str:
        with pytest.raises(RecordError) as err:
            list(semclust.read(bomb))
        return str(err.value)

    message, peak = _peak_while(strict)
    assert "bomb.jsonl.gz, line 3: a record over 8,000,000 bytes" in str(message)
    # reading everything costs about 5 bytes per decompressed byte; the limit caps one line
    assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB"

    arts = semclust.read(bomb, skip_errors=True)
    docs, peak = _peak_while(lambda: [d.id for d in arts])
    assert docs == ["ok1", "ok2", "ok3"]  # read past the long line in pieces, then on
    assert [(s.line, s.reason[:22]) for s in arts.skipped] == [(3, "a record over 8,000,00")]
    assert peak < 64 << 20, f"peak {peak / 2**20:.0f} MiB"


def test_csv_record_limit_spans_lines(tmp_path: Path) -> None:
    """Quoted CSV fields that run over many lines count as one record."""
    p = tmp_path / "long.csv.gz"
    field = '"' + ("y" * 99 + "\n") * 1000 + '"'  # 100,000 characters, under csv's own field limit
    columns = MAX_RECORD_BYTES // 100_000 + 2
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write("id,text," + ",".join(f"c{i}" for i in range(columns)) + "\n1,fine,")
        f.write(",".join(field for _ in range(columns)) + "\n")
    with pytest.raises(RecordError, match=r"long\.csv\.gz, line \d+: a record over 8,000,000 bytes"):
        list(semclust.read(p))
    with gzip.open(p, "wt", encoding="utf-8") as f:
        f.write('id,text\n1,"' + "z" * 200_000 + '"\n')
    with pytest.raises(RecordError, match=r"line 2: a field over 131,072 characters \(Python's csv limit\)"):
        list(semclust.read(p))


def test_article_text_limit(tmp_path: Path) -> None:
    p = tmp_path / "big.jsonl"
    words = "word " * (MAX_TEXT_CHARS // 5 + 10)
    p.write_text(
        json.dumps({"id": "big", "text": words}) + "\n" + json.dumps({"id": "ok", "text": "Fine."}) + "\n"
    )
    with pytest.raises(
        RecordError, match=r"big\.jsonl, line 1: field 'text': 1,000,0\d\d characters, over the limit"
    ):
        list(semclust.read(p))
    arts = semclust.read(p, skip_errors=True)
    assert [d.id for d in arts] == ["ok"] and arts.skipped[0].line == 1
    (tmp_path / "big.txt").write_text("Title\n" + words)
    with pytest.raises(RecordError, match=r"big\.txt: field 'text': .* over the limit"):
        list(semclust.read(tmp_path / "big.txt"))
    title = {"id": "t", "text": "Body.", "title": "T" * (MAX_FIELD_CHARS + 1)}
    with pytest.raises(RecordError, match="field 'title': 10,001 characters"):
        list(semclust.read([title]))


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="no FIFOs on this platform")
def test_fifo_in_a_folder_is_skipped_not_waited_on(tmp_path: Path) -> None:
    (tmp_path / "a.txt").write_text("Title\nA real article.")
    os.mkfifo(tmp_path / "pipe.txt")
    os.mkfifo(tmp_path / "pipe.jsonl.gz")
    with time_limit(20):
        arts = semclust.read(tmp_path, skip_errors=True)
        assert [d.id for d in arts] == ["a"]
        assert sorted((Path(s.path).name, s.reason) for s in arts.skipped) == [
            ("pipe.jsonl.gz", "not a regular file (a FIFO (named pipe)); only regular files are read"),
            ("pipe.txt", "not a regular file (a FIFO (named pipe)); only regular files are read"),
        ]
        with pytest.raises(InputError, match=r"pipe\.jsonl\.gz: not a regular file \(a FIFO"):
            list(semclust.read(tmp_path))
        with pytest.raises(InputError, match=r"pipe\.txt: not a regular file"):
            list(semclust.read(tmp_path / "pipe.txt"))


@pytest.mark.skipif(not Path("/dev/zero").exists(), reason="no /dev/zero")
def test_device_is_refused(tmp_path: Path) -> None:
    (tmp_path / "zero.txt").symlink_to("/dev/zero")
    with time_limit(20), pytest.raises(InputError, match="not a regular file \\(a character device\\)"):
        list(semclust.read(tmp_path / "zero.txt"))


def test_deep_nesting_is_a_record_error(tmp_path: Path) -> None:
    p = tmp_path / "deep.jsonl"
    deep = '{"id": "d", "text": "x", "meta": ' + "[" * 100_000 + "]" * 100_000 + "}"
    shallow = '{"id": "s", "text": "y", "meta": ' + "[" * 100 + "]" * 100 + "}"
    p.write_text(deep + "\n" + shallow + "\n" + '{"id": "ok", "text": "Fine."}\n')
    with pytest.raises(RecordError, match=r"deep\.jsonl, line 1: invalid JSON \(nested too deeply\)"):
        list(semclust.read(p))
    arts = semclust.read(p, skip_errors=True)
    assert [d.id for d in arts] == ["ok"]
    assert [(s.line, s.reason) for s in arts.skipped] == [
        (1, "invalid JSON (nested too deeply)"),
        (2, "lists and objects nest deeper than 64 levels (semclust.ingest.limits.MAX_NESTING)"),
    ]
    nested: object = "x"
    for _ in range(sys.getrecursionlimit() + 10):
        nested = [nested]
    with pytest.raises(RecordError, match="record 1: field 'meta': lists and objects nest deeper"):
        list(semclust.read([{"id": "p", "text": "y", "meta": nested}]))


def test_lone_surrogates_and_nan_are_record_errors(tmp_path: Path) -> None:
    p = tmp_path / "s.jsonl"
    p.write_text(
        '{"id": "t", "text": "bad \\ud800 text"}\n'
        '{"id": "bad \\udfff id", "text": "good text"}\n'
        '{"id": "m", "text": "good", "tags": ["a", "\\ud83d"]}\n'
        '{"id": "n", "text": "good", "score": NaN}\n'
        '{"id": "ok", "text": "good \\ud83d\\ude00 pair"}\n',
        encoding="utf-8",
    )
    with pytest.raises(RecordError, match=r"s\.jsonl, line 1: field 'text': a lone surrogate \('\\ud800'"):
        list(semclust.read(p))
    arts = semclust.read(p, skip_errors=True)
    assert [(d.id, d.text) for d in arts] == [("ok", "good 😀 pair")]
    assert [(s.line, s.reason.split(" (")[0]) for s in arts.skipped] == [
        (1, "a lone surrogate"),
        (2, "a lone surrogate"),
        (3, "a lone surrogate"),
        (4, "invalid JSON"),
    ]
    assert "NaN is not a JSON value" in arts.skipped[3].reason
    with pytest.raises(RecordError, match="record 1: field 'id': a lone surrogate"):
        list(semclust.read([{"id": "x\udc00", "text": "good"}]))
    with pytest.raises(RecordError, match="record 1: field 'score'"):
        list(semclust.read([{"id": "x", "text": "good", "score": float("inf")}]))


@pytest.mark.parametrize(
    "bad_id", ["   ", "", "\t\n", "\u200b", "a\x00b", "x\r\ny", ".", "x" * (MAX_ID_CHARS + 1)]
)
def test_ids_are_stripped_and_must_be_visible(tmp_path: Path, bad_id: str) -> None:
    p = tmp_path / "ids.jsonl"
    p.write_text(
        json.dumps({"id": bad_id, "text": "Some text."})
        + "\n"
        + json.dumps({"id": " ok ", "text": "More."})
        + "\n"
    )
    with pytest.raises(RecordError, match=r"ids\.jsonl, line 1: field 'id'"):
        list(semclust.read(p))
    arts = semclust.read(p, skip_errors=True)
    assert [d.id for d in arts] == ["ok"] and arts.skipped[0].line == 1
    with pytest.raises(RecordError, match="field 'id'"):
        list(semclust.read([semclust.Document(id=bad_id, text="Some text.")]))


def test_csv_id_of_spaces(tmp_path: Path) -> None:
    (tmp_path / "ids.csv").write_text('id,text\n"   ",Some text.\n2,More.\n')
    with pytest.raises(RecordError, match=r"ids\.csv, line 2: field 'id': empty or only white space"):
        list(semclust.read(tmp_path / "ids.csv"))


def test_an_absent_id_gets_a_default(tmp_path: Path) -> None:
    p = tmp_path / "r.jsonl"
    p.write_text('{"text": "One."}\n{"id": null, "text": "Two."}\n')
    assert [d.id for d in semclust.read(p)] == ["r:1", "r:2"]
    (tmp_path / "r.csv").write_text("id,text\n,One.\n")
    assert [d.id for d in semclust.read(tmp_path / "r.csv")] == ["r:2"]


@pytest.mark.parametrize(
    "text",
    ["\u200b\u200b\u200b", "\u200b \u200c\n\u200d\u2060\ufeff", "\u00ad", "...", " - ! ? "],
)
def test_text_without_letters_or_digits_is_empty(tmp_path: Path, text: str) -> None:
    p = tmp_path / "z.jsonl"
    p.write_text(json.dumps({"id": "z", "text": text}) + "\n")
    with pytest.raises(EmptyInputError, match=r"z\.jsonl, line 1: field 'text'"):
        list(semclust.read(p))
    (tmp_path / "z.txt").write_text(text, encoding="utf-8")
    with pytest.raises(EmptyInputError, match=r"z\.txt"):
        list(semclust.read(tmp_path / "z.txt"))
    with pytest.raises(EmptyInputError):
        list(semclust.read([text]))
