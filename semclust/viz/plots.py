"""Charts of themes for Jupyter and the browser: the theme map, sizes, themes over time and
theme-to-theme similarity, built with plotly (the optional ``viz`` extra).

Every ``plot_*`` function takes a fitted :class:`~semclust.themes.Themes` and returns a
``plotly.graph_objects.Figure``, which displays itself in Jupyter (hover, zoom, pan, legend
toggles). :func:`~semclust.viz.export.save_html` writes a page that works offline (plotly.js
inlined, or one shared copy next to several pages) and :func:`~semclust.viz.export.save_png` a
picture. Colours are stable: a theme has the same colour in every chart.

The map draws SVG markers up to :data:`WEBGL_THRESHOLD` points and WebGL (``scattergl``) above
that, so it stays responsive at 100,000 articles; past ``max_points`` it shows a seeded random
sample (every theme keeps its label, placed from all of its articles).

>>> from semclust import viz
>>> fig = viz.plot_map(themes)           # doctest: +SKIP
>>> viz.save_html(fig, "themes.html")    # doctest: +SKIP
"""

from __future__ import annotations

import html
import math
from collections.abc import Sequence
from types import ModuleType
from typing import TYPE_CHECKING, Any, Literal

import numpy as np

from semclust.errors import InvalidArgumentError, MissingDependencyError, NotFoundError

if TYPE_CHECKING:
    from semclust.themes.result import Themes

__all__ = [
    "LABEL_HALO",
    "MAX_POINTS",
    "WEBGL_THRESHOLD",
    "plot_map",
    "plot_over_time",
    "plot_similarity",
    "plot_sizes",
    "theme_color",
]

#: Above this many points the map draws with WebGL (``scattergl``) instead of SVG.
WEBGL_THRESHOLD = 3_000
#: The map shows at most this many points by default (a seeded random sample beyond).
MAX_POINTS = 200_000
#: Colour of articles without a theme.
OUTLIER_COLOR = "#b4b4b4"
#: Colour of the "other themes" series of :func:`plot_over_time`.
OTHER_COLOR = "#7f7f7f"
#: The thin white halo around the theme names on the map (a CSS ``text-shadow``): the names
#: have no box, so they hide no points, and stay legible over them.
LABEL_HALO = "0 0 2px #fff, 0 0 2px #fff, 0 0 1px #fff"

# plotly's Dark24 then Light24 palettes, with the near-black and palest swapped for clearer
# colours (48 distinct colours, then they repeat).
_PALETTE = (
    "#2E91E5", "#E15F99", "#1CA71C", "#FB0D0D", "#DA16FF", "#8C564B", "#B68100", "#750D86",
    "#EB663B", "#511CFB", "#00A08B", "#FB00D1", "#FC0080", "#B2828D", "#6C7C32", "#778AAE",
    "#862A16", "#A777F1", "#620042", "#1616A7", "#DA60CA", "#6C4516", "#0D2A63", "#AF0038",
    "#FD3216", "#00FE35", "#6A76FC", "#BCBD22", "#FE00CE", "#0DF9FF", "#F6F926", "#FF9616",
    "#479B55", "#EEA6FB", "#DC587D", "#D626FF", "#6E899C", "#00B5F7", "#B68E00", "#17BECF",
    "#FF0092", "#22FFA7", "#9467BD", "#86CE00", "#BC7196", "#7E7DCD", "#FC6955", "#E48F72",
)  # fmt: skip

_PERIODS = {"D": "day", "W": "week", "M": "month", "ME": "month", "Q": "quarter", "QE": "quarter",
            "Y": "year", "YE": "year", "A": "year", "h": "hour", "H": "hour"}  # fmt: skip
_INSTALL = "pip install 'semclust[viz]'"

Render = Literal["auto", "svg", "webgl"]


def _plotly() -> ModuleType:
    """``plotly.graph_objects``, or a :class:`MissingDependencyError` saying how to install it."""
    try:
        import plotly.graph_objects as go  # type: ignore[import-untyped]
    except ImportError as err:
        raise MissingDependencyError(
            f"charts need plotly ({err.name or 'plotly'} is missing): install it with `{_INSTALL}`"
        ) from err
    module: ModuleType = go
    return module


def theme_color(themes: Themes, theme_id: int) -> str:
    """The colour of a theme in every chart (``-1``, no theme, is grey)."""
    if theme_id < 0:
        return OUTLIER_COLOR
    try:
        position = themes.ids.index(int(theme_id))
    except ValueError:
        themes[theme_id]  # raises NotFoundError naming the valid ids
        raise
    return _PALETTE[position % len(_PALETTE)]


def _text(value: str) -> str:
    """Text for plotly's HTML-like labels: ``<``, ``>`` and ``&`` escaped."""
    return html.escape(value, quote=False)


def _keywords(keywords: Sequence[str], n: int = 6) -> str:
    return _text(", ".join(keywords[:n]))


# -- the map -------------------------------------------------------------------------------------


def plot_map(
    themes: Themes,
    *,
    max_points: int | None = MAX_POINTS,
    render: Render = "auto",
    n_labels: int = 30,
    outliers: bool = True,
    point_size: float | None = None,
    title: str | None = None,
    height: int = 700,
    random_state: int = 0,
    level: str | int | None = None,
) -> Any:
    """An interactive 2-D map of the articles, coloured by theme, with theme names on it.

    Points are coloured by the themes' level (the default level for ``store.themes()``; pass
    ``level=`` or a view such as ``themes.level("fine")`` or ``themes.reduce(6)`` for another).
    Hovering a point shows the article's title, its theme's name and keywords, and the broader
    theme it lies in (its parent in the tree; for a cut such as ``reduce(6)``, the smallest
    theme of a named level that contains it); clicking a legend entry hides or shows a theme.
    The theme names are drawn without a box, with a thin white halo (:data:`LABEL_HALO`), so
    they hide no points. Each point's ``customdata`` is its article id.

    Args:
        themes: Fitted themes with 2-D coordinates (``ThemeModel(coords=True)``, the default).
        max_points: Show at most this many articles (a seeded random sample); ``None`` for all.
        render: ``"svg"``, ``"webgl"`` (fast for many points), or ``"auto"``: WebGL above
            :data:`WEBGL_THRESHOLD` points.
        n_labels: Put the names of this many themes (largest first) on the map.
        outliers: Show articles without a theme (in grey).
        point_size: Marker size in pixels (default: smaller for more points).
        title: Figure title (default: counts of articles and themes).
        height: Figure height in pixels.
        random_state: Seed of the sample.
        level: Colour by this level of the theme tree instead (see ``Themes.level``).

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    go = _plotly()
    if level is not None:
        themes = themes.level(level)
    if themes.coords is None:
        raise InvalidArgumentError(
            "these themes have no 2-D coordinates to plot; fit them with coords=True (the default)"
        )
    if render not in ("auto", "svg", "webgl"):
        raise InvalidArgumentError(f"render must be 'auto', 'svg' or 'webgl', got {render!r}")
    if max_points is not None and max_points < 1:
        raise InvalidArgumentError(f"max_points must be at least 1 or None, got {max_points!r}")
    xy = np.asarray(themes.coords, dtype=np.float32)
    labels = np.asarray(themes.labels)
    n = len(xy)
    shown = np.arange(n) if outliers else np.flatnonzero(labels >= 0)
    if max_points is not None and len(shown) > max_points:
        rng = np.random.default_rng(random_state)
        shown = np.sort(rng.choice(shown, size=max_points, replace=False))
    webgl = render == "webgl" or (render == "auto" and len(shown) > WEBGL_THRESHOLD)
    trace_type = go.Scattergl if webgl else go.Scatter
    size = point_size or (7.0 if len(shown) <= 1_000 else 5.0 if len(shown) <= 10_000 else 3.0)
    traces = _map_traces(themes, go, trace_type, xy, labels, shown, size, outliers)
    annotations = _map_labels(themes, xy, labels, n_labels)
    available = n if outliers else int((labels >= 0).sum())
    sample = f" (a sample of {len(shown):,})" if len(shown) < available else ""
    fig = go.Figure(traces)
    fig.update_layout(
        title=title or f"{len(themes)} themes in {n:,} articles{sample}",
        template="plotly_white", height=height, hovermode="closest", dragmode="zoom",
        xaxis={"visible": False}, yaxis={"visible": False, "scaleanchor": "x", "scaleratio": 1},
        legend={"title": {"text": "themes (size)"}, "itemsizing": "constant"},
        hoverlabel={"align": "left"}, annotations=annotations, margin={"l": 10, "r": 10, "t": 50, "b": 10},
        meta={"semclust": "theme-map", "n_points": len(shown), "n_articles": n, "webgl": webgl},
    )
    return fig


def _map_traces(
    themes: Themes, go: Any, trace_type: Any, xy: np.ndarray, labels: np.ndarray, shown: np.ndarray,
    size: float, outliers: bool,
) -> list[Any]:
    """One scatter trace per theme (outliers first, drawn underneath) for :func:`plot_map`."""
    titles = themes.titles
    ids = themes.article_ids
    traces: list[Any] = []
    shown_labels = labels[shown]
    broader_of = _broader_themes(themes)
    for rank, tid in enumerate([*themes.ids, -1] if outliers else themes.ids):
        rows = shown[shown_labels == tid]
        if tid >= 0:
            theme = themes[tid]
            name = f"{tid}: {theme.name} ({theme.size})"
            about = f"theme {tid}: <b>{_text(theme.name)}</b><br>{_keywords(theme.keywords)}"
            broader = broader_of.get(tid)
            if broader is not None:
                about += f"<br>in: {broader.id}: {_text(broader.name)}"
        elif len(rows):
            name, about = f"no theme ({int((labels < 0).sum())})", "no theme"
        else:
            continue
        row_list = rows.tolist()
        trace = trace_type(
            x=xy[rows, 0], y=xy[rows, 1], mode="markers", name=_text(name), legendrank=1000 + rank,
            text=[_text(titles[i] or ids[i]) for i in row_list], customdata=[ids[i] for i in row_list],
            hovertemplate=f"<b>%{{text}}</b><br>{about}<extra></extra>",
            marker={"size": size if tid >= 0 else size * 0.8, "color": theme_color(themes, tid),
                    "opacity": 0.8 if tid >= 0 else 0.45, "line": {"width": 0}},
        )
        # outliers are drawn first (underneath the themes) but listed last in the legend
        if tid < 0:
            traces.insert(0, trace)
        else:
            traces.append(trace)

    return traces


def _map_labels(themes: Themes, xy: np.ndarray, labels: np.ndarray, n_labels: int) -> list[dict[str, Any]]:
    """The names of the ``n_labels`` largest themes, placed on the map (:func:`plot_map`)."""
    annotations: list[dict[str, Any]] = []
    for tid in themes.ids[: max(n_labels, 0)]:
        members = np.flatnonzero(labels == tid)
        if len(members) == 0:
            continue
        centre = np.median(xy[members], axis=0)
        anchor = xy[members[np.argmin(((xy[members] - centre) ** 2).sum(axis=1))]]
        theme = themes[tid]
        annotations.append({
            "x": float(anchor[0]), "y": float(anchor[1]), "text": f"<b>{_text(theme.name)}</b>",
            "showarrow": False, "name": f"theme-{tid}", "captureevents": False,
            "font": {"size": round(11 + 7 * math.sqrt(theme.share)), "color": "#1a1a1a",
                     "shadow": LABEL_HALO},
            # no box: the points show through around the letters, and the halo keeps them legible
            "bgcolor": "rgba(0,0,0,0)", "borderwidth": 0, "borderpad": 2,
        })
    return annotations


def _leaves(view: Themes) -> dict[int, frozenset[int]]:
    """``{theme id: the fine clusters (leaves of the tree) it is made of}``."""
    leaf_theme = np.asarray(view.leaf_theme).tolist()
    out: dict[int, set[int]] = {}
    for leaf, tid in enumerate(leaf_theme):
        out.setdefault(int(tid), set()).add(leaf)
    return {t: frozenset(v) for t, v in out.items()}


def _broader_themes(themes: Themes) -> dict[int, Any]:
    """``{theme id: the broader theme of the tree it lies in}``, for the map's hover.

    At a named level of the tree this is the theme's parent. A cut such as ``reduce(6)`` or
    ``plot_map(level=6)`` has themes of no named level: each gets the smallest theme of a
    named level that strictly contains it (none where it is as broad as the broad themes).
    """
    if themes.level_name in themes.levels:
        found = {t: _parent(themes, t) for t in themes.ids}
        return {t: p for t, p in found.items() if p is not None}
    named = [themes.level(name) for name in themes.levels]
    candidates = [(t.size, t.id, t, leaves) for view in named for t in view
                  for leaves in [_leaves(view).get(t.id, frozenset())]]
    candidates.sort(key=lambda c: (c[0], c[1]))
    out = {}
    for tid, leaves in _leaves(themes).items():
        if tid in themes.ids:
            inside = next((c[2] for c in candidates if leaves < c[3]), None)
            if inside is not None:
                out[tid] = inside
    return out


def _parent(themes: Themes, theme_id: int) -> Any:
    try:
        return themes.parent(theme_id)
    except NotFoundError:  # not in the tree
        return None


# -- sizes, over time, similarity ---------------------------------------------------------------


def plot_sizes(themes: Themes, *, outliers: bool = True, title: str | None = None) -> Any:
    """A horizontal bar chart of theme sizes (articles whose main theme it is), largest on top;
    hovering a bar shows the theme's share and keywords.

    Args:
        themes: Fitted themes.
        outliers: Add a grey bar for the articles without a theme (when there are any).
        title: Figure title.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    go = _plotly()
    names, sizes, colors, hover = [], [], [], []
    for t in themes:
        names.append(_text(f"{t.id}: {t.name}"))
        sizes.append(t.size)
        colors.append(theme_color(themes, t.id))
        hover.append(
            f"<b>{_text(t.name)}</b><br>{t.size:,} articles ({t.share:.1%})<br>{_keywords(t.keywords)}"
        )
    if outliers and themes.n_outliers:
        names.append("no theme")
        sizes.append(themes.n_outliers)
        colors.append(OUTLIER_COLOR)
        hover.append(f"<b>no theme</b><br>{themes.n_outliers:,} articles ({themes.outlier_share:.1%})")
    fig = go.Figure(go.Bar(
        x=sizes, y=names, orientation="h", marker={"color": colors}, hovertext=hover,
        hovertemplate="%{hovertext}<extra></extra>",
    ))
    fig.update_layout(
        title=title or f"Theme sizes ({len(themes.article_ids):,} articles)", template="plotly_white",
        height=max(300, 26 * len(names) + 120), xaxis={"title": {"text": "articles"}},
        yaxis={"autorange": "reversed", "automargin": True}, hoverlabel={"align": "left"},
        meta={"semclust": "theme-sizes", "n_bars": len(names)},
    )
    return fig


def plot_over_time(
    themes: Themes,
    freq: str = "W",
    *,
    top: int = 10,
    normalize: bool = False,
    outliers: bool = True,
    title: str | None = None,
) -> Any:
    """Stacked bars of articles per period and theme, from the articles' ``published`` dates.

    Args:
        themes: Fitted themes of articles with ``published`` dates (undated ones are left out).
        freq: A pandas period alias: ``"D"``, ``"W"``, ``"M"``, ``"Q"``, ``"Y"``.
        top: Show the ``top`` largest themes (over the dated articles) on their own; the rest
            are summed as "other themes".
        normalize: Show each period's shares instead of counts.
        outliers: Show the articles without a theme (in grey).
        title: Figure title.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    go = _plotly()
    if top < 1:
        raise InvalidArgumentError(f"top must be at least 1, got {top!r}")
    table = themes.over_time(freq)
    if table.empty:
        raise InvalidArgumentError(
            "no article has a published date, so there is nothing to chart over time; give your "
            "articles a `published` field (an ISO date such as '2024-02-17') and fit the themes again"
        )
    counts = table.sum(axis=0)
    ranked = [int(t) for t in counts.sort_values(ascending=False, kind="stable").index if int(t) >= 0]
    kept, rest = ranked[:top], ranked[top:]
    series: list[tuple[str, str, Any]] = [
        (f"{t}: {themes[t].name}", theme_color(themes, t), table[t]) for t in kept
    ]
    if rest:
        series.append((f"other themes ({len(rest)})", OTHER_COLOR, table[rest].sum(axis=1)))
    if outliers and -1 in table.columns:
        series.append(("no theme", OUTLIER_COLOR, table[-1]))
    totals = table.sum(axis=1).clip(lower=1)
    unit = _PERIODS.get(freq, freq)
    x = list(table.index)
    traces = []
    for name, color, values in series:
        y = (values / totals).to_numpy(dtype=float) if normalize else values.to_numpy(dtype=int)
        value = "%{y:.1%} of articles" if normalize else "%{y} articles"
        traces.append(go.Bar(
            x=x, y=y, name=_text(name), marker={"color": color},
            hovertemplate=f"<b>{_text(name)}</b><br>{unit} of %{{x|%d %b %Y}}: {value}<extra></extra>",
        ))
    fig = go.Figure(traces)
    n_dated = int(table.to_numpy().sum())
    n_bars = int(sum(int((np.asarray(v) > 0).sum()) for _, _, v in series))
    fig.update_layout(
        title=title or f"Articles per {unit} by theme ({n_dated:,} dated articles)",
        template="plotly_white", barmode="stack", bargap=0.1, height=480, hovermode="closest",
        yaxis={"title": {"text": "share of articles" if normalize else "articles"},
               "tickformat": ".0%" if normalize else ""},
        xaxis={"title": {"text": unit}}, legend={"title": {"text": "themes"}, "traceorder": "normal"},
        meta={"semclust": "themes-over-time", "n_bars": n_bars, "n_periods": len(x)},
    )
    return fig


def plot_similarity(themes: Themes, *, order: bool = True, title: str | None = None) -> Any:
    """A heatmap of the cosine similarity between theme centres.

    Args:
        themes: Fitted themes.
        order: Order the themes so that similar ones sit together (average-linkage leaf
            order, as in :meth:`Themes.hierarchy`); ``False`` keeps largest first.
        title: Figure title.

    Returns:
        A ``plotly.graph_objects.Figure``.
    """
    go = _plotly()
    ids, centres = themes.theme_centroids()
    positions = list(range(len(ids)))
    if order and len(ids) >= 3:
        from scipy.cluster.hierarchy import leaves_list, linkage  # type: ignore[import-untyped]

        tree = linkage(centres.astype(np.float64), method="average", metric="cosine")
        positions = [int(i) for i in leaves_list(tree)]
    ids = [ids[i] for i in positions]
    centres = centres[positions]
    sim = np.clip(centres @ centres.T, -1.0, 1.0).round(3)
    names = [_text(f"{t}: {themes[t].name}") for t in ids]
    small = len(ids) <= 15
    off = sim[~np.eye(len(ids), dtype=bool)]  # the colours span the off-diagonal values
    low, high = (float(off.min()), float(off.max())) if off.size else (0.0, 1.0)
    fig = go.Figure(go.Heatmap(
        z=sim, x=names, y=names, colorscale="Blues", zmin=low, zmax=max(high, low + 1e-3),
        colorbar={"title": {"text": "cosine"}}, texttemplate="%{z:.2f}" if small else None,
        hovertemplate="%{y}<br>%{x}<br>similarity %{z:.2f}<extra></extra>",
    ))
    fig.update_layout(
        title=title or "Similarity of theme centres", template="plotly_white",
        height=max(450, 36 * len(ids) + 300), width=max(600, 36 * len(ids) + 420),
        xaxis={"tickangle": -40, "automargin": True, "constrain": "domain"},
        yaxis={"autorange": "reversed", "automargin": True, "scaleanchor": "x", "constrain": "domain"},
        meta={"semclust": "theme-similarity", "n_themes": len(ids)},
    )
    return fig
