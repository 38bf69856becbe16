"""The house keeps its shape: small rooms, and domain folders that talk through public names.

import-linter checks which package may import which (pyproject.toml); these check what it
cannot: the size of modules and functions, and that no domain reaches into another's
private (underscore) names.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CODE = sorted([*(ROOT / "services").rglob("*.py"), *(ROOT / "repeatcart_app").rglob("*.py")])
MAX_MODULE_LINES = 600
MAX_FUNCTION_LINES = 100


def _name(path: Path) -> str:
    return path.relative_to(ROOT).as_posix()


def _domain(module: str) -> str:
    """`services.cart.links` → `services.cart`; top-level modules are their own domain."""
    parts = module.split(".")
    return ".".join(parts[:2])


def test_the_code_is_found() -> None:
    assert len(CODE) > 50


@pytest.mark.parametrize("path", CODE, ids=_name)
def test_no_module_is_over_600_lines(path: Path) -> None:
    assert len(path.read_text().splitlines()) <= MAX_MODULE_LINES


@pytest.mark.parametrize("path", CODE, ids=_name)
def test_no_function_is_over_100_lines(path: Path) -> None:
    long = [
        f"{node.name} ({node.end_lineno - node.lineno + 1} lines)"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno is not None
        and node.end_lineno - node.lineno + 1 > MAX_FUNCTION_LINES
    ]
    assert long == []


@pytest.mark.parametrize("path", CODE, ids=_name)
def test_no_domain_imports_another_domains_private_names(path: Path) -> None:
    here = _domain(".".join(path.relative_to(ROOT).with_suffix("").parts))
    reached = [
        f"{node.module}.{alias.name}"
        for node in ast.walk(ast.parse(path.read_text()))
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0
        if node.module.startswith("services.") and _domain(node.module) != here
        for alias in node.names
        if alias.name.startswith("_")
    ]
    assert reached == []
