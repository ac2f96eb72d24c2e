"""Interactive theme maps and charts for Jupyter (plotly), built on fitted themes.

Needs ``pip install 'semclust[viz]'``.
"""

from __future__ import annotations

from semclust.viz.export import PLOTLY_JS_OPTIONS, plotly_js_file, save_html, save_png
from semclust.viz.plots import (
    MAX_POINTS,
    OTHER_COLOR,
    OUTLIER_COLOR,
    WEBGL_THRESHOLD,
    plot_map,
    plot_over_time,
    plot_similarity,
    plot_sizes,
    theme_color,
)
from semclust.viz.theme_view import ThemeView, show_theme, theme_html

__all__ = [
    "MAX_POINTS",
    "OTHER_COLOR",
    "OUTLIER_COLOR",
    "PLOTLY_JS_OPTIONS",
    "WEBGL_THRESHOLD",
    "ThemeView",
    "plot_map",
    "plot_over_time",
    "plot_similarity",
    "plot_sizes",
    "plotly_js_file",
    "save_html",
    "save_png",
    "show_theme",
    "theme_color",
    "theme_html",
]
