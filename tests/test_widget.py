"""The embeddable widget (semclust/server/widget.js) in headless Chromium against a real server.

Needs Debian's ``chromium`` (or ``$SEMCLUST_CHROMIUM``) and the ``playwright`` Python package;
no browser is downloaded. Skips where they are absent, except under CI (``$CI`` set), where it
fails. The screenshot goes to ``tests/artifacts/widget.png`` (or ``$SEMCLUST_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import functools
import html
import os
import re
import threading
from collections.abc import Iterator
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from importlib import resources
from pathlib import Path
from typing import Any

import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, browser_or_skip

import semclust

pytest.importorskip("fastapi", reason="the serve extra is not installed")
from test_server import ARTICLES, build_store, running_server

from semclust.server.app import create_app

ROOT = Path(__file__).resolve().parents[1]
ARTIFACTS = Path(os.environ.get("SEMCLUST_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
XSS_TITLE = '<img src=x onerror="window.__xss=1">Cats <b>bold</b> & purring'
XSS_ARTICLE = {
    "id": "news/odd-title", "title": XSS_TITLE, "url": "javascript:window.__xss=2",
    "source": "Pets Weekly", "published": "2024-03-02",
    "text": "Cats purr loudly and happily while being stroked; purring cats are usually content.",
}
WIDGET_JS = resources.files("semclust.server").joinpath("widget.js").read_text(encoding="utf-8")


def test_widget_is_small_and_never_parses_api_text_as_html() -> None:
    assert len(WIDGET_JS.encode()) < 8 * 1024
    for banned in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert banned not in WIDGET_JS, banned
    assert re.search(r"\bimport\b|\brequire\(", WIDGET_JS) is None  # no dependencies
    for attr in ("data-semclust-related", "semclust-api", "semclust-k", "semclust-href", "semclust-title",
                 "semclust-empty"):
        assert attr in WIDGET_JS




@pytest.fixture(scope="module")
def widget_store(tmp_path_factory: pytest.TempPathFactory) -> Iterator[semclust.Store]:
    emb = semclust.get_embedder()
    path = tmp_path_factory.mktemp("widget") / "w.semclust"
    build_store(path, emb)
    with semclust.Store.open(path, model=emb, cache=False, create=False) as store:
        store.add(semclust.read([XSS_ARTICLE], clean=False))  # the title kept as it is: HTML
        yield store


@pytest.fixture(scope="module")
def page_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path]]:
    """A loopback server for the test page, on another port (so another origin) than the API."""
    root = tmp_path_factory.mktemp("site")

    class Quiet(SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(Quiet, directory=str(root)))
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(timeout=10)


def test_widget_renders_related_links_in_chromium(
    widget_store: semclust.Store, page_server: tuple[str, Path]
) -> None:
    sync_playwright = browser_or_skip()
    origin, root = page_server
    app = create_app(widget_store, cors_origins=[origin], warm=False)
    with running_server(app) as api:
        (root / "article.html").write_text(
            "<!doctype html><html><head><meta charset='utf-8'><title>widget test</title></head>"
            "<body style='font-family: sans-serif'><h1>Why cats purr</h1>"
            "<div id='w1' data-semclust-related='news/cats-purr' data-semclust-k='2' "
            "data-semclust-title='Related articles'></div>"
            f"<div id='w2' data-semclust-related='news/kitten-care' data-semclust-k='10' "
            f"data-semclust-api='{html.escape(api)}' data-semclust-href='https://example.org/read/{{id}}'></div>"
            "<div id='w3' data-semclust-related='no-such-article'></div>"
            "<div id='w4' data-semclust-related='no-such-article' data-semclust-empty='Nothing here yet'></div>"
            "<div id='w5' data-semclust-related='no-such-article' data-semclust-empty=''></div>"
            f"<script src='{html.escape(api)}/widget.js'></script></body></html>",
            encoding="utf-8",
        )
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
            try:
                page = browser.new_page()
                requests: list[str] = []
                page.on("request", lambda req: requests.append(req.url))
                page.goto(f"{origin}/article.html", timeout=30_000)
                page.wait_for_function(
                    "() => [...document.querySelectorAll('[data-semclust-related]')].every("
                    "e => ['ready', 'empty', 'error'].includes(e.dataset.semclustState))",
                    timeout=30_000,
                )
                ARTIFACTS.mkdir(parents=True, exist_ok=True)
                page.screenshot(path=str(ARTIFACTS / "widget.png"), full_page=True)
                w1 = page.eval_on_selector_all(
                    "#w1 li > *", "els => els.map(e => [e.tagName, e.textContent, e.getAttribute('href')])")
                w1_heading = page.text_content("#w1 .semclust-related-title")
                w2 = page.eval_on_selector_all(
                    "#w2 li > *", "els => els.map(e => [e.tagName, e.textContent, e.getAttribute('href')])")
                states = page.eval_on_selector_all(
                    "[data-semclust-related]", "els => els.map(e => e.dataset.semclustState)")
                empties = [page.eval_on_selector(f"#w{i}", "e => [e.childElementCount, e.innerText.trim()]")
                           for i in (3, 4, 5)]
                w3_visible = page.is_visible("#w3 .semclust-related-empty")
                xss = page.evaluate("() => window.__xss === undefined && !document.querySelector('img')")
            finally:
                browser.close()

    expected = widget_store.related("news/cats-purr", k=2)
    # an http(s) URL becomes a link; the javascript: URL of the odd article does not
    assert [h.doc_id for h in expected] == ["news/odd-title", "news/kitten-care"]
    assert w1 == [["SPAN", XSS_TITLE, None], ["A", expected[1].title, expected[1].url]]
    assert w1_heading == "Related articles"
    # an unknown id shows the documented text (default, data-semclust-empty, or nothing with "")
    assert states == ["ready", "ready", "empty", "empty", "empty"]
    assert empties == [[1, "No related articles."], [1, "Nothing here yet"], [0, ""]] and w3_visible
    urls = {a["id"]: a.get("url") for a in ARTICLES}
    by_title = {text: (tag, href) for tag, text, href in w2}
    assert len(w2) == len(widget_store) - 1  # every other article, k=10
    assert by_title[XSS_TITLE] == ("A", "https://example.org/read/news%2Fodd-title")  # no javascript:
    assert by_title["Central bank holds interest rates"] == ("A", "https://example.org/read/news%2Frates")
    assert by_title["Why cats purr"] == ("A", urls["news/cats-purr"])
    assert xss is True
    assert all(u.startswith(("http://127.0.0.1:", "data:")) for u in requests), requests
    assert (ARTIFACTS / "widget.png").stat().st_size > 1000


def test_docs_render_offline_in_chromium(widget_store: semclust.Store) -> None:
    """/docs draws every operation with the network cut off: Swagger UI comes from the package."""
    sync_playwright = browser_or_skip()
    app = create_app(widget_store, warm=False)
    with running_server(app) as api, sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            page = browser.new_page()
            blocked: list[str] = []

            def offline(route: Any) -> None:
                url = route.request.url
                if url.startswith((api, "data:")):
                    route.continue_()
                else:
                    blocked.append(url)
                    route.abort()

            page.route("**/*", offline)
            page.goto(f"{api}/docs", timeout=30_000)
            page.wait_for_selector(".opblock", timeout=30_000)
            paths = page.eval_on_selector_all(
                ".opblock .opblock-summary-path", "els => els.map(e => e.textContent.trim())")
            methods = page.eval_on_selector_all(
                ".opblock .opblock-summary-method", "els => els.map(e => e.textContent.trim())")
            ARTIFACTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "docs.png"), full_page=True)
        finally:
            browser.close()
    assert blocked == []
    flat = {p.replace("\u200b", "") for p in paths}
    for path in ("/related/{doc_id}", "/search", "/documents", "/documents/{doc_id}", "/themes", "/health"):
        assert path in flat, flat
    assert {"GET", "POST", "DELETE"} <= set(methods)
