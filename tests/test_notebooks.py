"""The notebooks in notebooks/ run top to bottom in a fresh kernel (nbclient), and are committed
without outputs.

Needs nbclient, nbformat and ipykernel (the test extra) and plotly (the viz extra); skips where
they are absent, except under CI (``$CI`` set), where it fails. 02 runs on a smaller BBC sample
than its default (``$SEMCLUST_NOTEBOOK_ARTICLES``) to keep the suite fast, and once more without
the data to check its fallback to the seed articles.
"""

from __future__ import annotations

import importlib.util
import os
import time
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


def _run(path: Path, monkeypatch: pytest.MonkeyPatch, **env: str) -> tuple[Any, float]:
    """Execute a notebook in a fresh kernel started in notebooks/; fail on the first error."""
    _need("nbformat", "nbclient", "ipykernel", "plotly", "kaleido", "umap")
    import nbformat
    from nbclient import NotebookClient
    from nbclient.exceptions import CellExecutionError

    monkeypatch.setenv("JUPYTER_PLATFORM_DIRS", "1")
    monkeypatch.setenv("TOKENIZERS_PARALLELISM", "false")
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    nb = nbformat.read(path, as_version=4)  # type: ignore[no-untyped-call]
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


def test_exploring_themes_notebook_falls_back_to_seeds(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    nb, _ = _run(NOTEBOOKS / "02-exploring-themes.ipynb", monkeypatch, SEMCLUST_DATA=str(tmp_path))
    assert "using the 2 seed articles instead" in _outputs(nb)
