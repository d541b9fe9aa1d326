"""The README's demo: ``python -m tracegrad.demo`` walks through Theano's tutorial "Derivatives
in Theano" on tracegrad's Theano-style front end, printing each step (docs/tutorial.md has the
same steps as doctests).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

import tracegrad.tensor as T  # noqa: N812  (Theano's spelling)
from tracegrad import function, pp

STEPS: list[tuple[str, Callable[[], None]]] = []


def step(title: str) -> Callable[[Callable[[], None]], Callable[[], None]]:
    def register(fn: Callable[[], None]) -> Callable[[], None]:
        STEPS.append((title, fn))
        return fn

    return register


def show(code: str, value: object) -> None:
    """Print a line of code and its result, like an interactive session."""
    print(f">>> {code}")
    if value is not None:
        print(repr(value))


@step("Computing gradients: d(x**2)/dx")
def gradient_of_square() -> None:
    x = T.dscalar("x")
    gy = T.grad(x**2, x)
    show("x = T.dscalar('x'); gy = T.grad(x ** 2, x)", None)
    show("pp(gy)  # the raw chain rule", pp(gy))
    f = function([x], gy)
    show("f = function([x], gy); f(4)", f(4))
    show("f(94.2)", f(94.2))
    show("pp(f.optimized)  # what runs", pp(f.optimized))


@step("The gradient of the logistic function")
def logistic() -> None:
    x = T.dmatrix("x")
    s = T.sum(1 / (1 + T.exp(-x)))
    dlogistic = function([x], T.grad(s, x))
    show("s = T.sum(1 / (1 + T.exp(-x))); dlogistic = function([x], T.grad(s, x))", None)
    show("dlogistic([[0, 1], [-1, -2]])", dlogistic([[0, 1], [-1, -2]]))


@step("The Jacobian of x**2")
def jacobian() -> None:
    x = T.dvector("x")
    f = function([x], T.jacobian(x**2, x))
    show("f = function([x], T.jacobian(x ** 2, x)); f([4, 4])", f([4, 4]))


@step("The Hessian of sum(x**2)")
def hessian() -> None:
    x = T.dvector("x")
    f = function([x], T.hessian(T.sum(x**2), x))
    show("f = function([x], T.hessian(T.sum(x ** 2), x)); f([4, 4])", f([4, 4]))


@step("The R-operator: Jacobian of dot(x, W) times V")
def r_operator() -> None:
    W, V, x = T.dmatrix("W"), T.dmatrix("V"), T.dvector("x")  # noqa: N806
    f = function([W, V, x], T.Rop(T.dot(x, W), W, V))
    show("f = function([W, V, x], T.Rop(T.dot(x, W), W, V))", None)
    show(
        "f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1])",
        f([[1, 1], [1, 1]], [[2, 2], [2, 2]], [0, 1]),
    )


@step("The L-operator: v times the Jacobian of dot(x, W)")
def l_operator() -> None:
    W, v, x = T.dmatrix("W"), T.dvector("v"), T.dvector("x")  # noqa: N806
    f = function([v, x], T.Lop(T.dot(x, W), W, v))
    show("f = function([v, x], T.Lop(T.dot(x, W), W, v)); f([2, 2], [0, 1])", f([2, 2], [0, 1]))


@step("Hessian times a vector, both ways")
def hessian_vector() -> None:
    x, v = T.dvector("x"), T.dvector("v")
    gy = T.grad(T.sum(x**2), x)
    vh = function([x, v], T.grad(T.sum(gy * v), x))
    hv = function([x, v], T.Rop(gy, x, v))
    show("gy = T.grad(T.sum(x ** 2), x)", None)
    show("function([x, v], T.grad(T.sum(gy * v), x))([4, 4], [2, 2])", vh([4, 4], [2, 2]))
    show("function([x, v], T.Rop(gy, x, v))([4, 4], [2, 2])", hv([4, 4], [2, 2]))


def main() -> None:
    np.set_printoptions(precision=8)
    print("Derivatives in tracegrad: Theano's tutorial with `import tracegrad.tensor as T`\n")
    for i, (title, fn) in enumerate(STEPS, 1):
        print(f"== {i}. {title} ==")
        fn()
        print()


if __name__ == "__main__":
    main()
