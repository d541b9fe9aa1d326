"""Golden optimized IR for a small corpus (the tutorial's gradients, an MLP loss gradient,
softmax cross-entropy): an unintended change of the optimizer shows up as a diff in review.

A missing golden file is written and the test fails, so regeneration is explicit: delete the
file, run the test, review the diff. Run with ``-s`` to see node counts.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

import tracegrad
import tracegrad.numpy as tnp
from tracegrad.ir.interpreter import evaluate
from tracegrad.ir.passes import optimize
from tracegrad.ir.printer import print_function
from tracegrad.ir.value import Function

GOLDEN = Path(__file__).parent / "golden"
rng = np.random.default_rng(0)
X, W1, B1 = rng.standard_normal((5, 4)), rng.standard_normal((4, 8)), rng.standard_normal(8)
W2, B2 = rng.standard_normal((8, 3)), rng.standard_normal(3)
Y = np.eye(3)[[0, 2, 1, 1, 0]]


def mlp_loss(w1, b1, w2, b2):  # noqa: ANN001, ANN201
    logits = np.tanh(X @ w1 + b1) @ w2 + b2
    return -np.sum(Y * np.log(tnp.softmax(logits))) / 5.0


def xent(z):  # noqa: ANN001, ANN201
    return -np.sum(Y * np.log(np.exp(z) / np.sum(np.exp(z), axis=1, keepdims=True)))


def _raw(f: Callable, *args: object, argnums: object = 0) -> Function:
    return tracegrad.make_ir(tracegrad.grad(f, argnums=argnums))(*args)


CORPUS: dict[str, Callable[[], tuple[Function, list]]] = {
    "square_grad": lambda: (_raw(lambda x: x**2, 3.0), [np.array(3.0)]),
    "logistic_grad": lambda: (_raw(lambda x: np.sum(1 / (1 + np.exp(-x))), np.zeros(6)),
                              [np.linspace(-3, 3, 6)]),
    "mlp_loss_grad": lambda: (_raw(mlp_loss, W1, B1, W2, B2, argnums=(0, 1, 2, 3)),
                              [W1, B1, W2, B2]),
    "softmax_xent_grad": lambda: (_raw(xent, np.zeros((5, 3))), [rng.standard_normal((5, 3))]),
}  # fmt: skip


def _text(f: Function) -> str:
    return re.sub(r" #\d+", "", print_function(f)) + "\n"  # trace ids depend on test order


@pytest.fixture(autouse=True)
def _interpret(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRACEGRAD_BACKEND", "interpret")


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_golden(name: str) -> None:
    raw, args = CORPUS[name]()
    opt = optimize(raw, verify=True)
    for a, c in zip(evaluate(raw, args), evaluate(opt, args), strict=True):
        np.testing.assert_allclose(c, a, rtol=1e-12, atol=1e-14)
    print(f"\n{name}: {raw.count_ops()} ops -> {opt.count_ops()} ops")
    path = GOLDEN / f"{name}.txt"
    if not path.exists():
        path.write_text(_text(opt))
        pytest.fail(f"golden file {path} was missing and has been written: review and rerun")
    assert _text(opt) == path.read_text(), f"optimized IR of {name} changed (see {path})"
