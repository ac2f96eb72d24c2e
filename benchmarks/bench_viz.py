"""How responsive is the theme map with many points? Build, export and render it in headless Chromium.

For each size, a synthetic fitted ``Themes`` (50 themes as Gaussian blobs in 2-D, 3% outliers,
titles of about 50 characters) is drawn with ``semclust.viz.plot_map`` (WebGL above
``viz.WEBGL_THRESHOLD`` points, unless ``--render`` says otherwise), saved with ``save_html``,
and opened in Debian's Chromium (headless, through Playwright; software WebGL, SwiftShader, as
there is no GPU: a desktop browser with a GPU is faster). Timed:

* ``build_s``: ``plot_map`` in Python; ``save_s`` and ``html_mb``: ``save_html`` and the page size;
* ``render_ms``: from navigation start to the first frame painted after ``Plotly.newPlot``;
* ``hover_ms``: mouse moved onto a point until the hover label is shown (measured from Python, so
  it includes one round trip to the browser, about 1-5 ms);
* ``zoom_ms`` / ``pan_ms`` / ``reset_ms``: ``Plotly.relayout`` to a 4x zoom, a pan, and back to the
  full view, each until the next frame is painted;
* ``drag_zoom_ms``: a mouse drag-to-zoom box, until the new view is painted.

Medians of ``--repeat`` runs of each interaction.

    python benchmarks/bench_viz.py --sizes 10000 100000 300000 --out benchmarks/results/viz.json
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from semclust import viz  # noqa: E402
from semclust.themes import Assignment, Themes  # noqa: E402
from semclust.themes.labels import Theme  # noqa: E402

CHROMIUM = os.environ.get("SEMCLUST_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
WORDS = [
    "market", "shares", "bank", "election", "vote", "party", "match", "goal", "league", "film", "music",
    "album", "phone", "software", "internet", "oil", "prices", "growth", "court", "police", "school",
    "health", "rocket", "orbit", "climate", "energy",
]


def synthetic_themes(n: int, k: int = 50, seed: int = 0) -> Themes:
    rng = np.random.default_rng(seed)
    centres = rng.uniform(-40, 40, size=(k, 2))
    p = rng.dirichlet(np.full(k, 1.5))
    labels = rng.choice(k, size=n, p=p).astype(np.int64)
    coords = (centres[labels] + rng.normal(scale=rng.uniform(1.0, 3.0, size=k)[labels, None], size=(n, 2)))
    labels[rng.random(n) < 0.03] = -1
    sizes = np.bincount(labels[labels >= 0], minlength=k)
    order = np.argsort(-sizes, kind="stable")  # ids by size, largest first, as a fit gives them
    rank = np.empty(k, dtype=np.int64)
    rank[order] = np.arange(k)
    labels = np.where(labels >= 0, rank[np.maximum(labels, 0)], -1)
    sizes = sizes[order]
    themes = []
    for t in range(k):
        kws = [str(w) for w in rng.choice(WORDS, size=8, replace=False)]
        size = int(sizes[t])
        themes.append(Theme(id=t, name=" ".join(kws[:3]), keywords=kws, size=size, share=size / n))
    member = np.flatnonzero(labels >= 0)
    ones = np.ones(n, dtype=np.float32)
    assignment = Assignment(
        main=labels, similarity=ones, confidence=ones, strength=ones, outlier=labels < 0,
        weight_article=member, weight_theme=labels[member], weight_value=np.ones(len(member), np.float32),
    )
    titles = [f"Synthetic article {i}: {' '.join(rng.choice(WORDS, size=4))}" for i in range(n)]
    return Themes(
        themes=themes, article_ids=[f"doc-{i}" for i in range(n)], titles=titles, published=[None] * n,
        assignment=assignment, centroids=rng.normal(size=(k, 8)).astype(np.float32),
        thresholds=np.zeros(k, np.float32), quantiles=np.zeros((k, 21), np.float32),
        leaf_theme=np.arange(k), leaf_size=sizes, coords=coords.astype(np.float32), params={},
    )


NEXT_FRAME = (
    "() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(() => r(performance.now()))))"
)
RELAYOUT = """async (update) => {
  const gd = document.querySelector('.js-plotly-plot');
  const t = performance.now();
  await Plotly.relayout(gd, update);
  await new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r)));
  return performance.now() - t;
}"""
POINT_XY = """() => {
  const gd = document.querySelector('.js-plotly-plot'), fl = gd._fullLayout;
  const tr = gd._fullData.find(t => t.name && !t.name.startsWith('no theme') && t.visible !== false);
  const box = gd.querySelector('.main-svg').getBoundingClientRect();
  return [box.left + fl._size.l + fl.xaxis.l2p(tr.x[0]), box.top + fl._size.t + fl.yaxis.l2p(tr.y[0])];
}"""


def measure(page: Any, path: Path, repeat: int) -> dict[str, float]:
    page.goto(path.resolve().as_uri(), wait_until="load", timeout=300_000)
    page.wait_for_function(
        "() => { const gd = document.querySelector('.js-plotly-plot');"
        " return gd && gd._fullLayout && gd.calcdata; }",
        timeout=300_000,
    )
    render_ms = page.evaluate(NEXT_FRAME)
    out: dict[str, float] = {"render_ms": round(render_ms)}
    hovers, zooms, pans, resets, drags = [], [], [], [], []
    for _ in range(repeat):
        page.mouse.move(5, 5)
        page.wait_for_timeout(150)
        x, y = page.evaluate(POINT_XY)
        t = time.perf_counter()
        page.mouse.move(x, y)
        page.wait_for_selector(".hoverlayer .hovertext", timeout=30_000)
        hovers.append((time.perf_counter() - t) * 1000)
        page.mouse.move(5, 5)
        full = page.evaluate("() => { const l = document.querySelector('.js-plotly-plot')._fullLayout;"
                             " return [l.xaxis.range.slice(), l.yaxis.range.slice()]; }")
        (x0, x1), (y0, y1) = full
        cx, cy, w, h = (x0 + x1) / 2, (y0 + y1) / 2, (x1 - x0) / 8, (y1 - y0) / 8
        zoom = {"xaxis.range": [cx - w, cx + w], "yaxis.range": [cy - h, cy + h]}
        pan = {"xaxis.range": [cx, cx + 2 * w], "yaxis.range": [cy, cy + 2 * h]}
        zooms.append(page.evaluate(RELAYOUT, zoom))
        pans.append(page.evaluate(RELAYOUT, pan))
        resets.append(page.evaluate(RELAYOUT, {"xaxis.autorange": True, "yaxis.autorange": True}))
        box = page.locator(".nsewdrag").first.bounding_box()
        assert box is not None
        page.evaluate("() => { window.__done = false; document.querySelector('.js-plotly-plot')"
                      ".once('plotly_relayout', () => requestAnimationFrame(() => requestAnimationFrame("
                      "() => { window.__done = true; }))); }")
        t = time.perf_counter()
        page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.3)
        page.mouse.down()
        page.mouse.move(box["x"] + box["width"] * 0.6, box["y"] + box["height"] * 0.6, steps=4)
        page.mouse.up()
        page.wait_for_function("() => window.__done", timeout=60_000)
        drags.append((time.perf_counter() - t) * 1000)
        page.evaluate(RELAYOUT, {"xaxis.autorange": True, "yaxis.autorange": True})
    for name, values in (("hover_ms", hovers), ("zoom_ms", zooms), ("pan_ms", pans), ("reset_ms", resets),
                         ("drag_zoom_ms", drags)):
        out[name] = round(statistics.median(values))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000])
    parser.add_argument("--render", choices=["auto", "svg", "webgl"], default="auto")
    parser.add_argument("--max-points", type=int, default=None, help="sample the map (default: all points)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--plotly-js", choices=viz.PLOTLY_JS_OPTIONS, default="inline",
                        help="save_html's plotly_js: inline (default) or shared (html_mb then excludes "
                        "the one shared plotly.js)")
    parser.add_argument("--keep", type=Path, default=None, help="keep the HTML pages and screenshots here")
    parser.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "results" / "viz.json")
    args = parser.parse_args()
    from playwright.sync_api import sync_playwright

    folder = args.keep or Path(tempfile.mkdtemp(prefix="bench-viz-"))
    folder.mkdir(parents=True, exist_ok=True)
    rows = []
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)
        version = browser.version
        for n in args.sizes:
            themes = synthetic_themes(n)
            t = time.perf_counter()
            fig = viz.plot_map(themes, render=args.render, max_points=args.max_points)
            build_s = time.perf_counter() - t
            t = time.perf_counter()
            path = viz.save_html(fig, folder / f"map-{n}.html", plotly_js=args.plotly_js)
            save_s = time.perf_counter() - t
            page = browser.new_page(viewport={"width": 1400, "height": 900})
            row: dict[str, Any] = {
                "points": n, "shown": fig.layout.meta["n_points"], "webgl": fig.layout.meta["webgl"],
                "build_s": round(build_s, 2), "save_s": round(save_s, 2),
                "html_mb": round(path.stat().st_size / 2**20, 1),
            }
            row.update(measure(page, path, args.repeat))
            if args.keep:
                page.screenshot(path=str(folder / f"map-{n}.png"))
            page.close()
            rows.append(row)
            print(json.dumps(row), flush=True)
        browser.close()
    if not args.keep:
        shutil.rmtree(folder, ignore_errors=True)
    cols = list(rows[0])
    print("\n| " + " | ".join(cols) + " |\n|" + "---|" * len(cols))
    for row in rows:
        cells = [f"{v:,}" if isinstance(v, int) and not isinstance(v, bool) else str(v) for v in row.values()]
        print("| " + " | ".join(cells) + " |")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    result = {
        "chromium": version, "cpus": os.cpu_count(), "repeat": args.repeat, "render": args.render,
        "plotly_js": args.plotly_js,
        "rows": rows,
    }
    args.out.write_text(json.dumps(result, indent=2), encoding="utf-8")
    print(f"\nwritten to {args.out}")


if __name__ == "__main__":
    main()
