"""Helpers for the backend tests: build a Function from a lambda over IR Values, run it on
the LLVM backend and on the reference interpreter, and compare."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np

from tracegrad.ir.dtypes import DType
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.types import TensorType
from tracegrad.ir.value import Function, Value, param
from tracegrad.llvm.backend import LLVMBackend

BACKEND = LLVMBackend()


def function_of(build: Callable[..., Value | tuple], arrays: Sequence[np.ndarray]) -> Function:
    params = tuple(
        param(i, TensorType(DType.from_numpy(a.dtype), tuple(a.shape)), f"a{i}")
        for i, a in enumerate(arrays)
    )
    out = build(*params)
    outs = out if isinstance(out, tuple) else (out,)
    return Function("t", params, outs)


def run_both(build: Callable[..., Value | tuple], *arrays: np.ndarray) -> tuple[list, list]:
    fn = function_of(build, arrays)
    copies = [np.array(a, copy=True) for a in arrays]
    got = BACKEND.compile(fn)(list(arrays))
    for a, c in zip(arrays, copies, strict=True):  # inputs are never written
        np.testing.assert_array_equal(a, c)
    with np.errstate(all="ignore"):
        want = evaluate(fn, [np.asarray(a) for a in arrays])
    return got, want


def assert_same(got: list, want: list, bitwise: bool = True, ulp: float = 0) -> None:
    assert len(got) == len(want)
    for g, w in zip(got, want, strict=True):
        assert g.dtype == w.dtype, (g.dtype, w.dtype)
        assert g.shape == w.shape, (g.shape, w.shape)
        assert type(g) is np.ndarray and g.flags.owndata and g.flags.writeable
        if bitwise and not ulp:
            if g.dtype.kind == "f":
                np.testing.assert_array_equal(g.view(f"u{g.itemsize}"), w.view(f"u{w.itemsize}"))
            else:
                np.testing.assert_array_equal(g, w)
        else:
            np.testing.assert_array_max_ulp(g, w, maxulp=max(ulp, 1)) if g.size else None


def check(build: Callable[..., Value | tuple], *arrays: np.ndarray, ulp: float = 0) -> None:
    got, want = run_both(build, *arrays)
    assert_same(got, want, ulp=ulp)


SPECIAL_F = [
    0.0,
    -0.0,
    1.0,
    -1.0,
    0.5,
    -2.5,
    3.0,
    1e300,
    -1e300,
    np.inf,
    -np.inf,
    np.nan,
    5e-324,
    7.0,
]
SPECIAL_I = [0, 1, -1, 7, -7, 3, -3, 2**31 - 1, -(2**31), 2**63 - 1, -(2**63), 100, -100]


def sample(dtype: str, n: int, rng: np.random.Generator, special: bool = True) -> np.ndarray:
    if dtype == "bool":
        return rng.integers(0, 2, n).astype(bool)
    if dtype.startswith("int"):
        info = np.iinfo(dtype)
        x = rng.integers(-50, 50, n).astype(dtype)
        if special:
            vals = [v for v in SPECIAL_I if info.min <= v <= info.max]
            k = min(n, len(vals))
            x[:k] = vals[:k]
        return x
    x = (rng.standard_normal(n) * 4).astype(dtype)
    if special:
        k = min(n, len(SPECIAL_F))
        with np.errstate(over="ignore"):
            x[:k] = np.array(SPECIAL_F[:k]).astype(dtype)
    return x
