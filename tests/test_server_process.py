"""The service as processes run it: ``semclust serve`` end to end, and the store's write lock
held by another process (503 from the service, ``lock_timeout`` in the store)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest

import semclust
from semclust.errors import StoreLockedError

pytest.importorskip("fastapi", reason="the serve extra is not installed")
httpx = pytest.importorskip("httpx", reason="httpx is not installed")

import test_server  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from semclust.server.app import create_app  # noqa: E402

pytestmark = pytest.mark.integration
base_store_dir = test_server.base_store_dir  # the fixture, shared with test_server.py
embedder = test_server.embedder  # the fixture, shared with test_server.py
fresh_store = test_server.fresh_store  # the fixture, shared with test_server.py
ROOT = Path(__file__).resolve().parents[1]
CLI = "import sys; from semclust.cli import main; sys.exit(main())"
START_TIMEOUT_S = 180
KEY = "process-key"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "SEMCLUST_API_KEY"}


def _wait_healthy(base: str, proc: subprocess.Popen[bytes], log: Path) -> dict[str, object]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        assert proc.poll() is None, f"semclust serve exited ({proc.returncode}):\n{log.read_text()[-3000:]}"
        try:
            r = httpx.get(f"{base}/health", timeout=2)
            if r.status_code == 200:
                return dict(r.json())
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"no /health within {START_TIMEOUT_S}s:\n{log.read_text()[-3000:]}")


def test_cli_serve_end_to_end(base_store_dir: Path, tmp_path: Path) -> None:
    """The real command on a free loopback port: health, related, search, writes off, a log
    line per request with the id the client got; a clean exit on SIGTERM."""
    port = _free_port()
    base = f"http://127.0.0.1:{port}"
    log = tmp_path / "serve.log"
    cmd = [sys.executable, "-c", CLI, "serve", "--store", str(base_store_dir), "--port", str(port),
           "--log-level", "info"]
    with log.open("wb") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, env=_env(), stdout=out, stderr=subprocess.STDOUT)
    try:
        health = _wait_healthy(base, proc, log)
        assert health["articles"] == 7 and health["writes"] is False
        related = httpx.get(f"{base}/related/news/cats-purr", params={"k": 1}, timeout=30)
        assert related.status_code == 200, related.text
        assert [h["doc_id"] for h in related.json()["results"]] == ["news/kitten-care"]
        search = httpx.get(f"{base}/search", params={"q": "football striker scores goals", "k": 2}, timeout=30)
        assert {h["doc_id"] for h in search.json()["results"]} == {"news/league-final", "news/transfer"}
        post = httpx.post(f"{base}/documents", json=[{"id": "x", "text": "y"}], timeout=30)
        assert post.status_code == 403
        missing = httpx.get(f"{base}/documents/no-such-id", timeout=30)
        assert missing.status_code == 404
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:  # pragma: no cover - reported below
            proc.kill()
            proc.wait()
    text = log.read_text()
    # uvicorn shuts down cleanly, then re-raises the SIGTERM it caught
    assert proc.returncode in (0, -signal.SIGTERM), text[-3000:]
    assert "Application shutdown complete" in text
    for reply, target in ((related, "/related/news/cats-purr?k=1"), (missing, "/documents/no-such-id")):
        rid = reply.headers["x-request-id"]
        assert any(rid in line and target in line for line in text.splitlines()), text[-3000:]
    assert "Traceback" not in text


def test_serve_on_all_interfaces_warns_in_its_log(base_store_dir: Path) -> None:
    """serve() configures logging itself, so its warning for a public address is seen."""
    code = (
        "import uvicorn\nuvicorn.run = lambda app, **kw: print('run', kw['host'], kw['log_level'])\n"
        "from semclust.server.app import serve\n"
        f"serve({str(base_store_dir)!r}, host='0.0.0.0', warm=False, log_level='warning')\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=_env(), capture_output=True,
                         text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "run 0.0.0.0 warning" in out.stdout
    assert "WARNING" in out.stderr and "reachable from other machines" in out.stderr


@contextmanager
def _lock_held(store_dir: Path, seconds: float = 120.0) -> Iterator[subprocess.Popen[str]]:
    """Another process holding the store's write lock (as a writer would) for ``seconds``."""
    code = (
        "import sys, time\nfrom filelock import FileLock\n"
        "lock = FileLock(sys.argv[1])\nlock.acquire()\nprint('held', flush=True)\n"
        "time.sleep(float(sys.argv[2]))\nlock.release()\n"
    )
    proc = subprocess.Popen([sys.executable, "-c", code, str(store_dir / "write.lock"), str(seconds)],
                            stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None and proc.stdout.readline().strip() == "held"
        yield proc
    finally:
        proc.kill()
        proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def test_writes_are_503_while_another_process_holds_the_lock(
    fresh_store: semclust.Store,
) -> None:
    c = TestClient(create_app(fresh_store, api_key=KEY, warm=False))
    doc = {"id": "news/locked-out", "text": "An article written while the store was locked."}
    gen = fresh_store.generation
    with _lock_held(fresh_store.path):
        r = c.post("/documents", json=[doc], headers={"X-API-Key": KEY})
        assert r.status_code == 503, r.text
        assert r.headers["retry-after"] == "1" and "another process is writing" in r.json()["detail"]
        d = c.delete("/documents/news/rates", headers={"X-API-Key": KEY})
        assert d.status_code == 503
        assert c.get("/related/news/rates?k=2").status_code == 200  # reads go on
        assert fresh_store.generation == gen and "news/rates" in fresh_store
    r = c.post("/documents", json=[doc], headers={"X-API-Key": KEY})
    assert r.status_code == 200 and r.json()["added"] == ["news/locked-out"]


def test_lock_timeout_waits_then_gives_up(
    fresh_store: semclust.Store, embedder: semclust.Embedder,
) -> None:
    path = fresh_store.path
    doc = {"id": "news/patient", "text": "An article from a writer that waits for the lock."}
    with _lock_held(path), semclust.Store.open(
        path, model=embedder, cache=False, create=False, lock_timeout=0.6
    ) as waiting:
        t0 = time.perf_counter()
        with pytest.raises(StoreLockedError, match="another process is writing"):
            waiting.add([doc])
        assert 0.5 <= time.perf_counter() - t0 < 30
        assert "news/patient" not in waiting
    with _lock_held(path, seconds=1.5), semclust.Store.open(
        path, model=embedder, cache=False, create=False, lock_timeout=60
    ) as patient:
        t0 = time.perf_counter()
        patient.add([doc])  # the other writer lets go after 1.5 s
        assert time.perf_counter() - t0 >= 1.0
        assert "news/patient" in patient
