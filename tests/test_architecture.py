"""The package's shape: one-way imports (import-linter contracts in pyproject.toml), no private
names taken across subpackages, small modules and functions.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "semclust"
MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def _dotted(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _stage(module: str) -> str:
    """The subpackage (or top-level module) a dotted name belongs to: semclust.store.writer -> store."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


def _private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def private_imports_across_stages(path: Path) -> list[str]:
    """``module: name`` for each private name (or private module) ``path`` imports from another stage."""
    importer = _dotted(path)
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            targets = [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            targets = [(alias.name, "") for alias in node.names]
        else:
            continue
        for module, name in targets:
            if not module.startswith("semclust.") or _stage(module) == _stage(importer):
                continue
            private_module = any(_private(p) for p in module.split(".")[2:])
            if private_module or (name and _private(name)):
                found.append(f"{importer}: {module}.{name}" if name else f"{importer}: {module}")
    return found


def test_import_contracts_are_kept() -> None:
    linter = Path(sys.executable).with_name("lint-imports")
    if not linter.exists():  # pragma: no cover - the test extra installs it
        pytest.fail("lint-imports is missing: pip install -e '.[test]'")
    result = subprocess.run([str(linter), "--no-cache"], cwd=ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-4000:] + result.stderr[-2000:]
    assert "broken" in result.stdout and " 0 broken" in result.stdout


def test_no_private_names_across_subpackages() -> None:
    found = [hit for path in _modules() for hit in private_imports_across_stages(path)]
    assert not found, "private names imported across subpackages:\n" + "\n".join(found)


def test_the_private_name_check_catches_one(tmp_path: Path) -> None:
    fake = PACKAGE / "store" / "_architecture_probe.py"
    fake.write_text("from semclust.vectors.snapshot import _is_exact\n", encoding="utf-8")
    try:
        assert private_imports_across_stages(fake) == [
            "semclust.store._architecture_probe: semclust.vectors.snapshot._is_exact"
        ]
    finally:
        fake.unlink()


def test_modules_and_functions_are_small() -> None:
    too_long = []
    for path in _modules():
        source = path.read_text(encoding="utf-8")
        rel = path.relative_to(ROOT)
        n_lines = len(source.splitlines())
        if n_lines > MAX_MODULE_LINES:
            too_long.append(f"{rel}: {n_lines} lines (at most {MAX_MODULE_LINES})")
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    too_long.append(f"{rel}:{node.lineno} {node.name}(): {length} lines (at most {MAX_FUNCTION_LINES})")
    assert not too_long, "\n".join(too_long)
