"""One theme as HTML for Jupyter: its keywords, the passages nearest its centre and its best
articles (:func:`show_theme`, :func:`theme_html`).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from semclust.viz.plots import theme_color

if TYPE_CHECKING:
    from semclust.themes.result import Themes

__all__ = ["ThemeView", "show_theme", "theme_html"]


def theme_html(themes: Themes, theme_id: int, *, n_articles: int = 10) -> str:
    """An HTML card of one theme: name, size, keywords, the passages nearest its centre and
    its best articles (``theme_id=-1``: the articles without a theme).
    """
    esc = html.escape
    frame = themes.articles(theme_id, main_only=theme_id >= 0).head(n_articles)
    records: list[dict[str, Any]] = [{str(k): v for k, v in r.items()} for r in frame.to_dict("records")]
    rows = "".join(
        f"<tr><td style='text-align:left'><b>{esc(str(r['title']) or str(r['doc_id']))}</b><br>"
        f"<code>{esc(str(r['doc_id']))}</code></td><td>{float(r['similarity']):.3f}</td>"
        f"<td>{float(r['strength']):.2f}</td><td>{esc(str(r['published'] or ''))}</td></tr>"
        for r in records
    )
    table = (
        "<table><thead><tr><th>article</th><th>similarity</th><th>strength</th><th>published</th></tr>"
        f"</thead><tbody>{rows}</tbody></table>"
    )
    if theme_id < 0:
        share = f"{themes.n_outliers:,} articles ({themes.outlier_share:.1%})"
        head = f"<h4 style='margin:0'>No theme</h4><p>{share}</p>"
        return f"<div class='semclust-theme'>{head}{table}</div>"
    t = themes[theme_id]
    color = theme_color(themes, t.id)
    chips = " ".join(
        f"<span style='border:1px solid {color};border-radius:8px;padding:0 6px;margin:1px;"
        f"display:inline-block'>{esc(k)}</span>"
        for k in t.keywords
    )
    title_of = dict(zip(themes.article_ids, themes.titles))
    passages = "".join(
        f"<li><b>{esc(title_of.get(p.doc_id) or p.doc_id)}</b>: {esc(_clip(p.text, 300))}</li>"
        for p in t.passages if p.text
    )
    return (
        f"<div class='semclust-theme' style='border-left:4px solid {color};padding-left:8px'>"
        f"<h4 style='margin:0'>Theme {t.id}: {esc(t.name)}</h4>"
        f"<p>{t.size:,} articles ({t.share:.1%})</p><p>{chips}</p>"
        + (f"<p><b>Passages nearest its centre</b></p><ul>{passages}</ul>" if passages else "")
        + f"<p><b>Its best articles</b> (of {t.size:,})</p>{table}</div>"
    )


def _clip(text: str, n: int) -> str:
    return text if len(text) <= n else text[:n].rstrip() + "…"


@dataclass(frozen=True)
class ThemeView:
    """One theme, shown as an HTML card in Jupyter (see :func:`theme_html`)."""

    themes: Themes
    theme_id: int
    n_articles: int = 10

    def _repr_html_(self) -> str:
        return theme_html(self.themes, self.theme_id, n_articles=self.n_articles)

    def __repr__(self) -> str:
        if self.theme_id < 0:
            return f"ThemeView(no theme, {self.themes.n_outliers} articles)"
        t = self.themes[self.theme_id]
        return f"ThemeView({t.id}: {t.name!r}, {t.size} articles, keywords: {', '.join(t.keywords[:6])})"


def show_theme(themes: Themes, theme_id: int, *, n_articles: int = 10) -> ThemeView:
    """One theme for display in Jupyter: name, keywords, nearest passages and best articles."""
    if theme_id >= 0:
        themes[theme_id]  # raises NotFoundError for an unknown id
    return ThemeView(themes, int(theme_id), n_articles)


# -- saving ------------------------------------------------------------------------------------
