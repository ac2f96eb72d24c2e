"""Saving charts: HTML pages that work offline (:func:`save_html`) and PNG pictures
(:func:`save_png`).

A page needs plotly.js (about 4.7 MB). ``save_html(fig, path)`` inlines it, so the page is one
self-contained file (the default: a file to mail or attach). ``plotly_js="shared"`` writes the
page alone (tens of KB plus the data) with a ``<script src>`` to one copy of plotly.js in the
same folder, ``plotly-<version>.min.js``, written once and shared by every page saved there:
several maps cost one copy, and they still need no network (no CDN). The file name carries the
plotly.js version, so pages saved with another plotly never load a copy they were not made for.
"""

from __future__ import annotations

import importlib.util
import os
import tempfile
from pathlib import Path
from typing import Any, Literal

from semclust.errors import InvalidArgumentError, MissingDependencyError
from semclust.viz.plots import _INSTALL, _plotly

__all__ = ["PLOTLY_JS_OPTIONS", "PlotlyJs", "plotly_js_file", "save_html", "save_png"]

PlotlyJs = Literal["inline", "shared"]
#: The values of ``save_html(plotly_js=...)``; the first is the default.
PLOTLY_JS_OPTIONS: tuple[str, ...] = ("inline", "shared")
_CONFIG = {"displaylogo": False, "responsive": True, "scrollZoom": True}


def plotly_js_file() -> str:
    """The name of the shared plotly.js copy that ``plotly_js="shared"`` pages load."""
    from plotly.offline import get_plotlyjs_version  # type: ignore[import-untyped]

    return f"plotly-{get_plotlyjs_version()}.min.js"


def _write_shared_plotly_js(folder: Path) -> Path:
    """``folder/plotly-<version>.min.js``, written (atomically) unless a complete copy is there."""
    from plotly.offline import get_plotlyjs

    target = folder / plotly_js_file()
    source = get_plotlyjs().encode("utf-8")
    try:
        if target.stat().st_size == len(source):
            return target
    except FileNotFoundError:
        pass
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".plotly-", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(source)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target


def save_html(fig: Any, path: str | os.PathLike[str], *, plotly_js: PlotlyJs = "inline") -> Path:
    """Write ``fig`` as an HTML page that works offline; returns the page's path.

    Args:
        fig: A figure from one of the ``plot_*`` functions.
        path: The HTML file to write (its folder is created).
        plotly_js: ``"inline"`` (the default): plotly.js inside the page, one self-contained
            file of about 4.7 MB plus the data. ``"shared"``: the page alone (under 100 KB for
            a map of a few hundred articles) loading ``plotly-<version>.min.js`` from its own
            folder, where it is written once for all the pages saved there; keep the two
            files together when moving them.
    """
    _plotly()
    if plotly_js not in PLOTLY_JS_OPTIONS:
        raise InvalidArgumentError(
            f"plotly_js must be one of {', '.join(map(repr, PLOTLY_JS_OPTIONS))}, got {plotly_js!r}"
        )
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    include: bool | str = True
    if plotly_js == "shared":
        include = _write_shared_plotly_js(target.parent).name  # a relative <script src>
    fig.write_html(target, include_plotlyjs=include, include_mathjax=False, full_html=True, config=_CONFIG)
    return target


def save_png(
    fig: Any,
    path: str | os.PathLike[str],
    *,
    width: int | None = None,
    height: int | None = None,
    scale: float = 2.0,
) -> Path:
    """Write ``fig`` as a PNG picture (via kaleido, which drives an installed Chrome or
    Chromium; none is downloaded); returns the path.

    Args:
        fig: A figure from one of the ``plot_*`` functions.
        path: The PNG file to write.
        width: Width in CSS pixels (default: the figure's, else 1000).
        height: Height in CSS pixels (default: the figure's, else 700).
        scale: Pixel density (2 for sharp pictures on high-resolution screens).
    """
    _plotly()
    if importlib.util.find_spec("kaleido") is None:
        raise MissingDependencyError(f"PNG export needs kaleido: install it with `{_INSTALL}`")
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    width = width or fig.layout.width or 1000
    height = height or fig.layout.height or 700
    try:
        fig.write_image(target, format="png", width=width, height=height, scale=scale)
    except RuntimeError as err:
        if "chrome" not in str(err).lower():
            raise
        raise MissingDependencyError(
            "PNG export needs Chrome or Chromium installed: `apt-get install chromium` (or "
            "`plotly_get_chrome` to download one); set BROWSER_PATH to choose a particular one"
        ) from err
    return target
