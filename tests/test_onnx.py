"""The ONNX backends (onnx, onnx-int8) on the real bundled model, against sentence-transformers.

The export happens once per test session, into the session's cache folder (the one conftest
points ``SEMCLUST_CACHE_DIR`` at), and every test here reuses it.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import SEEDS

import semclust
from semclust.chunking import chunk_document
from semclust.embeddings import default_backend, factory, get_embedder
from semclust.embeddings.model_files import bundled_model_path
from semclust.embeddings.onnx import OnnxEmbedder
from semclust.errors import EmbeddingMismatchError, InvalidArgumentError, ModelError

pytestmark = pytest.mark.integration

HEAVY = ("torch", "transformers", "sentence_transformers")


@pytest.fixture(scope="session")
def export_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The session cache's export folder (what ``default_cache_dir() / "onnx"`` is in tests)."""
    return tmp_path_factory.getbasetemp() / "cache" / "onnx"


@pytest.fixture(scope="session")
def onnx_models(export_dir: Path) -> dict[str, Any]:
    models = {b: get_embedder(backend=b, export_dir=export_dir) for b in ("onnx", "onnx-int8")}
    for m in models.values():
        m.export()
    return models


@pytest.fixture(scope="session")
def torch_model() -> Any:
    return get_embedder(backend="torch")


@pytest.fixture(scope="session")
def seed_texts(torch_model: Any) -> list[str]:
    """The seed articles' chunks as embedded, plus the whole articles (longer than the model's
    limit, so truncation is compared too) and a few short texts."""
    docs = list(semclust.read(SEEDS))
    chunks = [
        c.embed_text
        for d in docs
        for c in chunk_document(d, torch_model.tokenizer, max_tokens=torch_model.max_tokens)
    ]
    return [*chunks, *(d.text for d in docs), "Hungary", "NATO is watching China closely."]


def test_vectors_match_sentence_transformers(onnx_models: dict[str, Any], torch_model: Any, seed_texts: list[str]) -> None:
    ref = torch_model.embed(seed_texts)
    assert len(seed_texts) > 6
    for backend, floor in (("onnx", 0.9999), ("onnx-int8", 0.99)):
        model = onnx_models[backend]
        assert model.backend == backend and model.name == "all-MiniLM-L6-v2"
        assert model.dimension == torch_model.dimension == 384
        assert model.max_tokens == torch_model.max_tokens == 254
        assert model.tokenizer.count_tokens(seed_texts) == torch_model.tokenizer.count_tokens(seed_texts)
        vecs = model.embed(seed_texts)
        assert vecs.shape == ref.shape and vecs.dtype == np.float32
        np.testing.assert_allclose(np.linalg.norm(vecs, axis=1), 1.0, rtol=1e-5)
        cos = (vecs * ref).sum(axis=1)
        # chunks and whole (truncated) articles; short texts are a little further off in int8
        assert cos[:-2].min() >= floor, (backend, cos.round(4).tolist())
        assert cos[-2:].min() >= floor - 0.02, (backend, cos.round(4).tolist())


def _many_texts(seed_texts: list[str]) -> list[str]:
    """Over 256 texts (tokenised ahead in groups), mostly short, of many lengths."""
    words = " ".join(seed_texts).split()
    short = [" ".join(words[i : i + 3 + i % 17]) for i in range(0, 7 * 280, 7)]
    return short[:140] + seed_texts[:4] + short[140:]


def test_int8_vector_of_a_text_does_not_depend_on_its_batch(onnx_models: dict[str, Any], export_dir: Path, seed_texts: list[str]) -> None:
    """int8 activations are quantised per batch, so by default each text is its own batch."""
    int8 = onnx_models["onnx-int8"]
    texts = _many_texts(seed_texts)
    base = int8.embed(texts)
    np.testing.assert_array_equal(int8.embed(texts[::-1])[::-1], base)
    np.testing.assert_array_equal(int8.embed([texts[5]])[0], base[5])
    for options in (
        {"tokenize_ahead": True, "threads": 1},
        {"parallel_batches": False, "threads": 2, "spinning": True, "memory_arena": False},
    ):
        other = OnnxEmbedder(export_dir=export_dir, **options)
        assert other.fingerprint == int8.fingerprint
        np.testing.assert_allclose(other.embed(texts), base, atol=1e-6)
    batched = OnnxEmbedder(export_dir=export_dir, batch_size=32)
    assert batched.fingerprint != int8.fingerprint  # its vectors depend on the batch
    cos = (batched.embed(texts) * base).sum(axis=1)
    assert 0.9 < cos.min() < 0.999  # short texts batched with long ones move most


def test_fp32_batching_options_do_not_change_vectors(onnx_models: dict[str, Any], export_dir: Path, seed_texts: list[str]) -> None:
    fp32 = onnx_models["onnx"]
    texts = _many_texts(seed_texts)
    base = fp32.embed(texts)
    for options in (
        {"sort_by_length": False, "batch_tokens": None, "batch_size": 7},
        {"batch_tokens": 300, "tokenize_ahead": True, "threads": 1},
        {"graph_optimization": "basic", "parallel_batches": False},
    ):
        other = OnnxEmbedder(quantize=False, export_dir=export_dir, **options)
        assert other.fingerprint == fp32.fingerprint
        np.testing.assert_allclose(other.embed(texts), base, atol=2e-5)
    assert fp32.embed([]).shape == (0, 384)


def test_fingerprints_differ_by_backend_and_are_stable(onnx_models: dict[str, Any], torch_model: Any, export_dir: Path) -> None:
    prints = {
        "torch": torch_model.fingerprint,
        "onnx": onnx_models["onnx"].fingerprint,
        "onnx-int8": onnx_models["onnx-int8"].fingerprint,
        "int8 per-tensor": OnnxEmbedder(per_channel=False, export_dir=export_dir).fingerprint,
        "onnx max_seq 128": OnnxEmbedder(quantize=False, max_seq_length=128, export_dir=export_dir).fingerprint,
    }
    assert len(set(prints.values())) == len(prints), prints
    assert get_embedder(backend="onnx", export_dir=export_dir).fingerprint == prints["onnx"]
    assert get_embedder(backend="onnx-int8").fingerprint == prints["onnx-int8"]
    alias = get_embedder(backend="sentence-transformers")
    assert alias.backend == "torch" and alias.fingerprint == prints["torch"]


def test_export_folder_manifest_and_reuse(onnx_models: dict[str, Any], export_dir: Path) -> None:
    int8 = onnx_models["onnx-int8"]
    path = int8.export()
    assert path.parent == int8.export_folder and path.parent.parent == export_dir
    manifest = json.loads((path.parent / "manifest.json").read_text())
    assert manifest["format_version"] == 1 and manifest["backend"] == "onnx-int8"
    assert manifest["quantization"]["weight_type"] == "QInt8" and manifest["quantization"]["per_channel"]
    assert manifest["model_bytes"] == path.stat().st_size
    assert {"onnxruntime", "onnx", "torch", "transformers"} <= set(manifest["versions"])
    fp32 = json.loads((onnx_models["onnx"].export().parent / "manifest.json").read_text())
    assert fp32["quantization"] is None and fp32["source_digest"] == manifest["source_digest"]
    assert path.stat().st_size < 0.3 * onnx_models["onnx"].export().stat().st_size
    mtime = path.stat().st_mtime_ns
    assert OnnxEmbedder(export_dir=export_dir).export() == path and path.stat().st_mtime_ns == mtime
    assert not [p.name for p in export_dir.iterdir() if p.name.startswith(".")]  # no temp folders left


def test_cached_export_needs_no_torch(onnx_models: dict[str, Any], export_dir: Path) -> None:
    code = (
        "import json, sys\n"
        "import semclust.embeddings\n"
        f"before = [m for m in {(*HEAVY, 'onnxruntime')!r} if m in sys.modules]\n"
        "from semclust.embeddings import get_embedder\n"
        "out = {'before': before}\n"
        "for b in ('onnx-int8', 'onnx'):\n"
        "    out[b] = get_embedder(backend=b).embed(['China offers Hungary security support.'])[0].tolist()\n"
        f"out['after'] = [m for m in {HEAVY!r} if m in sys.modules]\n"
        "print(json.dumps(out))\n"
    )
    env = {**os.environ, "SEMCLUST_CACHE_DIR": str(export_dir.parent)}
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["before"] == [] and out["after"] == []
    # and a fresh process gives the very same vectors
    for b in ("onnx-int8", "onnx"):
        here = onnx_models[b].embed(["China offers Hungary security support."])[0]
        np.testing.assert_allclose(np.array(out[b]), here, atol=1e-6)


def test_concurrent_exports_are_safe_and_deterministic(onnx_models: dict[str, Any], tmp_path: Path) -> None:
    """Two processes export into an empty folder at once: one exports, the other waits; the
    file is byte-for-byte the session's export."""
    code = (
        "import sys\n"
        "from semclust.embeddings.onnx import OnnxEmbedder\n"
        "print(OnnxEmbedder(quantize=False, export_dir=sys.argv[1]).export())\n"
    )
    procs = [
        subprocess.Popen([sys.executable, "-c", code, str(tmp_path)], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        for _ in range(2)
    ]
    outs = [p.communicate(timeout=300) for p in procs]
    assert all(p.returncode == 0 for p in procs), [o[1][-2000:] for o in outs]
    paths = {o[0].strip() for o in outs}
    assert len(paths) == 1
    made = Path(paths.pop())
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([made.parent.name, made.parent.name + ".lock"])
    ours = onnx_models["onnx"].export().parent / "manifest.json"
    assert json.loads((made.parent / "manifest.json").read_text())["model_sha256"] == json.loads(ours.read_text())["model_sha256"]


def _model_copy(tmp_path: Path, pooling: dict[str, Any]) -> Path:
    """The bundled model's folder with another pooling config (weights linked, not copied)."""
    src = bundled_model_path()
    dst = tmp_path / "model"
    shutil.copytree(src, dst, ignore=shutil.ignore_patterns("*.safetensors", "README.md"))
    for w in src.glob("*.safetensors"):
        (dst / w.name).symlink_to(w)
    (dst / "1_Pooling" / "config.json").write_text(json.dumps(pooling))
    return dst


@pytest.mark.parametrize(
    ("pooling", "modes"),
    [
        ({"word_embedding_dimension": 384, "pooling_mode_cls_token": True, "pooling_mode_mean_tokens": False}, ("cls",)),
        ({"embedding_dimension": 384, "pooling_mode": ["mean", "max"], "include_prompt": True}, ("mean", "max")),
        ({"embedding_dimension": 384, "pooling_mode": "weightedmean"}, ("weightedmean",)),
        ({"embedding_dimension": 384, "pooling_mode": "lasttoken"}, ("lasttoken",)),
    ],
)
def test_pooling_config_is_honoured(
    pooling: dict[str, Any], modes: tuple[str, ...], tmp_path: Path, export_dir: Path, onnx_models: dict[str, Any], seed_texts: list[str]
) -> None:
    from sentence_transformers import SentenceTransformer

    folder = _model_copy(tmp_path, pooling)
    before = sorted(p.name for p in export_dir.iterdir())
    model = get_embedder(folder, backend="onnx", export_dir=export_dir)
    assert model.pooling_modes == modes and model.dimension == 384 * len(modes)
    texts = seed_texts[-6:]
    vecs = model.embed(texts)
    assert sorted(p.name for p in export_dir.iterdir()) == before  # same transformer: export reused
    st = SentenceTransformer(str(folder), device="cpu", local_files_only=True)
    ref = st.encode(texts, normalize_embeddings=True, convert_to_numpy=True)
    assert (vecs * ref).sum(axis=1).min() > 0.9999
    if len(modes) == 1:
        mean = onnx_models["onnx"].embed(texts)
        assert (vecs * mean).sum(axis=1).min() < 0.99  # the pooling really changed
    assert model.fingerprint != onnx_models["onnx"].fingerprint


def test_default_backend_is_auto(monkeypatch: pytest.MonkeyPatch, onnx_models: dict[str, Any]) -> None:
    expected = default_backend()
    assert expected in {"onnx-int8", "onnx", "torch"}
    assert get_embedder().backend == expected
    assert get_embedder(backend="auto").fingerprint == get_embedder(backend=expected).fingerprint
    monkeypatch.setattr(factory, "cpu_has_vnni", lambda: False)
    assert default_backend() == "onnx" and get_embedder().backend == "onnx"
    monkeypatch.setattr(factory, "cpu_has_vnni", lambda: True)
    assert default_backend() == "onnx-int8"


@pytest.mark.parametrize(
    "damage",
    ["missing", "empty", "dense", "bad pooling", "no tokenizer"],
)
def test_bad_model_gives_model_error(damage: str, tmp_path: Path) -> None:
    if damage == "missing":
        folder = tmp_path / "no-such-model"
    elif damage == "empty":
        folder = tmp_path / "empty"
        folder.mkdir()
    else:
        folder = _model_copy(tmp_path, {"word_embedding_dimension": 384, "pooling_mode_mean_tokens": True})
        if damage == "dense":
            modules = json.loads((folder / "modules.json").read_text())
            modules.insert(2, {"idx": 2, "name": "2", "path": "2_Dense", "type": "sentence_transformers.models.Dense"})
            modules[-1]["idx"] = 3
            (folder / "modules.json").write_text(json.dumps(modules))
        elif damage == "bad pooling":
            (folder / "1_Pooling" / "config.json").write_text(json.dumps({"pooling_mode": "median"}))
        else:
            (folder / "tokenizer.json").unlink()
    with pytest.raises(ModelError) as err:
        get_embedder(folder, backend="onnx-int8")
    message = str(err.value)
    assert {"missing": "no model folder", "empty": "not a sentence-transformers model", "dense": "Dense",
            "bad pooling": "median", "no tokenizer": "tokenizer.json"}[damage] in message
    assert "backend='torch'" in message or damage in {"missing", "empty"}


def test_bad_options_are_refused() -> None:
    with pytest.raises(InvalidArgumentError):
        OnnxEmbedder(batch_size=0)
    with pytest.raises(InvalidArgumentError):
        OnnxEmbedder(graph_optimization="max")
    with pytest.raises(InvalidArgumentError, match="auto"):
        get_embedder(backend="tensorflow")


def test_store_keeps_backends_apart(tmp_path: Path, onnx_models: dict[str, Any], torch_model: Any) -> None:
    path = tmp_path / "int8.semclust"
    with semclust.Store.open(path, model=onnx_models["onnx-int8"], cache=False) as store:
        store.add(semclust.read(SEEDS))
        assert store.search("Chinese security cooperation with Hungary", k=1).ids == ["china-hungary-security"]
    with semclust.Store.open(path, cache=False) as again:  # the manifest names the backend
        assert again.embedder.backend == "onnx-int8"
        assert again.related("china-hungary-security", k=1).ids == ["nato-china-watching-ukraine"]
    for other in (torch_model, onnx_models["onnx"]):
        with pytest.raises(EmbeddingMismatchError):
            semclust.Store.open(path, model=other, cache=False)
    with pytest.raises(EmbeddingMismatchError, match=r"re-embed.*--backend torch"):
        semclust.Store.open(path, backend="torch", cache=False)  # by name, as the CLI does
    with semclust.Store.open(path, backend="auto", cache=False) as same:  # "auto": the store's own
        assert same.embedder.backend == "onnx-int8"
