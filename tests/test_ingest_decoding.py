"""Decoding: legacy encodings are read when the guess is plausible text; bytes that only decode
into nonsense (box-drawing characters, CJK soup, one repeated letter) are refused."""

import gzip
import random
from pathlib import Path

import pytest

import semclust
from semclust.errors import BinaryFileError, DecodeError

REAL = {
    "fr.txt": ("Le café était fermé à Zürich, où la bière coûte cher. Déjà vu, ça! " * 40, "cp1252"),
    "ru.txt": (
        "Москва — столица России, крупнейший город страны. Здесь живут миллионы людей. " * 40,
        "cp1251",
    ),
    "el.txt": ("Η Αθήνα είναι η πρωτεύουσα της Ελλάδας και μία από τις αρχαιότερες πόλεις. " * 40, "cp1253"),
    "zh.txt": ("北京是中华人民共和国的首都，也是全国的政治中心和文化中心。\n" * 40, "gb18030"),
    "ja.txt": (
        "東京は日本の首都であり、世界最大の都市圏の一つである。人口は約千四百万人。\n" * 40,
        "shift_jis",
    ),
}


def test_legacy_encodings_still_read(tmp_path: Path) -> None:
    for name, (text, encoding) in REAL.items():
        (tmp_path / name).write_bytes(("Title\n" + text).encode(encoding))
    docs = {d.id: d for d in semclust.read(tmp_path)}
    for name, (text, _) in REAL.items():
        assert docs[name[:-4]].text == text.strip(), name


def _high_bytes() -> dict[str, bytes]:
    rng = random.Random(7)
    pool = [rng.randrange(0x80, 0x100) for _ in range(4)]
    return {
        "box-drawing": b"\xdb" * 20_000,  # cp949/cp437: one box-drawing character repeated
        "one-letter": b"\xb0" * 20_000,
        "four-bytes": bytes(rng.choice(pool) for _ in range(20_000)),
        "soup": bytes(rng.randrange(0xB0, 0xE0) for _ in range(20_000)),
        "with-newlines": b"\n".join(bytes(rng.choice(pool) for _ in range(3000)) for _ in range(7)),
    }


@pytest.mark.parametrize("name", sorted(_high_bytes()))
def test_high_bytes_are_refused_not_indexed(tmp_path: Path, name: str) -> None:
    p = tmp_path / f"{name}.txt"
    p.write_bytes(_high_bytes()[name])
    with pytest.raises(
        DecodeError,
        match=rf"{name}\.txt: (not UTF-8, and as .* it is not plausible text|could not determine)",
    ):
        list(semclust.read(p))
    gz = tmp_path / f"{name}.jsonl.gz"
    with gzip.open(gz, "wb") as f:
        f.write(_high_bytes()[name])
    with pytest.raises(DecodeError, match=rf"{name}\.jsonl\.gz"):
        list(semclust.read(gz))
    arts = semclust.read(tmp_path, skip_errors=True)
    assert list(arts) == [] and len(arts.skipped) == 2


def test_binary_and_mid_file_decode_errors(tmp_path: Path) -> None:
    (tmp_path / "bin.jsonl").write_bytes(b'{"id": 1}\x00\x01\x02' * 100)
    with pytest.raises(BinaryFileError, match=r"bin\.jsonl"):
        list(semclust.read(tmp_path / "bin.jsonl"))
    p = tmp_path / "late.jsonl"
    good = b'{"id": "a", "text": "fine"}\n' * 50_000  # past the first MiB, which decides the encoding
    p.write_bytes(good + b'{"id": "b", "text": "caf\xe9"}\n')
    with pytest.raises(DecodeError, match=r"late\.jsonl, line 50001: not valid utf-8 text"):
        list(semclust.read(p))


def test_record_files_in_other_encodings(tmp_path: Path) -> None:
    rows = '{"id": "a", "text": "Déjà vu in Zürich."}\n{"id": "b", "text": "Москва и Αθήνα."}\n'
    (tmp_path / "u16.jsonl").write_bytes(rows.encode("utf-16"))
    assert [d.text for d in semclust.read(tmp_path / "u16.jsonl")] == [
        "Déjà vu in Zürich.",
        "Москва и Αθήνα.",
    ]
    latin = "id,text\n1,Le café était fermé à Zürich; la bière coûte cher.\n2,Déjà vu à Genève.\n"
    (tmp_path / "latin.csv").write_bytes(latin.encode("cp1252"))
    assert [d.text for d in semclust.read(tmp_path / "latin.csv")] == [
        "Le café était fermé à Zürich; la bière coûte cher.",
        "Déjà vu à Genève.",
    ]
    (tmp_path / "bom.csv").write_bytes("\ufeffid,text\n1,With a BOM.\n".encode())
    (doc,) = semclust.read(tmp_path / "bom.csv")
    assert doc.id == "1"
