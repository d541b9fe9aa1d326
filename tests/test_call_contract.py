"""One executable contract (issue #13 item 2): every backend returns an Executable with the
declared interface, the front ends use it without probing, and backend.py does not import
the LLVM backend at module level (the other import rules are tests/test_layering.py's)."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import tracegrad
from tracegrad.backend import InterpretBackend, get_backend
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.dtypes import DType
from tracegrad.ir.executable import Executable, HotPaths
from tracegrad.ir.types import Dim, TensorType
from tracegrad.ir.value import Function, param

ROOT = Path(__file__).resolve().parents[1] / "tracegrad"


def _square(shape: tuple) -> Function:
    x = param(0, TensorType(DType.FLOAT64, shape), "x")
    return Function("sq", (x,), (b.mul(x, x),))


def _concat(n: Dim) -> Function:
    """A derived dim (n + n): the LLVM backend specializes it per shape."""
    x = param(0, TensorType(DType.FLOAT64, (n,)), "x")
    return Function("cat", (x,), (bs.concatenate([x, x], 0),))


@pytest.mark.parametrize("kind", ["interpret", "llvm", "llvm-symbolic"])
def test_every_executable_has_the_declared_interface(kind: str) -> None:
    n = Dim("n")
    if kind == "interpret":
        exe, arg = InterpretBackend().compile(_square((3,))), np.arange(3.0)
    elif kind == "llvm":
        exe, arg = get_backend("llvm").compile(_square((3,))), np.arange(3.0)
    else:
        exe, arg = get_backend("llvm").compile(_concat(n)), np.arange(3.0)
    assert isinstance(exe, Executable) and isinstance(exe.hot, HotPaths)
    assert isinstance(exe.llvm_ir, str) and isinstance(exe.asm, str)
    assert (exe.plan is not None) == (kind == "llvm")
    expected = arg * arg if kind != "llvm-symbolic" else np.concatenate([arg, arg])
    for _ in range(5):  # across any tier-up
        np.testing.assert_array_equal(exe([arg])[0], expected)
        np.testing.assert_array_equal(exe.hot.fast_call(arg)[0], expected)
    told: list[HotPaths] = []
    exe.on_tier_up(told.append)  # already tiered: told at once; never tiers: never told
    assert told in ([], [exe.hot])


def test_lowered_text_of_the_interpret_backend() -> None:
    lowered = tracegrad.jit(lambda x: x * 2.0, backend="interpret").lower(np.ones(2))
    assert lowered.llvm_ir == "(the interpret backend has no LLVM IR)"
    assert lowered.asm == "(the interpret backend has no assembly)"


def _imports(path: Path, top_level_only: bool = False) -> list[tuple[str, list[str]]]:
    """(module, imported names) of every import in ``path``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found = []
    for node in nodes:
        if isinstance(node, ast.Import):
            found += [(alias.name, []) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append((node.module, [alias.name for alias in node.names]))
    return found


def test_backend_module_does_not_import_llvm_at_module_level() -> None:
    modules = [m for m, _ in _imports(ROOT / "backend.py", top_level_only=True)]
    assert not [m for m in modules if m.startswith("tracegrad.llvm")]


def test_the_front_ends_do_not_probe_executables() -> None:
    """No getattr on an executable: the contract says what is there."""
    for name in ("jit.py", "tensor/function.py", "autodiff/_core.py"):
        tree = ast.parse((ROOT / name).read_text())
        probes = [
            ast.unparse(node)
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "hasattr")
            and "executable" in ast.unparse(node.args[0]).lower()
        ]
        assert probes == [], name
