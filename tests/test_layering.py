"""The package layout is the data flow: reconciler -> drivers -> intent, and intent does no I/O."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
ALLOWED = {"intent": {"intent"}, "drivers": {"intent", "drivers"}, "reconciler": {"intent", "drivers", "reconciler"}}
PROJECT = set(ALLOWED)
# Modules through which code reads files, the network, processes or the clock.
IO_MODULES = {"os", "io", "pathlib", "socket", "subprocess", "shutil", "tempfile", "time", "datetime", "httpx",
              "requests", "netmiko", "kubernetes", "yaml", "urllib", "http", "asyncio", "threading", "random"}
IO_BUILTINS = {"open", "input", "print", "exec", "eval", "__import__"}


def _modules(package: str) -> list[Path]:
    return sorted((ROOT / package).rglob("*.py"))


def _imports(tree: ast.AST) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("package", sorted(ALLOWED))
def test_imports_point_one_way(package: str) -> None:
    for path in _modules(package):
        wrong = (_imports(ast.parse(path.read_text())) & PROJECT) - ALLOWED[package]
        where = path.relative_to(ROOT)
        assert not wrong, f"{where} imports {sorted(wrong)}; imports must point reconciler -> drivers -> intent"


def test_intent_does_no_io() -> None:
    for path in _modules("intent"):
        tree = ast.parse(path.read_text())
        io_imports = _imports(tree) & IO_MODULES
        assert not io_imports, f"{path.relative_to(ROOT)} imports {sorted(io_imports)}; intent/ must stay pure"
        calls = {n.func.id for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Name)}
        assert not calls & IO_BUILTINS, f"{path.relative_to(ROOT)} calls {sorted(calls & IO_BUILTINS)}"


def test_every_package_has_modules() -> None:
    # Guards the two tests above against passing vacuously on a moved or renamed package.
    for package in ALLOWED:
        assert len(_modules(package)) >= 2, package
