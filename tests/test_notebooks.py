"""The notebooks in notebooks/ run top to bottom in a fresh kernel (nbclient), and are committed
without outputs.

Needs nbclient, nbformat and ipykernel (the test extra) and plotly (the viz extra); skips where
they are absent, except under CI (``$CI`` set), where it fails. 02 runs on a smaller BBC sample
than its default (``$SEMCLUST_NOTEBOOK_ARTICLES``) to keep the suite fast, and once more without
the data to check its fallback to the bundled sample corpus (notebooks/data/sample-news.jsonl).
"""

from __future__ import annotations

import importlib.util
import json
import os
import time
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from conftest import data_dir

pytestmark = pytest.mark.integration

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
ALL = sorted(NOTEBOOKS.glob("*.ipynb"))
SAMPLE = "120"  # BBC articles for 02 in the tests (the notebook's own default is 400)


def _need(*modules: str) -> None:
    """Skip where a module is missing, but fail under CI, where everything must run."""
    for module in modules:
        if importlib.util.find_spec(module) is None:
            if os.environ.get("CI"):
                pytest.fail(f"{module} is not installed (pip install -e '.[test,viz]')", pytrace=False)
            pytest.skip(f"{module} is not installed")


def _run(
    path: Path, monkeypatch: pytest.MonkeyPatch, extra: str = "", **env: str
) -> tuple[Any, float]:
    """Execute a notebook in a fresh kernel started in notebooks/; fail on the first error.

    ``extra``: code run in one more cell at the end (its output is the last cell's).
    """
    _need("nbformat", "nbclient", "ipykernel", "plotly", "kaleido", "umap")
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
    if extra:
        nb.cells.append(nbformat.v4.new_code_cell(extra))  # type: ignore[no-untyped-call]
    client = NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(NOTEBOOKS)}}
    )
    started = time.perf_counter()
    try:
        client.execute()
    except CellExecutionError as err:
        pytest.fail(f"{path.name} failed:\n{err}")
    return nb, time.perf_counter() - started


def _outputs(nb: Any) -> str:
    texts = []
    for cell in nb.cells:
        for out in cell.get("outputs", []):
            texts.append(out.get("text", ""))
            texts.extend(str(v) for v in out.get("data", {}).values())
    return "\n".join(texts)


def test_notebooks_are_committed_without_outputs() -> None:
    _need("nbformat")
    import nbformat

    assert [p.name for p in ALL] == ["01-quickstart.ipynb", "02-exploring-themes.ipynb"]
    for path in ALL:
        nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
        nbformat.validate(nb)
        for cell in nb.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, f"{path.name}: cell {cell.id} has outputs"
        assert nb.metadata["kernelspec"]["name"] == "python3"


def test_quickstart_notebook_runs(monkeypatch: pytest.MonkeyPatch) -> None:
    nb, seconds = _run(NOTEBOOKS / "01-quickstart.ipynb", monkeypatch)
    out = _outputs(nb)
    assert "semclust-hits" in out and "semclust-themes" in out and "semclust-theme" in out
    assert "application/vnd.plotly.v1+json" in str([c.get("outputs") for c in nb.cells])
    assert seconds < 180, f"took {seconds:.0f} s"


@pytest.mark.data
def test_exploring_themes_notebook_runs_on_bbc(monkeypatch: pytest.MonkeyPatch) -> None:
    data = data_dir()
    if data is None or not (data / "bbc" / "bbc.jsonl.gz").exists():
        pytest.skip("../shared/data/bbc is absent (set $SEMCLUST_DATA); the fallback is tested below")
    nb, seconds = _run(
        NOTEBOOKS / "02-exploring-themes.ipynb", monkeypatch,
        SEMCLUST_DATA=str(data), SEMCLUST_NOTEBOOK_ARTICLES=SAMPLE,
    )
    out = _outputs(nb)
    assert f"{SAMPLE} of the 2092 BBC articles" in out
    assert "BBC section" in out and "semclust-themes" in out
    assert seconds < 180, f"took {seconds:.0f} s"


# Run after the notebook: each article's own topic and its theme at the default level.
_TOPICS_AND_THEMES = """
import json
print(json.dumps({"group": GROUP, "n_themes": len(themes.ids),
                  "pairs": [[section[a], int(t)] for a, t in zip(themes.article_ids, themes.labels)]}))
"""


def test_exploring_themes_notebook_falls_back_to_sample_corpus(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Without the BBC data, 02 reads the bundled sample corpus, and its themes recover the topics."""
    nb, _ = _run(
        NOTEBOOKS / "02-exploring-themes.ipynb", monkeypatch,
        extra=_TOPICS_AND_THEMES, SEMCLUST_DATA=str(tmp_path),
    )
    assert "using the 42 articles of the bundled sample corpus" in _outputs(nb)
    result = json.loads(nb.cells[-1].outputs[0]["text"])
    assert result["group"] == "topic"
    assert result["n_themes"] >= 3, result
    by_topic: dict[str, list[int]] = {}
    for topic, theme in result["pairs"]:
        by_topic.setdefault(topic, []).append(theme)
    main = {t: ts for t, ts in by_topic.items() if len(ts) == 8}  # the five topics of 8 articles
    assert len(main) == 5, sorted(by_topic)
    majority = {}
    for topic, themes in main.items():
        theme, count = Counter(themes).most_common(1)[0]
        assert theme >= 0 and count >= 6, f"{topic}: themes {themes}"  # mostly in one theme
        majority[topic] = theme
    assert len(set(majority.values())) >= 3, majority  # and the topics do not all share one
