"""The README's demo: ``python -m tracegrad.demo`` walks through Theano's tutorial "Derivatives
in Theano" on tracegrad's Theano-style front end, printing each step (docs/tutorial.md has the
same steps as doctests).

``python -m tracegrad.demo --list`` lists the tutorial pages, and ``python -m tracegrad.demo
<page>`` replays one: the page's doctests (docs/tutorial/<page>.md) run as an interactive
session, each line printed with what it prints.
"""

from __future__ import annotations

import doctest
import pathlib
import sys
import traceback
from collections.abc import Callable, Sequence

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


def derivatives() -> None:
    np.set_printoptions(precision=8)
    print("Derivatives in tracegrad: Theano's tutorial with `import tracegrad.tensor as T`\n")
    for i, (title, fn) in enumerate(STEPS, 1):
        print(f"== {i}. {title} ==")
        fn()
        print()


# page name -> (Theano's title, the page under docs/; None: the steps above)
PAGES: dict[str, tuple[str, str | None]] = {
    "adding": ("Baby Steps - Algebra", "tutorial/adding.md"),
    "examples": ("More Examples", "tutorial/examples.md"),
    "logistic_regression": (
        "A Real Example: Logistic Regression",
        "tutorial/logistic_regression.md",
    ),
    "derivatives": ("Derivatives in Theano", None),
    "conditions": ("Conditions", "tutorial/conditions.md"),
    "loop": ("Loop", "tutorial/loop.md"),
}


def page_path(relative: str) -> pathlib.Path:
    """A page of docs/: next to the package (a source checkout), else under the current
    directory."""
    for docs in (pathlib.Path(__file__).resolve().parents[1] / "docs", pathlib.Path("docs")):
        if (docs / relative).is_file():
            return docs / relative
    raise SystemExit(f"tracegrad.demo: docs/{relative} not found; run from the repository root")


def replay(text: str, name: str) -> None:
    """Run a page's doctests in order as an interactive session: each example is printed
    with its prompts, then run (expression values are echoed, as at the >>> prompt)."""
    namespace: dict = {"__name__": f"tracegrad.demo.{name}"}
    for part in doctest.DocTestParser().parse(text, name):
        if isinstance(part, str):
            for line in part.splitlines():
                if line.startswith("##"):  # sections (the page title is printed first)
                    print(f"\n== {line.lstrip('#').strip()} ==")
            continue
        lines = part.source.rstrip("\n").splitlines()
        print("\n".join([f">>> {lines[0]}", *(f"... {line}" for line in lines[1:])]))
        try:
            exec(compile(part.source, f"<{name}>", "single"), namespace)  # noqa: S102
        except Exception as error:  # an example that shows an error: print it, go on
            print("Traceback (most recent call last):\n  ...")
            print(traceback.format_exception_only(error)[-1], end="")


def main(argv: Sequence[str] = ()) -> None:
    """The demo for the command line ``argv``: no argument (or ``derivatives``) walks through
    "Derivatives in Theano", ``--list`` lists the pages, a page name replays that page."""
    args = list(argv)
    if args in ([], ["derivatives"]):
        derivatives()
        return
    if args == ["--list"]:
        print("Theano's tutorial pages (python -m tracegrad.demo <page>):")
        for page, (title, _) in PAGES.items():
            print(f"  {page:<20} {title}")
        return
    if len(args) != 1 or args[0] not in PAGES:
        raise SystemExit(
            f"usage: python -m tracegrad.demo [--list | {' | '.join(PAGES)}]; got {args}"
        )
    title, relative = PAGES[args[0]]
    assert relative is not None
    print(f"{title}: Theano's tutorial page on tracegrad\n")
    replay(page_path(relative).read_text(), args[0])


if __name__ == "__main__":
    main(sys.argv[1:])
