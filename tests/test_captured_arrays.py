"""Float arrays a traced function reads from a module global or a closure cell are read at
call time: rebinding the name or updating the array in place is seen, as in eager numpy
(issue #14 item 2)."""

from __future__ import annotations

import numpy as np

import tracegrad

W = np.ones(3)


def _uses_global(x):
    return np.sum(x * W)


def test_rebinding_a_global_is_seen_by_jit_and_grad():
    global W
    saved = W
    try:
        f = tracegrad.jit(_uses_global)
        g = tracegrad.grad(_uses_global)
        x = np.array([1.0, 2.0, 3.0])
        assert float(f(x)) == 6.0 and g(x).tolist() == [1.0, 1.0, 1.0]
        W = np.full(3, 5.0)
        assert float(f(x)) == float(_uses_global(x)) == 30.0
        assert g(x).tolist() == [5.0, 5.0, 5.0]
        assert float(f(x)) == 30.0 and f.trace_count == 1  # same dtype and shape: no retrace
        W = np.array([1.0, 2.0, 4.0], np.float32)  # another dtype: traced again
        assert f(x).dtype == _uses_global(x).dtype and float(f(x)) == 17.0
        W = np.arange(4.0)  # another shape: traced again
        x4 = np.ones(4)
        assert float(f(x4)) == float(_uses_global(x4)) == 6.0
        assert f.trace_count == 3
    finally:
        W = saved


def test_rebinding_a_closure_cell_is_seen():
    scale = np.array([2.0, 3.0])

    def f(x):
        return x * scale

    jitted = tracegrad.jit(f)
    assert jitted(np.ones(2)).tolist() == [2.0, 3.0]
    scale = np.array([-1.0, 4.0])  # noqa: F841 (read by f through its cell)
    assert jitted(np.ones(2)).tolist() == f(np.ones(2)).tolist() == [-1.0, 4.0]
    vg = tracegrad.value_and_grad(lambda x: np.sum(f(x)))
    value, grad = vg(np.ones(2))
    assert float(value) == 3.0 and grad.tolist() == [-1.0, 4.0]


def test_in_place_update_of_a_captured_array_is_seen():
    table = np.array([1.0, 2.0])

    def f(x):
        return x + table

    jitted = tracegrad.jit(f)
    assert jitted(np.zeros(2)).tolist() == [1.0, 2.0]
    table[0] = 10.0
    table *= 2
    assert jitted(np.zeros(2)).tolist() == f(np.zeros(2)).tolist() == [20.0, 4.0]


def test_captured_arrays_inside_nested_transforms():
    weights = np.array([1.0, -2.0])

    def loss(x):
        return np.sum(np.sin(x) * weights)

    step = tracegrad.jit(lambda x: x - 0.1 * tracegrad.grad(loss)(x))
    x = np.array([0.3, 0.7])
    np.testing.assert_allclose(step(x), x - 0.1 * np.cos(x) * weights, rtol=1e-14)
    weights[:] = [3.0, 0.5]
    np.testing.assert_allclose(step(x), x - 0.1 * np.cos(x) * weights, rtol=1e-14)


BIAS = np.zeros(2)


def _helper(x):
    return x + BIAS


def test_a_helper_reading_a_global_is_followed():
    global BIAS
    saved = BIAS
    try:
        f = tracegrad.jit(lambda x: _helper(x) * 2.0)
        assert f(np.ones(2)).tolist() == [2.0, 2.0]
        BIAS = np.array([1.0, -1.0])
        assert f(np.ones(2)).tolist() == [4.0, 0.0]
    finally:
        BIAS = saved


def test_make_ir_shows_captured_arrays_as_constants_of_their_current_values():
    weights = np.array([2.0, 3.0])
    build = tracegrad.make_ir(lambda x: x * weights)
    for expected in ([2.0, 3.0], [-1.0, 0.5]):
        weights[:] = expected
        function = build(np.ones(2))
        assert len(function.params) == 1
        consts = [v.attr("data").array for v in function.order if v.op.value == "const"]
        assert any(c.tolist() == expected for c in consts)
