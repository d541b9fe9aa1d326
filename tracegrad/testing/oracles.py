"""Oracles: independent ways of computing the same thing, compared.

``assert_matches_numpy(f, *args)`` checks a user's function under ``jit`` against running it
eagerly with numpy. ``check_program(program, inputs)`` runs every oracle the project uses on
itself on one random program and one input, and returns which ones ran:

- compiled (default backend) vs the reference interpreter: dtype, shape, NaN positions, values;
- the optimized pipeline (each opt level) vs no optimization;
- ``grad(jit(f))`` vs ``jit(grad(f))`` vs un-jitted ``grad`` (float64 programs);
- the gradient vs central finite differences (the dot-product test, float64);
- the second call does not retrace and returns the same bits; inputs are unchanged.

>>> import numpy as np
>>> assert_matches_numpy(lambda x: np.tanh(x) * 2, np.linspace(-1, 1, 5))
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad.testing.domain import outside_differentiable_domain
from tracegrad.testing.gradcheck import check_grads

Report = dict[str, str]

NAN_RULE = """The sign and payload of a NaN that arithmetic produces are unspecified, as in numpy
(IEEE 754 does not fix them, and numpy's own result depends on its SIMD loop and operand
order): oracles compare where NaNs are, not their bits. Promised exactly, as numpy does:
negative, abs and copysign set the sign bit of a NaN, and data movement (reshape, transpose,
indexing, where, concatenation, broadcasting) copies a NaN's bits unchanged."""


def tolerance(dtype: np.dtype) -> float:
    return 1e-5 if dtype == np.float32 else 1e-12


def assert_close(got: Any, want: Any, what: str, rtol: float | None = None) -> None:
    """Same dtype, shape and NaN positions exactly; values to a dtype tolerance with atol
    scaled by the largest reference magnitude; integers and bools exactly."""
    got_leaves, got_tree = tree.flatten(got)
    want_leaves, want_tree = tree.flatten(want)
    assert got_tree == want_tree, f"{what}: output structure {got_tree} != {want_tree}"
    for i, (g, w) in enumerate(zip(got_leaves, want_leaves, strict=True)):
        g, w = np.asarray(g), np.asarray(w)
        label = f"{what}, output {i}"
        assert g.dtype == w.dtype, f"{label}: dtype {g.dtype} != {w.dtype}"
        assert g.shape == w.shape, f"{label}: shape {g.shape} != {w.shape}"
        if w.dtype.kind != "f":
            np.testing.assert_array_equal(g, w, err_msg=label)
            continue
        assert (np.isnan(g) == np.isnan(w)).all(), f"{label}: NaN positions differ\n{g}\n{w}"
        finite = np.isfinite(w)
        infinite = np.isinf(w)  # NaNs are checked above: NaN == NaN is False
        assert (g[infinite] == w[infinite]).all(), f"{label}: infinities differ\n{g}\n{w}"
        tol = rtol if rtol is not None else tolerance(w.dtype)
        scale = float(np.max(np.abs(w[finite]), initial=0.0))
        np.testing.assert_allclose(g[finite], w[finite], rtol=tol, atol=tol * scale, err_msg=label)


def assert_matches_numpy(f: Callable[..., Any], *args: Any, rtol: float | None = None) -> None:
    """``tracegrad.jit(f)(*args)`` equals ``f(*args)`` run by numpy (dtype, shape, NaN
    positions, values), the second call does not retrace, and inputs are not mutated."""
    import tracegrad

    copies = [np.array(a, copy=True) if isinstance(a, np.ndarray) else a for a in args]
    with np.errstate(all="ignore"):
        want = f(*args)
    jitted = tracegrad.jit(f)
    got = jitted(*args)
    assert_close(got, want, "jit vs numpy", rtol)
    again = jitted(*args)
    assert jitted.trace_count == 1, "the second call with the same signature retraced"
    assert_bitwise(again, got, "second call")
    for a, c in zip(args, copies, strict=True):
        if isinstance(a, np.ndarray):
            np.testing.assert_array_equal(a, c, err_msg="an input was mutated")


def _canonical_nans(x: np.ndarray) -> np.ndarray:
    """``x`` with every NaN replaced by the default quiet NaN (sign and payload erased)."""
    if x.dtype.kind != "f" or not np.isnan(x).any():
        return x
    return np.where(np.isnan(x), np.array(np.nan, x.dtype), x)


def assert_bitwise(got: Any, want: Any, what: str, nan_bits: bool = True) -> None:
    """Equal bit for bit; with ``nan_bits=False`` a NaN's sign and payload are not compared
    (NaN positions are): see ``NAN_RULE``."""
    for g, w in zip(tree.flatten(got)[0], tree.flatten(want)[0], strict=True):
        g, w = np.asarray(g), np.asarray(w)
        if not nan_bits:
            g, w = _canonical_nans(g), _canonical_nans(w)
        assert g.tobytes() == w.tobytes(), f"{what}: results differ bitwise"


def check_program(program: Any, inputs: Sequence[np.ndarray], grad: bool = True) -> Report:
    """Run every available oracle on one program and input; raise AssertionError on a
    disagreement. Returns {oracle: "ok" | "skipped: reason"}."""
    import tracegrad
    from tracegrad.ir.interpreter import evaluate

    report: Report = {}
    copies = [np.array(x, copy=True) for x in inputs]
    reference = evaluate(program.function, list(inputs))
    fn = program.as_callable()
    jitted = tracegrad.jit(fn)
    compiled = jitted(*inputs)
    compiled_leaves = [compiled] if len(reference) == 1 else list(compiled)
    # the backend runs the optimized IR: compare it with the interpreter on that same IR
    # (strict); the optimizer's own changes are judged against the raw IR below
    optimized = jitted.lower(*inputs).optimized_function
    assert_close(compiled_leaves, evaluate(optimized, list(inputs)), "compiled vs interpreter")
    report["compiled_vs_interpreter"] = "ok"
    assert_bitwise(jitted(*inputs), compiled, "second call")
    assert jitted.trace_count == 1, "the second call retraced"
    report["no_retrace"] = "ok"
    report["optimized_vs_unoptimized"] = _check_pipeline(program, inputs, reference)
    report["llvm_O0_vs_O3_threads"] = _check_llvm_levels(optimized, inputs)
    if grad and program.function.params[0].dtype.is_float:
        report.update(_check_gradients(fn, inputs, reference, program.function))
    for x, c in zip(inputs, copies, strict=True):
        assert x.tobytes() == c.tobytes(), "an input was mutated"
    report["inputs_unchanged"] = "ok"
    return report


def _check_llvm_levels(optimized: Any, inputs: Sequence[np.ndarray]) -> str:
    """LLVM at O0 (one thread) vs O3 (threads allowed): bitwise equal, since no fast-math
    or contraction flags are emitted and threads split elementwise work only; NaN bits
    aside (``NAN_RULE``: O3 may commute an operation whose operands are both NaN)."""
    try:
        from tracegrad.llvm.backend import LLVMBackend
    except ImportError:
        return "skipped: no LLVM backend"
    low = LLVMBackend(opt_level=0, threads=False).compile(optimized)(list(inputs))
    high = LLVMBackend(opt_level=3, threads=True).compile(optimized)(list(inputs))
    assert_bitwise(high, low, "LLVM O3 with threads vs O0 single-threaded", nan_bits=False)
    return "ok"


def _check_pipeline(program: Any, inputs: Sequence[np.ndarray], reference: list) -> str:
    try:
        from tracegrad.ir.passes import optimize
    except ImportError:
        return "skipped: no optimizer"
    from tracegrad.ir.interpreter import evaluate

    for level in (0, 1, 2):
        optimized = optimize(program.function, opt_level=level)
        got = evaluate(optimized, list(inputs))
        for i, (g, w) in enumerate(zip(got, reference, strict=True)):
            label = f"opt_level={level} vs unoptimized, output {i}"
            assert g.dtype == w.dtype and g.shape == w.shape, label
            assert not (np.isnan(g) & ~np.isnan(w)).any(), f"{label}: made a NaN"
            both = np.isfinite(g) & np.isfinite(w)
            # stabilizing rewrites (log(1+x) -> log1p(x), ...) change values by rounding
            # of O(1) intermediates: absolute tolerance relative to max(|ref|, 1)
            scale = max(float(np.max(np.abs(w[both]), initial=0.0)), 1.0)
            np.testing.assert_allclose(
                g[both], w[both], rtol=1e-9, atol=1e-9 * scale, err_msg=label
            )
    return "ok"


def _scalarize(fn: Callable[..., Any], cotangents: list[np.ndarray]) -> Callable[..., Any]:
    """x -> sum_i <u_i, f(x)_i>: a scalar whose gradient is the VJP of f at u."""
    import tracegrad.numpy as tnp

    def scalar(*args: Any) -> Any:
        outs = fn(*args)
        outs = outs if isinstance(outs, tuple) else (outs,)
        total = 0.0
        for out, u in zip(outs, cotangents, strict=True):
            total = total + tnp.sum(out * u)
        return total

    return scalar


def _check_gradients(
    fn: Callable[..., Any], inputs: Sequence[np.ndarray], reference: list, function: Any
) -> Report:
    import tracegrad

    if not hasattr(tracegrad, "grad"):
        return {"grad": "skipped: tracegrad.grad not available"}
    rng = np.random.default_rng(0)
    cotangents = [rng.uniform(0.5, 1.5, np.shape(r)) for r in reference]
    scalar = _scalarize(fn, cotangents)
    argnums = tuple(range(len(inputs)))
    plain = tracegrad.grad(scalar, argnums=argnums)(*inputs)
    jit_of_grad = tracegrad.jit(tracegrad.grad(scalar, argnums=argnums))(*inputs)
    grad_of_jit = tracegrad.grad(tracegrad.jit(scalar), argnums=argnums)(*inputs)
    assert_close(jit_of_grad, plain, "jit(grad(f)) vs grad(f)", rtol=1e-9)
    assert_close(grad_of_jit, plain, "grad(jit(f)) vs grad(f)", rtol=1e-9)
    report = {"grad_compositions": "ok"}
    # finite differences are meaningless at a kink (e.g. maximum(2x, x) at x = 0); a random
    # jitter moves the point off measure-zero kink sets, the safe ops stay in their domains
    jittered = tuple(x + rng.normal(0.0, 0.05, np.shape(x)) for x in inputs)
    reason = outside_differentiable_domain(function, jittered)
    if reason is not None:  # no derivative to compare with (raw mode): see testing/domain.py
        report["finite_differences"] = f"skipped: {reason}"
        return report
    check_grads(scalar, jittered, order=1, modes=("rev",))
    report["finite_differences"] = "ok"
    return report
