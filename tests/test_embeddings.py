"""The embeddings layer: the backend factory and its VNNI decision, the torch backend end to end,
the library leaving logging alone, and vectors checked before anything is cached or written."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

import numpy as np
import pytest
from conftest import SEEDS
from fake_embedder import FakeEmbedder

import semclust
from semclust.embeddings import EmbeddingCache, check_vectors, embed_with_cache, factory
from semclust.errors import ModelError

AVX512 = "fpu vme de pse tsc msr avx avx2 avx512f avx512bw avx512vl"
CPUINFO = """processor\t: 0
vendor_id\t: GenuineIntel
model name\t: Some CPU
flags\t\t: {flags}
vmx flags\t: vnmi preemption_timer avx512_vnni
bugs\t\t: spectre_v1

processor\t: 1
flags\t\t: {flags}
"""


# -- the VNNI decision, through /proc/cpuinfo-like text --------------------------------------


@pytest.mark.parametrize(
    ("flags", "machine", "vnni"),
    [
        (f"{AVX512} avx512_vnni", "x86_64", True),
        (f"{AVX512} avx_vnni", "x86_64", True),
        (f"{AVX512} avx512_vnni", "AMD64", True),
        (AVX512, "x86_64", False),  # the "vmx flags" line's avx512_vnni does not count
        (f"{AVX512} avx512_vnni_extra", "x86_64", False),  # whole flags only
        (f"{AVX512} avx512_vnni", "aarch64", False),  # int8 on ARM: not this decision
    ],
)
def test_vnni_is_read_from_the_flags_line(flags: str, machine: str, vnni: bool) -> None:
    assert factory.vnni_in_cpuinfo(CPUINFO.format(flags=flags), machine) is vnni


def test_vnni_without_a_flags_line() -> None:
    assert factory.vnni_in_cpuinfo("processor\t: 0\nvmx flags\t: avx512_vnni\n", "x86_64") is False
    assert factory.vnni_in_cpuinfo("", "x86_64") is False


@pytest.fixture
def fake_cpu(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """A fake ``/proc/cpuinfo`` on an x86-64 machine; the cached answer is cleared around."""
    path = tmp_path / "cpuinfo"
    monkeypatch.setattr(factory, "CPUINFO", path)
    monkeypatch.setattr(factory.platform, "machine", lambda: "x86_64")
    factory.cpu_has_vnni.cache_clear()
    yield path
    factory.cpu_has_vnni.cache_clear()


def test_default_backend_follows_the_cpu(fake_cpu: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    fake_cpu.write_text(CPUINFO.format(flags=f"{AVX512} avx512_vnni"))
    assert factory.cpu_has_vnni() and factory.default_backend() == "onnx-int8"
    factory.cpu_has_vnni.cache_clear()
    fake_cpu.write_text(CPUINFO.format(flags=AVX512))
    assert not factory.cpu_has_vnni() and factory.default_backend() == "onnx"
    factory.cpu_has_vnni.cache_clear()
    fake_cpu.unlink()  # no /proc/cpuinfo (not Linux): float32
    assert factory.default_backend() == "onnx"
    factory.cpu_has_vnni.cache_clear()
    fake_cpu.write_text(CPUINFO.format(flags=f"{AVX512} avx512_vnni"))
    monkeypatch.setattr(factory.platform, "machine", lambda: "arm64")
    assert factory.default_backend() == "onnx"


def test_factory_knows_the_backends_lazily() -> None:
    code = (
        "import sys, json\n"
        "from semclust.embeddings import available_backends\n"
        "print(json.dumps([available_backends(), [m for m in ('semclust.embeddings.torch', "
        "'semclust.embeddings.onnx', 'onnxruntime', 'torch') if m in sys.modules]]))\n"
    )
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert res.returncode == 0, res.stderr[-2000:]
    backends, loaded = json.loads(res.stdout.strip().splitlines()[-1])
    assert backends == ["onnx", "onnx-int8", "sentence-transformers", "torch"]
    assert loaded == []


# -- the torch backend, end to end ------------------------------------------------------------

OTHERS = [
    {
        "id": "cup-final",
        "title": "Cup final",
        "text": "The striker scored twice as the home side won the cup final "
        "in extra time, and the fans celebrated in the stadium until late.",
    },
    {
        "id": "sourdough",
        "title": "Baking bread",
        "text": "Feed the starter, mix flour and water, fold the dough every "
        "half hour and bake the loaf in a hot oven with steam.",
    },
]


@pytest.mark.integration
def test_torch_backend_builds_and_searches_a_store(tmp_path: Path) -> None:
    path = tmp_path / "torch.semclust"
    torch_model = semclust.get_embedder(backend="torch")
    with semclust.Store.open(path, backend="torch", cache=False) as store:
        store.add(semclust.read(SEEDS))
        store.add(OTHERS)
        info = store.info()
        assert info["model"]["backend"] == "torch" and info["model"]["name"] == "all-MiniLM-L6-v2"
        assert info["model"]["fingerprint"] == torch_model.fingerprint
        assert info["articles"] == 4
        assert store.search("Chinese security cooperation with Hungary", k=1).ids == [
            "china-hungary-security"
        ]
        assert store.search("who won the football match", k=1).ids == ["cup-final"]
        assert store.related("china-hungary-security", k=1).ids == ["nato-china-watching-ukraine"]
        assert store.related("cup-final", k=3).ids[-1] != "cup-final"
        vectors, _, doc_ids = store.embeddings()
        chunks = [c.embed_text for c in store.chunks("sourdough")]
        # the stored vectors are the torch model's own
        row = doc_ids.index("sourdough")
        np.testing.assert_allclose(vectors[row], torch_model.embed(chunks)[0], atol=1e-5)
    with semclust.Store.open(path, cache=False) as again:  # the manifest names the backend
        assert again.embedder.backend == "torch"
        assert again.related("nato-china-watching-ukraine", k=1).ids == ["china-hungary-security"]


# -- the library never configures logging -----------------------------------------------------

LOGGING_PROBE = r"""
import json, logging, sys
import semclust  # its documented NullHandler on the "semclust" logger comes with the import
named = ("transformers", "onnxruntime", "torch", "semclust", "huggingface_hub")
for name, level in zip(named, (logging.DEBUG, logging.DEBUG, logging.ERROR, logging.INFO, logging.CRITICAL)):
    logging.getLogger(name).setLevel(level)
def state():
    root = logging.getLogger()
    return {
        "root": [[type(h).__name__ for h in root.handlers], root.level, len(root.filters)],
        "loggers": {n: [logging.getLogger(n).level, len(logging.getLogger(n).handlers),
                        logging.getLogger(n).propagate] for n in named},
        "disable": logging.root.manager.disable,
    }
before = state()
from semclust.embeddings import get_embedder
for backend in sys.argv[2:]:
    options = {"export_dir": sys.argv[1]} if backend.startswith("onnx") else {}
    model = get_embedder(backend=backend, **options)
    model.embed(["China offers Hungary security support."])
print(json.dumps({"before": before, "after": state()}))
"""


@pytest.mark.integration
def test_export_and_backends_leave_logging_as_they_found_it(tmp_path: Path) -> None:
    """A fresh int8 export (whose quantiser logs through the root logger) and the torch backend,
    in a process whose application set some logger levels and configured no handler."""
    env = {**os.environ, "SEMCLUST_CACHE_DIR": str(tmp_path / "cache")}
    res = subprocess.run(
        [sys.executable, "-c", LOGGING_PROBE, str(tmp_path / "onnx"), "onnx-int8", "torch"],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert res.returncode == 0, res.stderr[-3000:]
    out = json.loads(res.stdout.strip().splitlines()[-1])
    assert out["after"] == out["before"]
    assert out["before"]["root"] == [[], 30, 0]
    assert "pre-processing" not in res.stderr and "Quantization parameters" not in res.stderr
    assert list((tmp_path / "onnx").glob("int8-*/model.onnx"))  # it did export


# -- vectors are checked before anything is cached or written ----------------------------------


class BrokenEmbedder(FakeEmbedder):
    """The fake embedder, with NaN (or infinite) vectors for texts that contain ``poison``."""

    backend = "broken"

    def __init__(self, bad: float = float("nan"), **kw: object) -> None:
        super().__init__("broken-model", **kw)  # type: ignore[arg-type]
        self.bad = bad

    def embed(self, texts: Sequence[str], *, progress: bool = False) -> np.ndarray:
        out = super().embed(texts, progress=progress)
        out[["poison" in t for t in texts]] = self.bad
        return out


@pytest.mark.parametrize("bad", [float("nan"), float("inf")])
def test_non_finite_vectors_are_refused_and_not_cached(tmp_path: Path, bad: float) -> None:
    model = BrokenEmbedder(bad)
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    with pytest.raises(ModelError, match=r"'broken-model'.*NaN or infinite.*1 of 2 texts.*'poison pill'"):
        embed_with_cache(model, ["plain words", "poison pill"], cache)
    assert len(cache) == 0
    vecs, embedded = embed_with_cache(model, ["plain words"], cache)
    assert embedded == 1 and len(cache) == 1 and np.isfinite(vecs).all()
    cache.close()


def test_a_cached_non_finite_vector_is_embedded_again(tmp_path: Path) -> None:
    model = FakeEmbedder()
    cache = EmbeddingCache(tmp_path / "cache.sqlite")
    cache.put(model.fingerprint, ["old text"], np.full((1, model.dimension), np.nan, np.float32))
    vecs, embedded = embed_with_cache(model, ["old text"], cache)
    assert embedded == 1 and np.isfinite(vecs).all()
    cache.close()


def test_wrong_shape_from_an_embedder_is_a_model_error() -> None:
    model = FakeEmbedder()
    with pytest.raises(ModelError, match=r"shape \(1, 64\) for 2 texts; expected \(2, 64\)"):
        check_vectors(model, ["a", "b"], np.zeros((1, 64), np.float32))


def test_store_add_with_nan_vectors_writes_nothing(make_store) -> None:
    store = make_store("nan", model=BrokenEmbedder())
    store.add([{"id": "first", "text": "plain words about the weather"}])
    before = store.info()
    with pytest.raises(ModelError, match="poison"):
        store.add([{"id": "ok", "text": "more plain words"}, {"id": "bad", "text": "a poison text"}])
    after = store.info()
    assert after["articles"] == before["articles"] == 1 and after["generation"] == before["generation"]
    assert store.search("weather", k=5).ids == ["first"]
    store.add([{"id": "ok", "text": "more plain words"}])  # the store still takes good articles
    assert store.info()["articles"] == 2


def test_search_refuses_a_nan_query_vector(make_store) -> None:
    store = make_store("nanq", model=BrokenEmbedder())
    store.add([{"id": "first", "text": "plain words about the weather"}])
    with pytest.raises(ModelError, match="poison"):
        store.search("poison query", k=1)
    assert store.search("weather", k=1).ids == ["first"]
