"""Themes of a real wire archive (Reuters R8, test split) on the real model: no theme of any
level is a handful of articles left over on a border, no default or broad theme is a small
group kept apart, and the tree opens on broad themes.
"""

from __future__ import annotations

import gzip
import json
import math
from pathlib import Path

import pytest
from conftest import data_dir

from semclust.store.themes import store_themes
from semclust.themes import default_min_cluster_size
from semclust.themes.settle import KEPT_SHARE
from semclust.themes.tree import THEME_FLOOR


@pytest.mark.integration
@pytest.mark.data
def test_wire_themes_are_never_a_handful_of_articles(tmp_path: Path) -> None:
    import semclust

    base = data_dir()
    path = base / "reuters" / "r8-test.jsonl.gz" if base else None
    if path is None or not path.exists():
        pytest.skip("needs ../shared/data/reuters/r8-test.jsonl.gz (set SEMCLUST_DATA)")
    with gzip.open(path, "rt", encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    store = semclust.Store.open(tmp_path / "r8", cache=False)
    store.add([{"id": r["id"], "text": r["text"]} for r in rows])
    themes = store_themes(store)
    # HDBSCAN finds fine themes of at least min_cluster_size articles; settling the borders
    # may take up to half of one away, and a theme left with less is dissolved
    floor = math.ceil(KEPT_SHARE * default_min_cluster_size(len(themes.article_ids)))
    for level in themes.levels:
        view = themes.level(level)
        small = [(t.name, t.size) for t in view if t.size < floor]
        assert not small, (level, small)  # e.g. "dockworkers went strike", 4 of 2,176 articles
    # nor, at the default level and above, a small far group the tree would keep apart to the
    # top (it joins its nearest theme; settling may still move a few of its articles)
    n = len(themes.article_ids)
    for level in ("themes", "broad"):
        small = [(t.name, t.size) for t in themes.level(level) if t.size < THEME_FLOOR / 2 * n]
        assert not small, (level, small)
    broad = themes.level("broad")
    assert 2 <= len(broad) < len(themes)
    assert max(t.size for t in broad) < 0.95 * len(themes.article_ids), [(t.name, t.size) for t in broad]
    assert themes.outlier_share < 0.1
    assert not any(len(set(t.name.split())) < len(t.name.split()) for t in themes), [t.name for t in themes]
