"""The autograd stand-in (tools/autograd_standin, issue #15): autograd's API mapped onto
tracegrad's, its check_grads, and the runner end to end on a small fake autograd checkout (no
fetched code), so the tool that counts autograd's tests cannot rot."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import tracegrad
from tools.autograd_standin import mapping, runner

ROOT = Path(__file__).resolve().parents[1]


def test_derivatives_match_closed_forms() -> None:
    x = np.array([0.5, -1.0, 2.0])
    np.testing.assert_allclose(mapping.grad(lambda x: np.sum(np.sin(x)))(x), np.cos(x))
    value, g = mapping.value_and_grad(lambda x, y: np.sum(x * y), argnum=1)(x, 2 * x)
    assert value == pytest.approx(2 * np.sum(x * x))
    np.testing.assert_allclose(g, x)
    np.testing.assert_allclose(mapping.jacobian(lambda x: x**2)(x), np.diag(2 * x))
    np.testing.assert_allclose(mapping.hessian(lambda x: np.sum(x**3))(x), np.diag(6 * x))
    np.testing.assert_allclose(mapping.elementwise_grad(np.tanh)(x), 1 - np.tanh(x) ** 2)


def test_check_grads_passes_on_a_right_gradient_in_any_argnum() -> None:
    f = lambda x, y, scale=1.0: np.sin(x) * y * scale
    mapping.check_grads(f)(0.3, np.array([1.0, 2.0]), scale=3.0)
    mapping.check_grads(f, argnum=(0, 1), modes=["rev"], order=1)(np.array([0.1, 0.2]), 2.0)


def test_check_grads_catches_a_wrong_gradient() -> None:
    wrong = lambda x: x * tracegrad.stop_gradient(x)  # value x**2, derivative said to be x
    with pytest.raises(AssertionError, match="central differences"):
        mapping.check_grads(wrong, modes=["rev"], order=1)(np.array([1.0, 2.0]))


def test_check_grads_never_passes_complex_arguments_silently() -> None:
    with pytest.raises((tracegrad.DTypeError, NotImplementedError)):
        mapping.check_grads(np.sin)(np.array([1.0 + 0.5j]))
    assert mapping.saw_complex


def test_combo_check_checks_every_combination() -> None:
    seen: list[tuple] = []

    def f(x: np.ndarray, axis: int | None = None) -> np.ndarray:
        seen.append((np.shape(x), axis))
        return np.sum(x**2, axis=axis)

    check = mapping.combo_check(f, (0,), modes=["rev"], order=1)
    check([np.ones((2, 3)), np.ones((1, 3))], axis=[None, 0])
    assert {((2, 3), None), ((2, 3), 0), ((1, 3), None), ((1, 3), 0)} <= set(seen)


def test_stand_in_package_is_numpy_with_tracegrad_derivatives() -> None:
    code = textwrap.dedent("""
        import numpy, autograd, autograd.numpy as np, autograd.numpy.random as npr
        from autograd import grad
        from autograd.test_util import check_grads, combo_check
        assert np is numpy and npr is numpy.random and autograd.__file__.startswith(SHIM)
        assert grad(lambda x: np.sum(x ** 2))(np.ones(2)).tolist() == [2.0, 2.0]
        check_grads(np.tanh, order=1)(np.ones(2))
    """).replace("SHIM", repr(str(runner.SHIM)))
    path = os.pathsep.join([str(runner.SHIM), str(ROOT), os.environ.get("PYTHONPATH", "")])
    env = {**os.environ, "PYTHONPATH": path}
    subprocess.run([sys.executable, "-c", code], env=env, check=True, timeout=300)


FAKE_TESTS = """
import autograd.numpy as np
from autograd import grad
from autograd.test_util import check_grads

def test_passes():
    check_grads(np.sin, modes=["rev"], order=1)(np.array([0.5]))

def test_fails():
    assert grad(lambda x: x * x)(3.0) == 7.0, "wrong on purpose"

def test_complex():
    check_grads(np.exp, order=1)(np.array([0.5 + 1j]))
"""


def test_runner_counts_a_fake_checkout(tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "conftest.py").write_text("")
    (tmp_path / "tests" / "numpy_utils.py").write_text("")
    (tmp_path / "tests" / "test_fake.py").write_text(FAKE_TESTS)
    saved = tmp_path / "out.json"
    assert runner.main([str(tmp_path), "--files", "test_fake.py", "--save", str(saved)]) == 0
    results = {r["test"].split("::")[-1]: r for r in json.loads(saved.read_text())}
    assert {
        n: (r["outcome"], r["complex"], r["failed_at_complex"]) for n, r in results.items()
    } == {
        "test_passes": ("passed", False, False),
        "test_fails": ("failed", False, False),
        "test_complex": ("failed", True, True),
    }
    assert results["test_fails"]["reason"].startswith("AssertionError: wrong on purpose")
    out = capsys.readouterr().out
    assert "TOTAL                        3       1       2       0    33.3% |" in out
    assert "                 2       1  50.0%" in out  # without the complex test
    assert "excusing only failures at complex inputs: 1 of 2 pass (50.0%)" in out
