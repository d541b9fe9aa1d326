"""The generated machine code is packed SIMD: elementwise kernels and reductions use
ymm/zmm packed arithmetic, and kernels with exp/log/tanh/sigmoid call no scalar libm."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

sys.path.insert(0, str(Path(__file__).parent))
from _lowering_util import BACKEND, function_of  # noqa: E402

from tracegrad.ir import build as b  # noqa: E402
from tracegrad.ir.ops import Op  # noqa: E402

PACKED = re.compile(r"\bv\w+p[sd]\s+.*%[yz]mm")  # vaddpd, vfmadd213ps, vmulpd ... on ymm/zmm
LIBM = re.compile(
    r"\b(exp|expf|log|logf|tanh|tanhf|expm1|log1p|sin|cos|tan|pow|powf|__\w+_finite)(@\w+)?\b"
)


def _body_asm(asm: str) -> str:
    """The assembly of the kernel bodies (entries and math helpers are inlined or tiny)."""
    out, keep = [], False
    for line in asm.splitlines():
        m = re.match(r'^"?([\w.]+)"?:', line)
        if m and not m.group(1).startswith(".L"):  # a function label, not a block label
            keep = m.group(1).endswith(".body")
        if keep:
            out.append(line)
    return "\n".join(out)


def _compile(build, *arrays: np.ndarray) -> str:
    exe = BACKEND.compile(function_of(build, arrays))
    return _body_asm(exe.asm)


def _sigmoid(a):
    return b.div(1.0, b.add(1.0, b.exp(b.neg(a))))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
@pytest.mark.parametrize(
    "name,build",
    [
        ("fma", lambda a, c: b.add(b.mul(a, c), 2.0)),
        (
            "where_max",
            lambda a, c: b.where(b.gt(a, c), b.maximum(a, c), b.sqrt(b.unary(Op.ABS, c))),
        ),
        ("exp", lambda a, c: b.mul(b.exp(a), c)),
        ("log", lambda a, c: b.log(b.add(b.mul(a, a), c))),
        ("tanh", lambda a, c: b.unary(Op.TANH, b.sub(a, c))),
        ("sigmoid", lambda a, c: b.mul(_sigmoid(a), c)),
    ],
)
def test_elementwise_kernels_are_packed(name: str, build, dtype: str) -> None:
    x = np.ones(4096, dtype)
    asm = _compile(build, x, x)
    assert asm, "no kernel body in the assembly"
    assert PACKED.search(asm), f"{name}: no packed ymm/zmm arithmetic"
    calls = [ln for ln in asm.splitlines() if LIBM.search(ln)]
    assert not calls, f"{name}: scalar libm calls: {calls[:3]}"


def test_broadcast_kernel_is_packed() -> None:
    x, row = np.ones((64, 256)), np.ones(256)
    assert PACKED.search(_compile(lambda a, r: b.mul(a, r), x, row))


@pytest.mark.parametrize("dtype", ["float64", "float32"])
def test_sum_reduction_is_packed(dtype: str) -> None:
    x = np.ones(100_000, dtype)
    asm = _compile(lambda a: b.apply(Op.REDUCE_SUM, [b.exp(a)], axes=(0,)), x)
    assert re.search(r"\bvaddp[sd]\s+.*%[yz]mm", asm)
    assert not [ln for ln in asm.splitlines() if LIBM.search(ln)]


def test_max_reduction_is_packed() -> None:
    asm = _compile(lambda a: b.apply(Op.REDUCE_MAX, [a], axes=(0,)), np.ones(100_000))
    assert PACKED.search(asm)


def test_transcendental_loops_are_interleaved_and_arithmetic_ones_are_not() -> None:
    """Math kernels ask LLVM for four interleaved vectors per iteration (latency-bound FMA
    chains); one loop-ID node per loop, numbered in module order."""
    x = np.ones(4096)
    two = function_of(lambda a: b.add(b.exp(a), b.mul(a, b.log(b.add(a, a)))), [x])
    math_ir = BACKEND.compile(two).source_ir
    assert math_ir.count('!"llvm.loop.interleave.count", i32 4') == 1
    assert re.search(r"br label %\S+, !llvm\.loop !0\n", math_ir)
    plain = BACKEND.compile(function_of(lambda a: b.add(b.mul(a, a), a), [x])).source_ir
    assert "llvm.loop" not in plain
