from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path
from typing import Any

import pytest

sys.path.insert(0, str(Path(__file__).parent))

from fake_embedder import FakeEmbedder

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"


def data_dir() -> Path | None:
    env = os.environ.get("SEMCLUST_DATA")
    path = Path(env) if env else ROOT.parent / "shared" / "data"
    return path if path.is_dir() else None


@pytest.fixture(scope="session", autouse=True)
def _session_cache(tmp_path_factory: pytest.TempPathFactory) -> Any:
    """Session fixtures (set up before per-test ones) also use the test cache folder, so the
    ONNX export happens once per test session and never in the user's cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("SEMCLUST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))
    yield
    mp.undo()


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets its own embedding cache folder (shared per session for speed)."""
    monkeypatch.setenv("SEMCLUST_CACHE_DIR", str(tmp_path_factory.getbasetemp() / "cache"))


@pytest.fixture
def fake() -> FakeEmbedder:
    return FakeEmbedder()


@pytest.fixture
def make_store(tmp_path: Path, fake: FakeEmbedder):
    import semclust

    def _make(name: str = "s", **kw):
        kw.setdefault("model", fake)
        kw.setdefault("cache", False)
        return semclust.Store.open(tmp_path / name, **kw)

    return _make


@pytest.fixture(scope="session")
def real_seed_store(tmp_path_factory: pytest.TempPathFactory):
    """A store of the seed articles with the real bundled model."""
    import semclust

    store = semclust.Store.open(tmp_path_factory.mktemp("real") / "seeds.semclust", cache=False)
    store.add(semclust.read(SEEDS))
    return store


CHROMIUM = os.environ.get("SEMCLUST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]


def browser_or_skip() -> Any:
    """Playwright's sync API with Debian's chromium; skips locally when missing, fails under CI."""
    ci = bool(os.environ.get("CI"))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        if ci:
            pytest.fail("playwright is not installed (pip install playwright; no browser download)")
        pytest.skip("playwright is not installed")
    if not Path(CHROMIUM).exists():
        if ci:
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    return sync_playwright
