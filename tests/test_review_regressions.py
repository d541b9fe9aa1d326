"""Regression tests for bugs found in review (each failed before its fix)."""

from __future__ import annotations

import os

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import ShapeError


def test_same_size_shapes_do_not_clash_in_the_engine() -> None:
    g = tracegrad.jit(lambda x: x * 2.0)
    for shape in [(2, 3), (3, 2), (6,), (0, 3), (3, 0)]:
        for _ in range(4):  # past the tier-up to native wrappers
            out = g(np.ones(shape))
        np.testing.assert_array_equal(out, np.full(shape, 2.0))


def test_static_arguments_keyed_by_type_and_bits() -> None:
    power = tracegrad.jit(lambda x, n: x**n, static_argnums=1)
    x = np.arange(3)
    assert power(x, 2).dtype == (x**2).dtype
    assert power(x, 2.0).dtype == (x**2.0).dtype
    scale = tracegrad.jit(lambda x, s: x * s, static_argnums=1)
    assert np.signbit(scale(np.ones(1), 0.0)[0]) == np.signbit(np.ones(1) * 0.0)[0]
    assert np.signbit(scale(np.ones(1), -0.0)[0]) == np.signbit(np.ones(1) * -0.0)[0]
    flag = tracegrad.jit(lambda x, f: -x if f is True else x, static_argnums=1)
    assert flag(np.ones(1), 1)[0] == 1.0 and flag(np.ones(1), True)[0] == -1.0
    nan = tracegrad.jit(lambda x, s: x + s, static_argnums=1)
    nan(np.ones(1), float("nan"))
    nan(np.ones(1), float("nan"))
    assert nan.trace_count == 1


@pytest.mark.filterwarnings("ignore::tracegrad.InPlaceArgumentWarning")  # x += 1 on purpose
def test_unary_plus_is_a_new_array() -> None:
    def f(x):
        y = +x
        x += 1.0
        return y

    np.testing.assert_array_equal(tracegrad.jit(f)(np.ones(3)), f(np.ones(3)))


def test_bool_scalar_index_adds_an_axis() -> None:
    x = np.ones((2, 3))
    assert tracegrad.jit(lambda a: a[True])(x).shape == x[True].shape
    assert tracegrad.jit(lambda a: a[np.True_, 0])(x).shape == x[np.True_, 0].shape


def test_repeated_traced_indices_last_write_wins() -> None:
    def assign(y, i, v):
        y = y * 1.0
        y[i] = v
        return y

    def increment(y, i):
        y = y * 1.0
        y[i] += 1.0
        return y

    y, i, v = np.zeros(4), np.array([1, 1, 2]), np.array([1.0, 2.0, 3.0])
    np.testing.assert_array_equal(tracegrad.jit(assign)(y, i, v), assign(y.copy(), i, v))
    np.testing.assert_array_equal(tracegrad.jit(increment)(y, i), increment(y.copy(), i))


def test_shape_errors_name_the_user_line() -> None:
    def f(x, y):
        return x + y  # the line the error must name

    with pytest.raises(ShapeError, match=r"return x \+ y"):
        tracegrad.jit(f)(np.ones(3), np.ones(4))


def test_std_gradient_of_constant_input_is_finite() -> None:
    grad = tracegrad.grad(lambda x: np.std(x))(np.ones(4))
    assert np.isfinite(grad).all()


def test_asarray_of_traced_value() -> None:
    out = tracegrad.jit(lambda x: tracegrad.numpy.asarray(x) * 2)(np.ones(2))
    np.testing.assert_array_equal(out, [2.0, 2.0])


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs fork")
def test_thread_pool_is_fresh_in_a_forked_child() -> None:
    from tracegrad.llvm.runtime import threads

    threads.get_pool()
    pid = os.fork()
    if pid == 0:  # child: the inherited pool has no workers and must be forgotten
        os._exit(0 if threads._pool is None else 1)
    _, status = os.waitpid(pid, 0)
    assert os.WEXITSTATUS(status) == 0


def test_logistic_gradient_is_one_kernel_on_the_native_path() -> None:
    """Sharing heuristics must not give small kernels extra outputs (which also disables the
    single-kernel native fast path)."""
    g = tracegrad.jit(tracegrad.grad(lambda x: np.sum(1 / (1 + np.exp(-x)))))
    x = np.linspace(-3, 3, 1000)
    for _ in range(4):  # past the tier-up
        g(x)
    executable = g.lower(x).executable
    (run,) = executable.runs
    assert len(run.out_slots) == 1
    assert executable._fast_path() is not None


def test_unrolled_chain_gradient_is_few_kernels() -> None:
    """Shared subexpressions in long chains get buffers instead of being recomputed in every
    kernel (753 kernels for 1000 steps before; about 90 now)."""
    from tracegrad.llvm.plan.kernels import count_kinds

    def chain(x):
        for _ in range(300):
            x = np.sin(x) * 1.0001 + 0.001
        return np.sum(x)

    g = tracegrad.jit(tracegrad.grad(chain))
    x = np.linspace(-1, 1, 8)
    got = g(x)
    steps = sum(count_kinds(g.lower(x).executable.plan).values())
    assert steps < 60, steps
    xs = [x]
    for _ in range(300):
        xs.append(np.sin(xs[-1]) * 1.0001 + 0.001)
    want = np.ones_like(x)
    for xi in reversed(xs[:-1]):
        want = want * np.cos(xi) * 1.0001
    np.testing.assert_allclose(got, want, rtol=1e-12)


def test_transcendental_kernels_thread_earlier_and_stay_bitwise() -> None:
    """Thread splitting is decided on work weighted by the body's cost: a 1e5-element
    logistic gradient (exp inside) is split, with the same bits as one thread."""
    from tracegrad.llvm.backend import LLVMBackend

    f = tracegrad.make_ir(tracegrad.grad(lambda x: np.sum(1 / (1 + np.exp(-x)))))
    x = np.linspace(-3, 3, 100_000)
    function = f(x)
    threaded = LLVMBackend(threads=True).compile(function)
    single = LLVMBackend(threads=False).compile(function)
    assert any(getattr(run, "threaded", False) for run in threaded.runs)
    (a,) = threaded([x])
    (b,) = single([x])
    assert a.tobytes() == b.tobytes()
