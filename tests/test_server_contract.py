"""The HTTP service's contract: replies against its OpenAPI schemas, ids on write, no absolute
paths, request ids in the log, the writer thread (semclust.server)."""

from __future__ import annotations

import logging
import threading
import time
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

import semclust

pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")
jsonschema = pytest.importorskip("jsonschema", reason="jsonschema is not installed")

import test_server  # noqa: E402
from fastapi.testclient import TestClient  # noqa: E402

from semclust.server import service as service_module  # noqa: E402
from semclust.server.app import create_app  # noqa: E402
from semclust.server.service import public_metadata  # noqa: E402

pytestmark = pytest.mark.integration
base_store_dir = test_server.base_store_dir  # the fixture, shared with test_server.py
embedder = test_server.embedder  # the fixture, shared with test_server.py
fresh_store = test_server.fresh_store  # the fixture, shared with test_server.py
store = test_server.store  # the fixture, shared with test_server.py
KEY = "contract-key"


class OpenAPIChecker:
    """Validates a reply against the schema the app's OpenAPI document gives for its route,
    method and status (which must be documented)."""

    def __init__(self, spec: dict[str, Any]) -> None:
        self.spec = spec
        self.checked: set[tuple[str, str, int]] = set()

    def check(self, route: str, method: str, response: Any) -> Any:
        operation = self.spec["paths"][route][method.lower()]
        status = str(response.status_code)
        assert status in operation["responses"], f"{method} {route}: {status} is not documented"
        content = operation["responses"][status].get("content", {})
        schema = content["application/json"]["schema"]
        body = response.json()
        root = {**schema, "components": self.spec["components"]}
        jsonschema.Draft202012Validator(root).validate(body)
        self.checked.add((route, method, response.status_code))
        return body


def _client(store: semclust.Store, **kw: Any) -> TestClient:
    return TestClient(create_app(store, api_key=KEY, warm=False, **kw), raise_server_exceptions=False)


def test_every_reply_matches_its_openapi_schema(fresh_store: semclust.Store) -> None:
    c = _client(fresh_store, max_batch=2)
    api = OpenAPIChecker(c.get("/openapi.json").json())
    auth = {"X-API-Key": KEY}
    related = api.check("/related/{doc_id}", "GET", c.get("/related/news/cats-purr?k=3"))
    assert len(related["results"]) == 3
    api.check("/related/{doc_id}", "GET", c.get("/related/no-such-id"))
    api.check("/related/{doc_id}", "GET", c.get("/related/news/cats-purr?k=0"))
    api.check("/search", "GET", c.get("/search?q=football&k=2"))
    api.check("/search", "GET", c.get("/search?q=%20"))
    doc = api.check("/documents/{doc_id}", "GET", c.get("/documents/news/rates"))
    assert doc["id"] == "news/rates"
    api.check("/documents/{doc_id}", "GET", c.get("/documents/nope"))
    new = {"id": "news/new", "text": "A brand new article about cats purring at home.", "tags": ["x"]}
    added = api.check("/documents", "POST", c.post("/documents", json=[new], headers=auth))
    assert added["added"] == ["news/new"]
    api.check("/documents", "POST", c.post("/documents", json=[new]))
    api.check("/documents", "POST", c.post("/documents", json=[new], headers={"X-API-Key": "no"}))
    api.check("/documents", "POST", c.post("/documents", json=[new] * 3, headers=auth))
    api.check("/documents", "POST", c.post("/documents", json=[{"id": "x"}], headers=auth))
    api.check("/documents/{doc_id}", "DELETE", c.delete("/documents/news/new", headers=auth))
    api.check("/documents/{doc_id}", "DELETE", c.delete("/documents/news/new", headers=auth))
    api.check("/themes", "GET", c.get("/themes"))
    api.check("/themes/{theme_id}", "GET", c.get("/themes/0"))
    api.check("/health", "GET", c.get("/health"))
    statuses = {(route, status) for route, _, status in api.checked}
    assert {200, 401, 403, 404, 413, 422} == {s for _, s in statuses}


def test_hit_model_is_hit_to_dict(store: semclust.Store) -> None:
    """The documented hit is exactly Hit.to_dict(): same fields, nothing more."""
    spec = TestClient(create_app(store, warm=False)).get("/openapi.json").json()
    hit_schema = spec["components"]["schemas"]["HitOut"]
    hit = store.related("news/cats-purr", k=1)[0]
    assert set(hit_schema["properties"]) == set(hit.to_dict())
    assert hit_schema["additionalProperties"] is False


def test_themes_reply_matches_its_schema(fresh_store: semclust.Store) -> None:
    fresh_store.themes()
    c = _client(fresh_store)
    api = OpenAPIChecker(c.get("/openapi.json").json())
    body = api.check("/themes", "GET", c.get("/themes"))
    assert body["stale"] is False
    first = body["themes"][0]
    theme_id = first.get("id", first.get("theme_id"))
    api.check("/themes/{theme_id}", "GET", c.get(f"/themes/{theme_id}"))
    assert len(body["levels"]) >= 2, body["levels"]  # a tree
    for level in body["levels"]:  # every level, and a theme of it, has the documented shape
        tree_level = api.check("/themes", "GET", c.get(f"/themes?level={level}"))
        assert tree_level["level"] == level and tree_level["themes"]
        api.check("/themes/{theme_id}", "GET", c.get(f"/themes/{tree_level['themes'][0]['id']}"))
    api.check("/themes", "GET", c.get("/themes?level=bogus"))
    schema = c.get("/openapi.json").json()["components"]["schemas"]["ThemeOut"]
    assert {"parent_id", "level", "children"} <= set(schema["required"])
    assert schema["additionalProperties"] is False
    assert ("/themes", "GET", 422) in api.checked


@pytest.mark.parametrize("bad_id", ["a\u0000b", "x\r\ny", "   ", " padded", "tab\t", "\ud800", ".."])
def test_ids_are_checked_on_write_as_on_read(fresh_store: semclust.Store, bad_id: str) -> None:
    """An id that could not be read back is refused when written (422), and nothing is written."""
    c = _client(fresh_store)
    gen = fresh_store.generation
    body = '[{"id": ' + _json_string(bad_id) + ', "text": "Some text about cats."}]'
    r = c.post("/documents", content=body.encode(), headers={"X-API-Key": KEY, "Content-Type": "application/json"})
    assert r.status_code == 422, r.text
    assert "id" in r.json()["detail"]
    assert fresh_store.generation == gen
    if bad_id not in ("\ud800", ".."):  # not in a URL: unencodable, a dot segment
        for path in ("/documents/", "/related/"):
            expected = 404 if "\n" in bad_id else 422  # no route matches a newline: 404
            assert c.get(path + quote(bad_id, safe="")).status_code == expected, (path, bad_id)


def _json_string(text: str) -> str:
    return '"' + "".join(c if 32 <= ord(c) < 127 and c not in '"\\' else f"\\u{ord(c):04x}" for c in text) + '"'


def test_a_valid_odd_id_round_trips(fresh_store: semclust.Store) -> None:
    c = _client(fresh_store)
    doc_id = "news/ünïcode id with spaces inside"
    r = c.post("/documents", json=[{"id": doc_id, "text": "Text about dogs."}], headers={"X-API-Key": KEY})
    assert r.status_code == 200, r.text
    assert c.get(f"/documents/{doc_id}").json()["id"] == doc_id


def test_no_absolute_path_leaves_the_server(fresh_store: semclust.Store, tmp_path: Path) -> None:
    absolute = str(tmp_path / "secret" / "folder" / "a.txt")
    docs = [
        {"id": "p/abs", "text": "Cats purr when content, a purring article.", "path": absolute},
        {"id": "p/win", "text": "Kittens purr too, and sleep a lot.", "path": "C:\\Users\\me\\a.txt"},
        {"id": "p/up", "text": "Purring cats and kittens at the vet.", "path": "../outside/a.txt"},
        {"id": "p/rel", "text": "Cats and kittens purring together.", "path": "sub/a.txt"},
    ]
    fresh_store.add(docs)
    c = _client(fresh_store)
    texts = [c.get(f"/documents/{d['id']}").text for d in docs]
    texts.append(c.get("/related/news/cats-purr?k=20").text)
    texts.append(c.get("/search?q=cats purring&k=20").text)
    for text in texts:
        for needle in (str(tmp_path), "C:\\\\Users", "../outside"):
            assert needle not in text
    assert c.get("/documents/p/rel").json()["metadata"] == {"path": "sub/a.txt"}
    hits = {h["doc_id"]: h for h in c.get("/search?q=cats purring&k=20").json()["results"]}
    assert hits["p/rel"]["metadata"] == {"path": "sub/a.txt"} and hits["p/abs"]["metadata"] == {}
    assert public_metadata({"path": "/etc/x", "n": 1}) == {"n": 1}


def test_requests_are_logged_with_the_id_the_client_gets(
    store: semclust.Store, caplog: pytest.LogCaptureFixture
) -> None:
    c = TestClient(create_app(store, warm=False))
    with caplog.at_level(logging.INFO, logger="semclust.server"):
        r = c.get("/related/news/rates?k=2")
        mine = c.get("/health", headers={"X-Request-ID": "my-trace-42"})
    rid = r.headers["x-request-id"]
    assert len(rid) >= 8 and mine.headers["x-request-id"] == "my-trace-42"
    lines = [rec.getMessage() for rec in caplog.records if rec.name == "semclust.server"]
    assert any(rid in m and "/related/news/rates?k=2" in m and " 200 " in m for m in lines), lines
    assert any("my-trace-42" in m and "/health" in m for m in lines), lines
    odd = c.get("/health", headers={"X-Request-ID": "bad id with spaces"})
    assert odd.headers["x-request-id"] not in ("", "bad id with spaces")  # an odd id is replaced


@pytest.mark.parametrize("error", [RuntimeError("boom in search"), semclust.StoreError("store broke")])
def test_a_500_leaves_a_traceback_with_the_request_id(
    fresh_store: semclust.Store, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture,
    error: Exception,
) -> None:
    def broken(*args: Any, **kwargs: Any) -> Any:
        raise error

    monkeypatch.setattr(fresh_store, "search", broken)
    c = _client(fresh_store)
    with caplog.at_level(logging.INFO, logger="semclust.server"):
        r = c.get("/search?q=cats")
    assert r.status_code == 500
    rid = r.headers["x-request-id"]
    body = r.json()
    assert body["error"] == "internal_error" and body["request_id"] == rid and rid in body["detail"]
    assert str(error) not in r.text  # the client gets the id, not the internals
    failed = [rec for rec in caplog.records if rec.exc_info and rid in rec.getMessage()]
    assert failed and failed[0].exc_info[1] is error, [rec.getMessage() for rec in caplog.records]


def test_the_library_never_configures_logging(store: semclust.Store) -> None:
    names = ("", "semclust", "semclust.server", "uvicorn")
    before = {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in names}
    c = TestClient(create_app(store, warm=False))
    c.get("/health")
    assert {n: (list(logging.getLogger(n).handlers), logging.getLogger(n).level) for n in names} == before


def test_writes_run_on_one_writer_thread_while_reads_go_on(
    fresh_store: semclust.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A commit runs on the service's writer thread, one at a time; reads are answered while it
    runs."""
    started, release = threading.Event(), threading.Event()
    threads: list[str] = []
    active = [0, 0]  # running now, most at once
    original = fresh_store.add

    def slow_add(records: Any, **kw: Any) -> Any:
        active[0] += 1
        active[1] = max(active)
        threads.append(threading.current_thread().name)
        started.set()
        release.wait(30)
        try:
            return original(records, **kw)
        finally:
            active[0] -= 1

    monkeypatch.setattr(fresh_store, "add", slow_add)
    monkeypatch.setattr(service_module, "MAX_QUEUED_WRITES", 2)
    c = _client(fresh_store)
    replies: list[Any] = []

    def post(i: int) -> None:
        doc = {"id": f"w/{i}", "text": f"Article number {i} about cats purring at night."}
        replies.append(c.post("/documents", json=[doc], headers={"X-API-Key": KEY}))

    writers = [threading.Thread(target=post, args=(i,)) for i in range(2)]
    for w in writers:
        w.start()
    assert started.wait(30)
    deadline = time.monotonic() + 30
    while c.app.state.semclust._queued_writes < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    full = c.post("/documents", json=[{"id": "w/x", "text": "One write too many."}], headers={"X-API-Key": KEY})
    assert full.status_code == 503 and full.headers["retry-after"] == "1", full.text
    t0 = time.perf_counter()
    assert c.get("/related/news/rates?k=2").status_code == 200  # served during the write
    assert c.get("/health").status_code == 200
    assert time.perf_counter() - t0 < 10
    release.set()
    for w in writers:
        w.join(30)
    assert [r.status_code for r in replies] == [200, 200]
    assert len(threads) == 2 and all(t.startswith("semclust-writer") for t in threads), threads
    assert active[1] == 1  # never two at once
    assert "w/0" in fresh_store and "w/1" in fresh_store
