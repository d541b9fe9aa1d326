"""The layering rule: tracegrad/ir never imports llvmlite, and nothing outside tracegrad/llvm
does (checked by parsing every module's imports)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tracegrad"


def _imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_only_tracegrad_llvm_imports_llvmlite() -> None:
    offenders = []
    for path in ROOT.rglob("*.py"):
        if (ROOT / "llvm") in path.parents:
            continue
        if any(m == "llvmlite" or m.startswith("llvmlite.") for m in _imported_modules(path)):
            offenders.append(str(path.relative_to(ROOT)))
    assert offenders == []


def test_ir_imports_only_stdlib_numpy_and_ir() -> None:
    offenders = []
    for path in (ROOT / "ir").rglob("*.py"):
        for module in _imported_modules(path):
            top = module.split(".")[0]
            if top == "tracegrad" and not (
                module.startswith("tracegrad.ir") or module == "tracegrad.errors"
            ):
                offenders.append(f"{path.relative_to(ROOT)} imports {module}")
    assert offenders == []


def test_the_checker_sees_imports(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("import llvmlite.binding as llvm\nfrom llvmlite import ir\n")
    assert {"llvmlite.binding", "llvmlite"} <= _imported_modules(bad)
