"""Charts of themes (semclust.viz.plots): figure builders, offline HTML and PNG export, and the exported
pages rendered in headless Chromium.

The browser tests need Debian's ``chromium`` (or ``$SEMCLUST_CHROMIUM``) and the ``playwright``
Python package; no browser is downloaded. They skip where these are absent, except under CI
(``$CI`` set), where they fail. Screenshots go to ``tests/artifacts/`` (or
``$SEMCLUST_TEST_ARTIFACTS``).
"""

from __future__ import annotations

import importlib.util
import os
import re
import struct
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from conftest import CHROMIUM, CHROMIUM_ARGS, browser_or_skip

import semclust
from semclust import viz
from semclust.errors import InvalidArgumentError, MissingDependencyError, NotFoundError
from semclust.store.themes import store_themes
from semclust.themes import ThemeModel, Themes


def _need(module: str, extra: str) -> None:
    """Skip where an optional package is missing, but fail under CI, where everything must run."""
    if importlib.util.find_spec(module) is None:
        if os.environ.get("CI"):
            pytest.fail(f"{module} is not installed: pip install -e '.[{extra}]'", pytrace=False)
        pytest.skip(f"{module} is not installed (the {extra} extra)", allow_module_level=True)


_need("plotly", "viz")
_need("umap", "themes")

ROOT = Path(__file__).resolve().parents[1]
SEEDS = ROOT / "seeds"
ARTIFACTS = Path(os.environ.get("SEMCLUST_TEST_ARTIFACTS") or ROOT / "tests" / "artifacts")
VOCAB = {
    "football": "goal striker league match penalty keeper midfield stadium referee coach season club",
    "markets": "shares investors profit earnings dividend stock market bank inflation bonds trading",
    "space": "rocket orbit astronaut satellite launch moon mars telescope nasa spacecraft galaxy",
    "cooking": "recipe oven flour butter sugar bake dough pastry garlic sauce onion simmer",
}
ODD_TITLE = "Rates <b>rise</b> & shares fall"


def synthetic_articles(n_per: int = 12, seed: int = 0) -> list[dict[str, Any]]:
    """Articles of four topics, dated over eight weeks of 2024 (each topic busiest in its own weeks)."""
    rng = np.random.default_rng(seed)
    out = []
    for t, (topic, words) in enumerate(VOCAB.items()):
        vocab = words.split()
        for i in range(n_per):
            day = int(np.clip(rng.normal(10 + 12 * t, 8), 0, 55))
            out.append({
                "id": f"{topic}-{i}", "title": ODD_TITLE if (topic, i) == ("markets", 0) else f"{topic} story {i}",
                "text": " ".join(rng.choice(vocab, 14)) + ". " + " ".join(rng.choice(vocab, 10)) + ".",
                "published": str(np.datetime64("2024-01-01") + np.timedelta64(day, "D")),
            })
    return out


@pytest.fixture(scope="module")
def themes(tmp_path_factory: pytest.TempPathFactory) -> Themes:
    from fake_embedder import FakeEmbedder

    path = tmp_path_factory.mktemp("viz") / "v.semclust"
    with semclust.Store.open(path, model=FakeEmbedder(max_tokens=64), cache=False) as store:
        store.add(semclust.read(SEEDS))
        store.add(synthetic_articles())
        return store_themes(store)


def test_fixture_has_several_dated_themes(themes: Themes) -> None:
    assert len(themes) >= 3 and len(themes.article_ids) == 50
    assert themes.coords is not None and themes.coords.shape == (50, 2)
    assert not themes.over_time("W").empty


# -- figure builders -----------------------------------------------------------------------------


def _points(fig: Any) -> int:
    return sum(len(t.x) for t in fig.data)


def test_map_has_one_point_per_article_coloured_by_theme_with_labels(themes: Themes) -> None:
    fig = viz.plot_map(themes)
    assert _points(fig) == len(themes.article_ids)
    assert {t.type for t in fig.data} == {"scatter"}  # few points: SVG
    assert fig.layout.meta["n_points"] == 50 and fig.layout.meta["webgl"] is False
    # one trace per theme (plus "no theme" if any), each in its theme's colour
    by_name = {t.name.split(":")[0]: t for t in fig.data if not t.name.startswith("no theme")}
    assert sorted(int(k) for k in by_name) == sorted(themes.ids)
    for tid in themes.ids:
        trace = by_name[str(tid)]
        assert trace.marker.color == viz.theme_color(themes, tid)
        assert len(trace.x) == themes[tid].size
        assert themes[tid].name in trace.hovertemplate and themes[tid].keywords[0] in trace.hovertemplate
        assert "%{text}" in trace.hovertemplate
    # ids as customdata, titles (escaped for plotly's HTML-like labels) as text
    ids = [i for t in fig.data for i in t.customdata]
    assert sorted(ids) == sorted(themes.article_ids)
    texts = [x for t in fig.data for x in t.text]
    # (ingest may strip the markup from the title; whatever is left is escaped on the map)
    stored = themes.titles[themes.article_ids.index("markets-0")]
    escaped = stored.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    assert "&amp;" in escaped and escaped in texts and stored not in texts
    labels = [a.text for a in fig.layout.annotations]
    assert labels == [f"<b>{themes[t].name}</b>" for t in themes.ids]
    # colours are stable across charts
    assert viz.theme_color(themes, themes.ids[0]) != viz.theme_color(themes, themes.ids[1])


def test_map_webgl_sampling_and_options(themes: Themes) -> None:
    fig = viz.plot_map(themes, render="webgl", max_points=20, n_labels=2, title="T")
    assert {t.type for t in fig.data} == {"scattergl"}
    assert _points(fig) == 20 and fig.layout.meta["n_points"] == 20
    assert "sample" not in fig.layout.title.text and fig.layout.title.text == "T"
    assert len(fig.layout.annotations) == 2
    assert "a sample of 20" in viz.plot_map(themes, max_points=20).layout.title.text
    again = viz.plot_map(themes, render="webgl", max_points=20, n_labels=2)
    assert [list(t.customdata) for t in again.data] == [list(t.customdata) for t in fig.data]  # seeded
    for bad in ({"render": "canvas"}, {"max_points": 0}):
        with pytest.raises(InvalidArgumentError):
            viz.plot_map(themes, **bad)


def test_map_outliers_are_grey_drawn_first_and_optional() -> None:
    rng = np.random.default_rng(0)
    X = np.vstack([rng.normal(size=(40, 16)) + 6 * np.eye(16)[k] for k in range(3)] + [rng.normal(size=(6, 16)) * 4])
    fitted = ThemeModel(random_state=0).fit(X, texts=[f"topic{k} word" for k in np.repeat([0, 1, 2, 3], [40, 40, 40, 6])])
    themes = fitted.themes_
    assert themes.n_outliers > 0
    fig = viz.plot_map(themes)
    assert fig.data[0].name.startswith("no theme") and fig.data[0].marker.color == viz.OUTLIER_COLOR
    assert fig.data[0].legendrank > max(t.legendrank for t in fig.data[1:])  # listed last
    assert _points(fig) == len(themes.article_ids)
    without = viz.plot_map(themes, outliers=False)
    assert _points(without) == len(themes.article_ids) - themes.n_outliers
    sizes = viz.plot_sizes(themes)
    assert list(sizes.data[0].y)[-1] == "no theme" and sizes.data[0].x[-1] == themes.n_outliers
    assert "no theme" not in list(viz.plot_sizes(themes, outliers=False).data[0].y)
    assert "No theme" in viz.theme_html(themes, -1)


def test_map_needs_coordinates() -> None:
    rng = np.random.default_rng(1)
    themes = ThemeModel(coords=False).fit(rng.normal(size=(12, 8))).themes_
    with pytest.raises(InvalidArgumentError, match="coords=True"):
        viz.plot_map(themes)


def test_sizes(themes: Themes) -> None:
    fig = viz.plot_sizes(themes)
    bar = fig.data[0]
    k = len(themes)
    assert list(bar.x[:k]) == [t.size for t in themes] and sum(bar.x) == len(themes.article_ids)
    assert list(bar.y[:k]) == [f"{t.id}: {t.name}" for t in themes]
    assert list(bar.marker.color[:k]) == [viz.theme_color(themes, t) for t in themes.ids]
    assert fig.layout.yaxis.autorange == "reversed"  # largest on top
    assert themes[themes.ids[0]].keywords[0] in bar.hovertext[0]


def test_over_time(themes: Themes) -> None:
    table = themes.over_time("W")
    fig = viz.plot_over_time(themes, freq="W")
    assert fig.layout.barmode == "stack"
    ranked = [t for t in table.sum().sort_values(ascending=False, kind="stable").index if t >= 0]
    expected = [f"{t}: {themes[t].name}" for t in ranked] + (["no theme"] if -1 in table.columns else [])
    assert [t.name for t in fig.data] == expected
    assert sum(int(np.sum(t.y)) for t in fig.data) == int(table.to_numpy().sum()) == 48  # the seeds have no date
    assert fig.layout.meta["n_bars"] == int((table.to_numpy() > 0).sum())
    assert "per week" in fig.layout.title.text
    top1 = viz.plot_over_time(themes, freq="M", top=1)
    assert [t.name for t in top1.data][1:] == [f"other themes ({len(ranked) - 1})", "no theme"][: len(top1.data) - 1]
    assert "per month" in top1.layout.title.text
    shares = viz.plot_over_time(themes, normalize=True)
    totals = np.sum([np.asarray(t.y) for t in shares.data], axis=0)
    assert np.allclose(totals, 1.0)
    with pytest.raises(InvalidArgumentError):
        viz.plot_over_time(themes, freq="fortnight")
    with pytest.raises(InvalidArgumentError):
        viz.plot_over_time(themes, top=0)


def test_over_time_without_dates_says_how_to_fix() -> None:
    rng = np.random.default_rng(2)
    themes = ThemeModel().fit(rng.normal(size=(10, 8))).themes_
    with pytest.raises(InvalidArgumentError, match="published"):
        viz.plot_over_time(themes)


def test_similarity(themes: Themes) -> None:
    fig = viz.plot_similarity(themes)
    z = np.asarray(fig.data[0].z)
    k = len(themes)
    assert z.shape == (k, k) and np.allclose(np.diag(z), 1.0, atol=1e-3) and np.allclose(z, z.T)
    assert sorted(fig.data[0].x) == sorted(f"{t.id}: {t.name}" for t in themes)
    plain = viz.plot_similarity(themes, order=False)
    assert list(plain.data[0].x) == [f"{t.id}: {t.name}" for t in themes]


def test_one_theme_as_html(themes: Themes) -> None:
    tid = themes.ids[0]
    view = viz.show_theme(themes, tid, n_articles=3)
    page = view._repr_html_()
    theme = themes[tid]
    assert theme.name in page and all(k in page for k in theme.keywords)
    assert page.count("<tr>") == 1 + min(3, theme.size)
    assert theme.name in repr(view)
    markets = next(t for t in themes.ids if "markets-0" in themes.articles(t)["doc_id"].tolist())
    stored = themes.titles[themes.article_ids.index("markets-0")]  # ingest may strip its markup
    escaped = stored.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    page = viz.theme_html(themes, markets, n_articles=50)
    assert "&amp;" in escaped and escaped in page and stored not in page
    with pytest.raises(NotFoundError):
        viz.show_theme(themes, 999)


# -- export ----------------------------------------------------------------------------------------


def test_html_is_self_contained(themes: Themes, tmp_path: Path) -> None:
    path = viz.save_html(viz.plot_map(themes), tmp_path / "sub" / "map.html")
    page = path.read_text(encoding="utf-8")
    assert re.search(r"<script[^>]*\bsrc\s*=", page, re.I) is None  # plotly.js is inlined
    assert re.search(r"<link[^>]*href\s*=\s*[\"']?(https?:)?//", page, re.I) is None
    assert "Plotly.newPlot" in page and len(page) > 1_000_000


def test_shared_plotly_js_pages_are_small_and_share_one_copy(themes: Themes, tmp_path: Path) -> None:
    folder = tmp_path / "maps"
    first = viz.save_html(viz.plot_map(themes), folder / "map.html", plotly_js="shared")
    js = folder / viz.plotly_js_file()
    stamp = (js.stat().st_ino, js.stat().st_mtime_ns)
    second = viz.save_html(viz.plot_sizes(themes), folder / "sizes.html", plotly_js="shared")
    assert sorted(p.name for p in folder.iterdir()) == sorted(["map.html", "sizes.html", js.name])
    assert (js.stat().st_ino, js.stat().st_mtime_ns) == stamp  # written once, then shared
    assert js.stat().st_size > 1_000_000 and "plotly" in js.name and js.name.endswith(".min.js")
    for page in (first, second):
        assert page.stat().st_size < 100_000
        text = page.read_text(encoding="utf-8")
        sources = re.findall(r"<script[^>]*\bsrc\s*=\s*[\"']([^\"']+)", text, re.I)
        assert sources == [js.name]  # the one local copy, no CDN
        assert "Plotly.newPlot" in text
    inline = viz.save_html(viz.plot_map(themes), tmp_path / "inline.html")  # the default
    assert inline.stat().st_size > 1_000_000 and not (tmp_path / js.name).exists()
    with pytest.raises(InvalidArgumentError, match="plotly_js"):
        viz.save_html(viz.plot_map(themes), tmp_path / "x.html", plotly_js="cdn")  # type: ignore[arg-type]


def _alpha(colour: str) -> float:
    match = re.fullmatch(r"rgba\(\s*[\d.]+\s*,\s*[\d.]+\s*,\s*[\d.]+\s*,\s*([\d.]+)\s*\)", colour)
    return float(match.group(1)) if match else 1.0


def test_map_labels_hide_no_points(themes: Themes) -> None:
    """The theme names on the map have no opaque box: no background, no border, a thin halo."""
    annotations = viz.plot_map(themes).layout.annotations
    assert len(annotations) == len(themes)
    for a in annotations:
        assert a.bgcolor is None or _alpha(a.bgcolor) == 0.0, a.bgcolor
        assert not a.borderwidth and a.font.shadow == viz.plots.LABEL_HALO
        assert a.captureevents is False  # the points underneath keep their hover


def _members(view: Themes, theme_id: int) -> set[str]:
    return {a for a, t in zip(view.article_ids, view.labels.tolist()) if t == theme_id}


def test_a_reduced_map_shows_the_broader_theme_in_the_hover(themes: Themes) -> None:
    named = [themes.level(name) for name in themes.levels]
    assert len(named) >= 2  # a tree to be inside of
    checked = {"inside": 0, "top": 0}
    for n in range(1, len(themes)):
        cut = themes.reduce(n)
        for trace in viz.plot_map(cut).data:
            if trace.name.startswith("no theme"):
                continue
            tid = int(trace.name.split(":")[0])
            mine = _members(cut, tid)
            around = [t for v in named for t in v if mine < _members(v, t.id)]  # strictly broader
            if not around:
                assert "in: " not in trace.hovertemplate, (n, tid, trace.hovertemplate)
                checked["top"] += 1
                continue
            smallest = min(around, key=lambda t: (t.size, t.id))
            assert f"in: {smallest.id}: {smallest.name}" in trace.hovertemplate, (n, tid)
            checked["inside"] += 1
    assert checked["inside"] and checked["top"]
    default = viz.plot_map(themes)  # a named level: the parent in the tree
    for trace in [t for t in default.data if not t.name.startswith("no theme")]:
        parent = themes.parent(int(trace.name.split(":")[0]))
        assert parent is not None and f"in: {parent.id}: {parent.name}" in trace.hovertemplate


def _png_size(path: Path) -> tuple[int, int]:
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", "not a PNG"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def test_png(themes: Themes, tmp_path: Path) -> None:
    _need("kaleido", "viz")
    if not Path(CHROMIUM).exists() and not os.environ.get("BROWSER_PATH"):
        if os.environ.get("CI"):
            pytest.fail(f"no Chromium at {CHROMIUM}: apt-get install chromium")
        pytest.skip("no Chromium for PNG export (apt-get install chromium)")
    path = viz.save_png(viz.plot_map(themes), tmp_path / "map.png", width=800, height=600, scale=1)
    assert _png_size(path) == (800, 600) and path.stat().st_size > 10_000
    path = viz.save_png(viz.plot_over_time(themes), tmp_path / "time.png")
    assert _png_size(path) == (2000, 960)  # default width 1000, the figure's height 480, scale 2


def test_missing_plotly_names_the_extra(themes: Themes, monkeypatch: pytest.MonkeyPatch) -> None:
    for name in [m for m in sys.modules if m == "plotly" or m.startswith("plotly.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "plotly", None)
    for call in (lambda: viz.plot_map(themes), lambda: viz.plot_sizes(themes), lambda: viz.save_html(None, "x.html")):
        with pytest.raises(MissingDependencyError, match=re.escape("pip install 'semclust[viz]'")):
            call()


def test_missing_kaleido_names_the_extra(themes: Themes, monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None)
    with pytest.raises(MissingDependencyError, match=re.escape("semclust[viz]")):
        viz.save_png(viz.plot_sizes(themes), tmp_path / "x.png")


def test_import_semclust_does_not_import_plotting() -> None:
    code = "import sys, semclust, semclust.viz.plots; assert 'plotly' not in sys.modules, 'plotly imported'"
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


# -- in a real browser -----------------------------------------------------------------------------




@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_playwright = browser_or_skip()
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        try:
            yield b
        finally:
            b.close()


# What the rendered plot holds: points drawn as SVG markers, WebGL points, annotations, legend.
RENDERED = """() => {
  const gd = document.querySelector('.js-plotly-plot');
  return {
    svgPoints: document.querySelectorAll('.scatterlayer path.point').length,
    glPoints: gd.calcdata.filter(c => c[0].trace.type === 'scattergl').reduce((n, c) => n + c[0].trace._length, 0),
    canvases: document.querySelectorAll('canvas.gl-canvas').length,
    labels: [...document.querySelectorAll('.annotation-text')].map(e => e.textContent),
    legend: [...document.querySelectorAll('.legend .legendtext')].map(e => e.textContent),
    bars: [...document.querySelectorAll('.barlayer .point path')].filter(p => {
      const b = p.getBBox(); return b.width > 0 && b.height > 0; }).length,
    meta: gd.layout.meta,
  };
}"""


def _open(browser: Any, path: Path) -> tuple[Any, list[str]]:
    page = browser.new_page(viewport={"width": 1200, "height": 800})
    requests: list[str] = []
    page.on("request", lambda req: requests.append(req.url))
    page.goto(path.resolve().as_uri(), timeout=30_000)
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd._fullLayout && gd.calcdata && document.querySelector('.main-svg'); }",
        timeout=30_000,
    )
    page.wait_for_timeout(300)  # let WebGL draw its first frame
    return page, requests


def _hover_text(page: Any, trace: int, point: int) -> str:
    """Move the mouse onto one point (placed by the plot's own axes) and read the hover label."""
    x, y = page.evaluate(
        """([t, i]) => {
          const gd = document.querySelector('.js-plotly-plot'), fl = gd._fullLayout, tr = gd._fullData[t];
          const box = gd.querySelector('.main-svg').getBoundingClientRect();
          return [box.left + fl._size.l + fl.xaxis.l2p(tr.x[i]), box.top + fl._size.t + fl.yaxis.l2p(tr.y[i])];
        }""",
        [trace, point],
    )
    page.mouse.move(x, y)
    page.wait_for_selector(".hoverlayer .hovertext", timeout=10_000)
    return str(page.text_content(".hoverlayer .hovertext"))


def _offline(requests: list[str]) -> bool:
    return all(u.startswith(("file:", "data:", "blob:")) for u in requests)


@pytest.mark.parametrize("render", ["svg", "webgl"])
def test_map_renders_every_point_and_theme_label_in_chromium(
    browser: Any, themes: Themes, tmp_path: Path, render: str
) -> None:
    fig = viz.plot_map(themes, render=render)  # type: ignore[arg-type]
    path = viz.save_html(fig, tmp_path / f"map-{render}.html")
    page, requests = _open(browser, path)
    try:
        got = page.evaluate(RENDERED)
        first = next(i for i, t in enumerate(fig.data) if not t.name.startswith("no theme"))
        hover = _hover_text(page, first, 0)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / f"theme-map-{render}.png"), full_page=True)
    finally:
        page.close()
    n = len(themes.article_ids)
    if render == "svg":
        assert got["svgPoints"] == n and got["glPoints"] == 0
    else:
        assert got["glPoints"] == n and got["svgPoints"] == 0 and got["canvases"] >= 1
    assert sorted(got["labels"]) == sorted(t.name for t in themes)
    assert len(got["legend"]) == len(fig.data)
    theme = themes[int(str(fig.data[first].name).split(":")[0])]
    title = fig.data[first].text[0].replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
    assert title in hover and theme.name in hover and theme.keywords[0] in hover
    assert _offline(requests), requests
    assert (ARTIFACTS / f"theme-map-{render}.png").stat().st_size > 10_000


def test_over_time_chart_renders_in_chromium(browser: Any, themes: Themes, tmp_path: Path) -> None:
    table = themes.over_time("W")
    fig = viz.plot_over_time(themes, freq="W")
    path = viz.save_html(fig, tmp_path / "over-time.html")
    page, requests = _open(browser, path)
    try:
        got = page.evaluate(RENDERED)
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        page.screenshot(path=str(ARTIFACTS / "themes-over-time.png"), full_page=True)
    finally:
        page.close()
    assert got["bars"] == int((table.to_numpy() > 0).sum()) == got["meta"]["n_bars"]
    expected = [f"{t}: {themes[int(t)].name}" if int(t) >= 0 else "no theme" for t in table.columns]
    assert sorted(got["legend"]) == sorted(expected)
    assert _offline(requests), requests
    assert (ARTIFACTS / "themes-over-time.png").stat().st_size > 10_000


def test_sizes_and_similarity_render_in_chromium(browser: Any, themes: Themes, tmp_path: Path) -> None:
    sizes = viz.save_html(viz.plot_sizes(themes), tmp_path / "sizes.html")
    page, _ = _open(browser, sizes)
    try:
        assert page.evaluate(RENDERED)["bars"] == len(themes) + (themes.n_outliers > 0)
        page.screenshot(path=str(ARTIFACTS / "theme-sizes.png"), full_page=True)
    finally:
        page.close()
    heat = viz.save_html(viz.plot_similarity(themes), tmp_path / "similarity.html")
    page, _ = _open(browser, heat)
    try:
        assert page.locator(".heatmaplayer image").count() == 1
        page.screenshot(path=str(ARTIFACTS / "theme-similarity.png"), full_page=True)
    finally:
        page.close()


def test_shared_plotly_js_page_renders_offline_in_chromium(browser: Any, themes: Themes, tmp_path: Path) -> None:
    fig = viz.plot_map(themes)
    path = viz.save_html(fig, tmp_path / "maps" / "map.html", plotly_js="shared")
    viz.save_html(viz.plot_sizes(themes), tmp_path / "maps" / "sizes.html", plotly_js="shared")
    page, requests = _open(browser, path)
    try:
        got = page.evaluate(RENDERED)
        halo = page.evaluate(
            "() => [...document.querySelectorAll('.annotation')].map(a => ({"
            " shadow: getComputedStyle(a.querySelector('.annotation-text')).textShadow,"
            " fill: getComputedStyle(a.querySelector('rect.bg')).fillOpacity,"
            " stroke: getComputedStyle(a.querySelector('rect.bg')).strokeWidth }))"
        )
        page.screenshot(path=str(ARTIFACTS / "theme-map-shared.png"), full_page=True)
    finally:
        page.close()
    assert got["svgPoints"] == len(themes.article_ids)
    assert sorted(got["labels"]) == sorted(t.name for t in themes)
    assert any(u.endswith(viz.plotly_js_file()) for u in requests), requests
    assert _offline(requests), requests
    # the labels are drawn without a box, with a halo
    assert halo and all(h["shadow"] not in ("", "none") for h in halo), halo
    assert all(float(h["fill"]) == 0 or h["stroke"] in ("0", "0px") for h in halo), halo

