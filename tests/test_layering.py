"""Architecture rules: ``eyetest.core`` is pure and depends on nothing above it."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src" / "eyetest"
CORE = SRC / "core"
FORBIDDEN_EYETEST = ("io", "store", "web", "cli", "run", "report", "backends", "study", "metrics")
FORBIDDEN_STDLIB = ("sqlite3", "socket", "urllib.request", "http", "requests", "subprocess", "shutil", "tempfile")


def _imports(path: Path):
    yield from _imports_text(path.read_text(), path.relative_to(SRC.parent).with_suffix("").parts)


def _imports_text(text: str, module_parts):
    tree = ast.parse(text)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = list(module_parts[: len(module_parts) - node.level])
                name = ".".join(base + ([node.module] if node.module else []))
            else:
                name = node.module or ""
            yield node.lineno, name


CORE_FILES = sorted(CORE.rglob("*.py"))


def test_core_has_modules():
    assert CORE_FILES, "no core modules found"


@pytest.mark.parametrize("path", CORE_FILES, ids=lambda p: str(p.relative_to(SRC)))
def test_core_imports_nothing_above_it(path):
    bad = []
    for lineno, name in _imports(path):
        parts = name.split(".")
        if parts[0] == "eyetest" and len(parts) > 1 and parts[1] in FORBIDDEN_EYETEST:
            bad.append(f"{path.name}:{lineno} imports {name}")
        if any(name == m or name.startswith(m + ".") for m in FORBIDDEN_STDLIB):
            bad.append(f"{path.name}:{lineno} imports {name} (I/O)")
    assert not bad, "core must stay pure: " + "; ".join(bad)


def test_checker_catches_a_bad_import():
    # The rule itself must be able to fail: imports a core module must not make.
    text = "from eyetest.io import resources\nfrom ..store import x\nimport sqlite3\n"
    names = [n for _, n in _imports_text(text, ("eyetest", "core", "probe"))]
    assert names == ["eyetest.io", "eyetest.store", "sqlite3"]
