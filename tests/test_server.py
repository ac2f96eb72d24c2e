"""The HTTP service on a real store with the real bundled model (semclust.server.app)."""

from __future__ import annotations

import json
import logging
import logging.config
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest

import semclust
from semclust.errors import StoreError

fastapi = pytest.importorskip("fastapi", reason="the serve extra is not installed")
pytest.importorskip("httpx", reason="httpx (FastAPI's TestClient) is not installed")

from fastapi.testclient import TestClient  # noqa: E402

from semclust.server.app import MAX_ID_CHARS, create_app, serve  # noqa: E402
from semclust.server.service import public_metadata  # noqa: E402

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"

ARTICLES: list[dict[str, Any]] = [
    {
        "id": "news/cats-purr", "title": "Why cats purr", "source": "Pets Weekly",
        "published": "2024-03-01", "url": "https://example.org/cats-purr",
        "text": "Cats purr when they are content, but also when stressed or hurt. Vets think the "
                "low vibration of purring may even help a cat's bones and muscles heal.",
    },
    {
        "id": "news/kitten-care", "title": "Caring for a new kitten", "source": "Pets Weekly",
        "published": "2023-06-10", "url": "https://example.org/kitten-care",
        "text": "A new kitten needs food for young cats, a warm bed, a litter tray and a visit to "
                "the vet for vaccinations. Kittens sleep most of the day and purr a lot.",
    },
    {
        "id": "news/league-final", "title": "United win the league final", "source": "Sport Daily",
        "published": "2024-05-20", "url": "https://example.org/league-final",
        "text": "United beat City two goals to one in the league final on Saturday. The striker "
                "scored the winning goal in the last minute of the football match.",
    },
    {
        "id": "news/transfer", "title": "Striker signs for record fee", "source": "Sport Daily",
        "published": "2024-01-15", "url": "https://example.org/transfer",
        "text": "The football club signed a striker for a record transfer fee. The player scored "
                "thirty goals in the league last season and joins on a five-year contract.",
    },
    {
        "id": "news/rates", "title": "Central bank holds interest rates", "source": "Money Post",
        "published": "2024-02-08",
        "text": "The central bank kept interest rates unchanged as inflation slowed. Economists "
                "expect rate cuts later in the year if prices keep easing.",
    },
]


def build_store(path: Path, embedder: semclust.Embedder) -> None:
    """The seed articles plus ARTICLES, embedded with the real model."""
    with semclust.Store.open(path, model=embedder, cache=False) as store:
        store.add(semclust.read(SEEDS))
        store.add(ARTICLES)


@pytest.fixture(scope="session")
def embedder() -> semclust.Embedder:
    emb = semclust.get_embedder()
    emb.embed(["load the model once"])
    return emb


@pytest.fixture(scope="session")
def base_store_dir(tmp_path_factory: pytest.TempPathFactory, embedder: semclust.Embedder) -> Path:
    path = tmp_path_factory.mktemp("server") / "base.semclust"
    build_store(path, embedder)
    return path


@pytest.fixture(scope="module")
def store(base_store_dir: Path, embedder: semclust.Embedder) -> Iterator[semclust.Store]:
    """The shared read-only store (tests that write use ``fresh_store``)."""
    with semclust.Store.open(base_store_dir, model=embedder, cache=False, create=False) as s:
        yield s


@pytest.fixture(scope="module")
def client(store: semclust.Store) -> TestClient:
    return TestClient(create_app(store, api_key=""))


@pytest.fixture
def fresh_store(base_store_dir: Path, tmp_path: Path, embedder: semclust.Embedder) -> Iterator[semclust.Store]:
    path = tmp_path / "copy.semclust"
    shutil.copytree(base_store_dir, path)
    with semclust.Store.open(path, model=embedder, cache=False, create=False) as s:
        yield s


@contextmanager
def running_server(app: Any) -> Iterator[str]:
    """Serve ``app`` with uvicorn on a free loopback port in a thread; yield its base URL."""
    import uvicorn

    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        assert thread.is_alive() and time.monotonic() < deadline, "uvicorn did not start"
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=15)
        sock.close()


def _ids(payload: dict[str, Any]) -> list[str]:
    return [r["doc_id"] for r in payload["results"]]


# -- reads ------------------------------------------------------------------------------------


def test_health(client: TestClient, store: semclust.Store) -> None:
    r = client.get("/health")
    assert r.status_code == 200
    body = r.json()
    assert body["status"] == "ok" and body["articles"] == len(store) == 7
    assert body["generation"] == store.generation and body["writes"] is False
    assert r.headers["cache-control"] == "no-store"
    assert r.headers["x-content-type-options"] == "nosniff"


@pytest.mark.parametrize("doc_id", [a["id"] for a in ARTICLES] + ["nato-china-watching-ukraine"])
def test_related_matches_store_ranking(client: TestClient, store: semclust.Store, doc_id: str) -> None:
    r = client.get(f"/related/{doc_id}", params={"k": 3})
    assert r.status_code == 200, r.text
    body = r.json()
    expected = store.related(doc_id, k=3)
    assert body["id"] == doc_id and body["k"] == 3 and body["generation"] == store.generation
    assert _ids(body) == expected.ids
    assert [x["score"] for x in body["results"]] == [h.score for h in expected]
    # a hit is Hit.to_dict(), whatever the endpoint (an absolute metadata.path left out)
    assert body["results"] == [{**h.to_dict(), "metadata": public_metadata(h.metadata)} for h in expected]
    assert body["results"][0]["title"] == expected[0].title


def test_related_is_on_topic(client: TestClient) -> None:
    assert _ids(client.get("/related/news/cats-purr", params={"k": 1}).json()) == ["news/kitten-care"]
    assert _ids(client.get("/related/news/league-final", params={"k": 1}).json()) == ["news/transfer"]


def test_related_filters(client: TestClient, store: semclust.Store) -> None:
    params = {"k": 5, "since": "2024-01-01", "source": "Sport Daily"}
    body = client.get("/related/news/cats-purr", params=params).json()
    assert _ids(body) == store.related("news/cats-purr", k=5, since="2024-01-01", source="Sport Daily").ids
    assert set(_ids(body)) == {"news/league-final", "news/transfer"}
    until = client.get("/related/news/cats-purr", params={"k": 5, "until": "2023-12-31"}).json()
    assert _ids(until) == ["news/kitten-care"]


def test_related_ids_with_slashes_and_encoding(client: TestClient) -> None:
    plain = client.get("/related/news/transfer?k=2").json()
    encoded = client.get("/related/news%2Ftransfer?k=2").json()
    assert plain == encoded and plain["id"] == "news/transfer"


def test_unknown_ids_are_404_json(client: TestClient) -> None:
    for path in ("/related/no-such-article", "/documents/no-such-article"):
        r = client.get(path)
        assert r.status_code == 404
        assert r.json() == {"error": "not_found", "detail": "no article with id 'no-such-article'"}
        assert "semclust" not in r.json()["detail"]  # no server path in the message
    assert client.get("/no/such/route").json()["error"] == "not_found"


def test_ids_never_name_files(client: TestClient) -> None:
    for path in (
        "/documents/..%2F..%2F..%2Fetc%2Fpasswd",
        "/documents/%2Fetc%2Fpasswd",
        "/related/..%2Fmanifest.json",
        "/documents/manifest.json",
        "/documents/store.sqlite",
    ):
        r = client.get(path)
        assert r.status_code == 404, path
        assert "root:" not in r.text and "format_version" not in r.text
    assert client.get("/documents/%2E%2E").status_code in (404, 422)
    assert client.get("/related/a%00b").status_code == 422
    assert client.get("/related/" + "x" * (MAX_ID_CHARS + 1)).status_code == 422


def test_search_matches_store(client: TestClient, store: semclust.Store) -> None:
    q = "football striker scores goals"
    body = client.get("/search", params={"q": q, "k": 2}).json()
    assert _ids(body) == store.search(q, k=2).ids
    assert set(_ids(body)) == {"news/league-final", "news/transfer"}
    assert body["query"] == q and body["k"] == 2
    filtered = client.get("/search", params={"q": q, "k": 5, "source": "Pets Weekly"}).json()
    assert set(_ids(filtered)) == {"news/cats-purr", "news/kitten-care"}


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/related/news/rates?k=0", "'k'"),
        ("/related/news/rates?k=101", "less than or equal to 100"),
        ("/related/news/rates?k=abc", "'k'"),
        ("/related/news/rates?since=not-a-date", "since"),
        ("/search", "'q'"),
        ("/search?q=", "'q'"),
        ("/search?q=%20%20", "query is empty"),
        ("/search?q=" + "a" * 1001, "'q'"),
        ("/search?q=cats&k=-1", "'k'"),
        ("/search?q=cats&until=2024-13-45", "until"),
    ],
)
def test_bad_parameters_are_422_with_a_message(client: TestClient, path: str, needle: str) -> None:
    r = client.get(path)
    assert r.status_code == 422, r.text
    body = r.json()
    assert body["error"] == "invalid_parameter" and needle in body["detail"]


def test_max_k_is_configurable(store: semclust.Store) -> None:
    small = TestClient(create_app(store, max_k=3, default_k=2, warm=False))
    assert small.get("/related/news/rates?k=4").status_code == 422
    assert small.get("/related/news/rates").json()["k"] == 2
    with pytest.raises(semclust.InvalidArgumentError):
        create_app(store, max_k=3, default_k=5, warm=False)


def test_get_document(client: TestClient) -> None:
    r = client.get("/documents/news/rates")
    assert r.status_code == 200
    body = r.json()
    assert body["id"] == "news/rates" and body["title"] == "Central bank holds interest rates"
    assert body["source"] == "Money Post" and body["text"].startswith("The central bank")
    assert "etag" in r.headers


def test_etag_and_304(client: TestClient, store: semclust.Store) -> None:
    r = client.get("/related/news/rates?k=2")
    etag = r.headers["etag"]
    assert etag.startswith(f'"g{store.generation}-') and r.headers["cache-control"].startswith("public, max-age=")
    again = client.get("/related/news/rates?k=2", headers={"If-None-Match": etag})
    assert again.status_code == 304 and again.content == b"" and again.headers["etag"] == etag
    assert client.get("/related/news/rates?k=2", headers={"If-None-Match": f"W/{etag}"}).status_code == 304
    other = client.get("/related/news/rates?k=3", headers={"If-None-Match": etag})
    assert other.status_code == 200 and other.headers["etag"] != etag
    s1 = client.get("/search?q=cats")
    assert client.get("/search?q=cats", headers={"If-None-Match": s1.headers["etag"]}).status_code == 304
    assert client.get("/search?q=dogs", headers={"If-None-Match": s1.headers["etag"]}).status_code == 200


def test_related_is_cached_and_a_write_invalidates(fresh_store: semclust.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[str] = []
    original = fresh_store.related

    def counting(doc_id: str, *args: Any, **kwargs: Any) -> semclust.Hits:
        calls.append(doc_id)
        return original(doc_id, *args, **kwargs)

    monkeypatch.setattr(fresh_store, "related", counting)
    c = TestClient(create_app(fresh_store, api_key="key-1", warm=False))
    first = c.get("/related/news/cats-purr?k=2")
    assert c.get("/related/news/cats-purr?k=2").json() == first.json()
    assert calls == ["news/cats-purr"]
    c.get("/related/news/cats-purr?k=3")
    assert len(calls) == 2  # k is part of the key
    new = {"id": "news/purring-study", "title": "A study of purring", "source": "Pets Weekly",
           "text": "Scientists studied why cats purr: purring cats are content, and the purr's "
                   "vibration may help a cat heal."}
    r = c.post("/documents", json=[new], headers={"X-API-Key": "key-1"})
    assert r.status_code == 200, r.text
    after = c.get("/related/news/cats-purr?k=2")
    assert len(calls) == 3 and after.headers["etag"] != first.headers["etag"]
    assert "news/purring-study" in _ids(after.json())
    assert c.get("/related/news/cats-purr?k=2", headers={"If-None-Match": first.headers["etag"]}).status_code == 200


# -- writes -----------------------------------------------------------------------------------


def test_writes_are_disabled_without_a_key(client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    for method, path in (("POST", "/documents"), ("DELETE", "/documents/news/rates")):
        r = client.request(method, path, json=[{"id": "x", "text": "y"}], headers={"X-API-Key": "guess"})
        assert r.status_code == 403
        assert "writes are disabled" in r.json()["detail"] and "SEMCLUST_API_KEY" in r.json()["detail"]
    assert client.get("/documents/news/rates").status_code == 200


def test_api_key_from_environment(store: semclust.Store, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SEMCLUST_API_KEY", "from-env")
    c = TestClient(create_app(store, warm=False))
    assert c.get("/health").json()["writes"] is True
    assert c.delete("/documents/no-such", headers={"X-API-Key": "from-env"}).status_code == 404
    assert c.delete("/documents/no-such", headers={"X-API-Key": "wrong"}).status_code == 403


def test_writes_need_the_right_key(fresh_store: semclust.Store) -> None:
    c = TestClient(create_app(fresh_store, api_key="s3cret", warm=False))
    doc = {"id": "news/new", "title": "Penalty shoot-out drama", "text": "The cup final went to "
           "penalties after a goalless football match; the keeper saved two.",
           "source": "Sport Daily", "published": "2024-06-01", "tags": ["cup", "football"]}
    missing = c.post("/documents", json=[doc])
    assert missing.status_code == 401 and missing.headers["www-authenticate"] == "Bearer"
    assert c.post("/documents", json=[doc], headers={"X-API-Key": "s3cre"}).status_code == 403
    assert c.post("/documents", json=[doc], headers={"Authorization": "Bearer nope"}).status_code == 403
    assert "news/new" not in fresh_store
    r = c.post("/documents", json=[doc], headers={"Authorization": "Bearer s3cret"})
    assert r.status_code == 200, r.text
    assert r.json()["added"] == ["news/new"] and r.json()["generation"] == fresh_store.generation
    got = c.get("/documents/news/new").json()
    assert got["metadata"] == {"tags": ["cup", "football"]} and got["published"] == "2024-06-01"
    assert "news/new" in _ids(c.get("/related/news/league-final?k=2").json())
    again = c.post("/documents", json=[doc], headers={"X-API-Key": "s3cret"})
    assert again.json()["unchanged"] == ["news/new"]
    assert c.delete("/documents/news/new").status_code == 401
    d = c.delete("/documents/news/new", headers={"X-API-Key": "s3cret"})
    assert d.status_code == 200 and d.json()["deleted"] == ["news/new"]
    assert c.get("/documents/news/new").status_code == 404
    assert c.delete("/documents/news/new", headers={"X-API-Key": "s3cret"}).status_code == 404


@pytest.mark.parametrize(
    "body",
    [
        {"id": "x", "text": "not a list"},
        ["a bare string is not an article"],
        [{"id": "x"}],
        [{"id": "", "text": "empty id"}],
        [{"id": "x", "text": ""}],
        [{"id": "x", "text": "bad date", "published": "yesterday"}],
        [{"id": "x", "text": "bad metadata", "title": {"nested": 1}}],
        [],
    ],
)
def test_bad_articles_are_422(fresh_store: semclust.Store, body: Any) -> None:
    c = TestClient(create_app(fresh_store, api_key="k", warm=False))
    gen = fresh_store.generation
    r = c.post("/documents", json=body, headers={"X-API-Key": "k"})
    assert r.status_code == 422, r.text
    assert r.json()["error"] == "invalid_parameter" and r.json()["detail"]
    assert fresh_store.generation == gen


def test_malformed_json_is_422(fresh_store: semclust.Store) -> None:
    c = TestClient(create_app(fresh_store, api_key="k", warm=False))
    r = c.post("/documents", content=b"[{not json", headers={"X-API-Key": "k", "Content-Type": "application/json"})
    assert r.status_code == 422


def test_too_large_is_413(fresh_store: semclust.Store) -> None:
    c = TestClient(create_app(fresh_store, api_key="k", max_body_bytes=2000, max_batch=2, warm=False))
    big = [{"id": "big", "text": "word " * 1000}]
    r = c.post("/documents", json=big, headers={"X-API-Key": "k"})
    assert r.status_code == 413 and "2000 bytes" in r.json()["detail"]

    def chunks() -> Iterator[bytes]:  # no Content-Length: counted while reading
        yield b'[{"id": "big", "text": "'
        for _ in range(100):
            yield b"word " * 10
        yield b'"}]'

    streamed = c.post("/documents", content=chunks(), headers={"X-API-Key": "k", "Content-Type": "application/json"})
    assert streamed.status_code == 413
    many = [{"id": f"n{i}", "text": f"short text {i}"} for i in range(3)]
    r = c.post("/documents", json=many, headers={"X-API-Key": "k"})
    assert r.status_code == 413 and "the most is 2" in r.json()["detail"]
    assert "big" not in fresh_store and "n0" not in fresh_store
    # without the key nothing is read at all
    assert c.post("/documents", json=big).status_code == 401


# -- CORS, docs, widget, themes ---------------------------------------------------------------


def test_cors_off_by_default(client: TestClient) -> None:
    r = client.get("/related/news/rates", headers={"Origin": "https://site.example"})
    assert "access-control-allow-origin" not in r.headers
    pre = client.options("/related/news/rates", headers={
        "Origin": "https://site.example", "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in pre.headers


def test_cors_when_configured(store: semclust.Store) -> None:
    c = TestClient(create_app(store, cors_origins=["https://site.example"], warm=False))
    r = c.get("/related/news/rates", headers={"Origin": "https://site.example"})
    assert r.headers["access-control-allow-origin"] == "https://site.example"
    assert "etag" in r.headers["access-control-expose-headers"].lower()
    other = c.get("/related/news/rates", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in other.headers
    pre = c.options("/related/news/rates", headers={
        "Origin": "https://site.example", "Access-Control-Request-Method": "GET"})
    assert pre.status_code == 200 and pre.headers["access-control-allow-origin"] == "https://site.example"


def test_openapi_docs(client: TestClient) -> None:
    assert client.get("/docs").status_code == 200
    spec = client.get("/openapi.json").json()
    paths = spec["paths"]
    for p in ("/related/{doc_id}", "/search", "/documents", "/documents/{doc_id}", "/themes", "/health"):
        assert p in paths, sorted(paths)
    k = next(p for p in paths["/search"]["get"]["parameters"] if p["name"] == "k")
    assert k["schema"]["maximum"] == 100 and k["schema"]["minimum"] == 1


def test_widget_js_is_served(client: TestClient) -> None:
    r = client.get("/widget.js")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/javascript")
    assert "data-semclust-related" in r.text and "innerHTML" not in r.text
    assert client.get("/widget.js", headers={"If-None-Match": r.headers["etag"]}).status_code == 304


@pytest.fixture
def fresh_client(store: semclust.Store) -> TestClient:
    return TestClient(create_app(store, warm=False))


def test_themes_404_when_unavailable(fresh_client: TestClient, monkeypatch: pytest.MonkeyPatch) -> None:
    client = fresh_client
    monkeypatch.setitem(sys.modules, "semclust.store.themes", None)  # import fails
    for path in ("/themes", "/themes/0"):
        r = client.get(path)
        assert r.status_code == 404 and "themes" in r.json()["detail"]


def test_themes_404_when_not_fitted(fresh_client: TestClient) -> None:
    """A store with no saved themes: 404 with how to fit them (the service never fits)."""
    r = fresh_client.get("/themes")
    assert r.status_code == 404 and "no fitted themes" in r.json()["detail"]


def test_themes_when_fitted(fresh_store: semclust.Store) -> None:
    """Saved themes are served as they are, also after the store changed (no refit in a request)."""
    store = fresh_store
    fitted = store.themes()
    client = TestClient(create_app(store, warm=False))
    body = client.get("/themes").json()
    assert [t["name"] for t in body["themes"]] == [t.name for t in fitted]
    assert body["generation"] == body["store_generation"] == fitted.generation == store.generation
    assert body["stale"] is False
    assert client.get(f"/themes/{fitted.ids[0]}").json()["name"] == fitted[fitted.ids[0]].name
    assert client.get("/themes/999").status_code == 404
    store.add([semclust.Document(id="late", text="A late article about cats and dogs at home.")])
    again = client.get("/themes").json()
    assert [t["name"] for t in again["themes"]] == [t.name for t in fitted]
    # the same old themes, now saying so: fitted on the old generation, stale
    assert again["generation"] == fitted.generation < again["store_generation"] == store.generation
    assert again["stale"] is True
    assert semclust.store.themes.saved_themes(store).generation == fitted.generation  # type: ignore[union-attr]


def _members(view: Any, theme_id: int) -> set[str]:
    return {a for a, t in zip(view.article_ids, view.labels.tolist()) if t == theme_id}


def test_themes_expose_the_tree(fresh_store: semclust.Store) -> None:
    """``/themes?level=`` serves each level of the tree, every theme with its parent (one level
    coarser, holding all of its articles) and children, as the library's tree says."""
    fitted = fresh_store.themes()
    names = list(fitted.levels)  # broadest first
    assert len(names) >= 2 and "themes" in names, fitted.levels  # a tree, with the default level in it
    client = TestClient(create_app(fresh_store, warm=False))
    default = client.get("/themes").json()
    assert default == client.get("/themes?level=default").json() == client.get("/themes?level=themes").json()
    assert default["level"] == default["default_level"] == "themes" and default["levels"] == fitted.levels
    coarser = dict(zip(names[1:], names))
    seen = 0
    for level in names:
        body = client.get(f"/themes?level={level}").json()
        view = fitted.level(level)
        assert body["level"] == level and [t["id"] for t in body["themes"]] == view.ids
        assert body["generation"] == body["store_generation"] and body["stale"] is False
        for t in body["themes"]:
            seen += 1
            parent = fitted.parent(t["id"])
            assert t["level"] == level
            assert t["parent_id"] == (parent.id if parent is not None else None)
            assert t["children"] == [c.id for c in fitted.children(t["id"])]
            if level == names[0]:
                assert t["parent_id"] is None and t["children"]
                continue
            up = fitted.level(coarser[level])
            assert t["parent_id"] in up.ids and _members(view, t["id"]) <= _members(up, t["parent_id"])
            if level != names[-1]:
                finer = fitted.level(names[names.index(level) + 1])
                assert t["children"] and all(c in finer.ids for c in t["children"])
            else:
                assert t["children"] == []
    assert seen == sum(fitted.levels.values())
    assert client.get("/themes?level=medium").status_code == 422


def test_one_theme_of_any_level_with_its_parent_and_children(fresh_store: semclust.Store) -> None:
    fitted = fresh_store.themes()
    names = list(fitted.levels)  # broadest first
    client = TestClient(create_app(fresh_store, warm=False))
    for level in names:
        for tid in fitted.level(level).ids:
            body = client.get(f"/themes/{tid}").json()
            parent = fitted.parent(tid)
            assert body["id"] == tid and body["level"] == level
            assert body["name"] == fitted.level(level)[tid].name
            if parent is None:
                assert body["parent"] is None and body["parent_id"] is None and level == names[0]
            else:
                assert body["parent"] == {"id": parent.id, "name": parent.name, "size": parent.size,
                                          "level": names[names.index(level) - 1]}
            kids = fitted.children(tid)
            assert [c["id"] for c in body["child_themes"]] == body["children"] == [c.id for c in kids]
            assert body["stale"] is False
    assert client.get("/themes/not-a-number").status_code == 404
    assert client.get(f"/themes/{max(fitted.tree()['theme_id']) + 1}").status_code == 404


# -- construction and dependencies ------------------------------------------------------------


def test_create_app_from_path(base_store_dir: Path, tmp_path: Path) -> None:
    with TestClient(create_app(base_store_dir, warm=False)) as c:  # lifespan closes the store
        assert c.get("/health").json()["articles"] == 7
    with pytest.raises(StoreError, match="no semclust store"):
        create_app(tmp_path / "nothing-here", warm=False)


def test_serve_reads_the_key_from_the_environment(
    store: semclust.Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    import uvicorn

    seen: dict[str, Any] = {}
    monkeypatch.setattr(uvicorn, "run", lambda app, **kw: seen.update(app=app, **kw))
    monkeypatch.setattr(semclust.Store, "open", classmethod(lambda cls, path, **kw: store))
    monkeypatch.setattr(logging.config, "dictConfig", lambda conf: seen.update(dict_config=conf))
    monkeypatch.setenv("SEMCLUST_API_KEY", "env-key")
    serve("ignored", port=8123, warm=False, math_threads=None)
    assert seen["host"] == "127.0.0.1" and seen["port"] == 8123
    assert seen["dict_config"]["loggers"]["semclust"]["level"] == "INFO"  # serve configures logging
    c = TestClient(seen["app"])
    assert c.get("/health").json()["writes"] is True


def test_missing_fastapi_names_the_extra() -> None:
    code = (
        "import sys\nsys.modules['fastapi'] = None\n"
        "try:\n    import semclust.server.app\nexcept ImportError as e:\n"
        "    from semclust.errors import MissingDependencyError\n"
        "    assert isinstance(e, MissingDependencyError), type(e)\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    assert "pip install 'semclust[serve]'" in out.stdout
    assert "semclust.server.app" not in semclust.__dict__.get("__all__", [])


# -- a real server: writes while clients read -------------------------------------------------


def test_writes_while_clients_read(fresh_store: semclust.Store, embedder: semclust.Embedder) -> None:
    """Readers hit /related and /search while documents are added and deleted over HTTP and by
    another Store object (as another process would): no errors, and one answer per generation."""
    import httpx

    app = create_app(fresh_store, api_key="rw-key", warm=False)
    near_copy = {
        "id": "news/kitten-care-2", "title": "Caring for a new kitten", "source": "Pets Weekly",
        "published": "2023-06-11",
        "text": ARTICLES[1]["text"].replace("young cats", "young cats and kittens"),
    }
    present: set[int] = set()  # generations at which near_copy is in the store
    absent: set[int] = set()
    writer_done = threading.Event()
    errors: list[str] = []
    seen: dict[tuple[str, int], str] = {}
    seen_lock = threading.Lock()
    counts = [0]

    with running_server(app) as base:

        def reader(n: int) -> None:
            with httpx.Client(base_url=base, timeout=30) as http:
                i = 0
                while i < 400 and (i < 10 or not writer_done.is_set()):
                    i += 1
                    if (i + n) % 2:
                        path = "/related/news/kitten-care?k=2"
                    else:
                        path = "/search?q=" + "how to look after a kitten"
                    try:
                        r = http.get(path)
                    except httpx.HTTPError as err:
                        errors.append(f"{path}: {err!r}")
                        continue
                    if r.status_code != 200:
                        errors.append(f"{path}: {r.status_code} {r.text[:200]}")
                        continue
                    body = r.json()
                    key = (path, int(body["generation"]))
                    text = json.dumps(body["results"], sort_keys=True)
                    with seen_lock:
                        counts[0] += 1
                        if seen.setdefault(key, text) != text:
                            errors.append(f"two answers for {key}")

        def writer() -> None:
            try:
                with httpx.Client(base_url=base, timeout=60, headers={"X-API-Key": "rw-key"}) as http:
                    other = semclust.Store.open(fresh_store.path, model=embedder, cache=False, create=False)
                    try:
                        absent.add(fresh_store.generation)
                        for cycle in range(4):
                            time.sleep(0.05)
                            if cycle % 2 == 0:
                                r = http.post("/documents", json=[near_copy])
                                assert r.status_code == 200, r.text
                                present.add(r.json()["generation"])
                                time.sleep(0.05)
                                r = http.delete("/documents/news/kitten-care-2")
                                assert r.status_code == 200, r.text
                                absent.add(r.json()["generation"])
                            else:  # another writer, as the CLI in another process would be
                                other.add([near_copy])
                                present.add(other.generation)
                                time.sleep(0.05)
                                other.delete("news/kitten-care-2")
                                absent.add(other.generation)
                    finally:
                        other.close()
            except Exception as err:  # reported below
                errors.append(f"writer: {err!r}")
            finally:
                writer_done.set()

        threads = [threading.Thread(target=reader, args=(n,)) for n in range(4)]
        threads.append(threading.Thread(target=writer))
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=120)
        assert not any(t.is_alive() for t in threads)

    assert errors == []
    assert len(present) == 4 and len(absent) == 5
    related_gens = {gen for path, gen in seen if path.startswith("/related")}
    assert len(related_gens) >= 2, "the readers never saw a write"
    for (path, gen), text in seen.items():
        ids = [r["doc_id"] for r in json.loads(text)]
        assert gen in present | absent, (gen, present, absent)
        if path.startswith("/related"):
            assert ("news/kitten-care-2" in ids) == (gen in present), (gen, ids)
            assert "news/kitten-care" not in ids
    last = seen.get(("/related/news/kitten-care?k=2", max(absent)))
    if last is not None:
        assert [r["doc_id"] for r in json.loads(last)] == fresh_store.related("news/kitten-care", k=2).ids
    assert counts[0] >= 40
