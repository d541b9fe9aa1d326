"""The tutorial that tracegrad was born from: Theano's "Derivatives in Theano".

The seed's two examples run with only their import lines changed; docs/tutorial.md (collected
by pytest as a doctest) covers the whole tutorial; ``python -m tracegrad.demo`` walks it.
"""

from __future__ import annotations

import doctest
import pathlib
import subprocess
import sys

import numpy as np
import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]

# The seed's examples verbatim, except the import line (Theano's was `from theano import pp`
# with T and function already imported) and numpy 2's array formatting.
SEED = """
>>> import tracegrad.tensor as T
>>> from tracegrad import pp, function
>>> x = T.dscalar('x')
>>> y = x**2
>>> gy = T.grad(y, x)
>>> f = function([x], gy)
>>> f(4)
array(8.0)
>>> f(94.2)
array(188.40000000000001)

>>> x = T.dmatrix('x')
>>> s = T.sum(1 / (1 + T.exp(-x)))
>>> gs = T.grad(s, x)
>>> dlogistic = function([x], gs)
>>> dlogistic([[0, 1], [-1, -2]])
array([[0.25      , 0.19661193],
       [0.19661193, 0.10499359]])
"""


def test_seed_examples_run_with_only_the_imports_changed() -> None:
    namespace: dict = {}
    exec(  # the statements of the seed, then check the printed numbers
        "import tracegrad.tensor as T\nfrom tracegrad import pp, function\n"
        "x = T.dscalar('x')\ny = x**2\ngy = T.grad(y, x)\nf = function([x], gy)\n"
        "a, b = f(4), f(94.2)\n"
        "x = T.dmatrix('x')\ns = T.sum(1 / (1 + T.exp(-x)))\ngs = T.grad(s, x)\n"
        "dlogistic = function([x], gs)\nc = dlogistic([[0, 1], [-1, -2]])\n",
        namespace,
    )
    assert repr(namespace["a"]) in ("array(8.)", "array(8.0)")
    assert namespace["b"] == 188.4 and namespace["b"].shape == ()
    np.testing.assert_allclose(
        namespace["c"], [[0.25, 0.19661193], [0.19661193, 0.10499359]], rtol=1e-7
    )
    assert "x ** " in namespace["pp"](namespace["gy"])


def test_seed_examples_as_doctest() -> None:
    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    test = doctest.DocTestParser().get_doctest(SEED, {}, "seed", "seed", 0)
    runner = doctest.DocTestRunner(optionflags=flags)
    # numpy 2 prints 8. and 188.4; compare the numbers, as pytest's NUMBER flag does
    test.examples[6].want = "array(8.)\n"
    test.examples[7].want = "array(188.4)\n"
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_tutorial_doc_passes_as_doctest() -> None:
    from _pytest.doctest import _get_checker  # pytest's checker understands NUMBER

    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    flags |= doctest.OPTIONFLAGS_BY_NAME["NUMBER"]  # registered by pytest's doctest plugin
    text = (ROOT / "docs" / "tutorial.md").read_text()
    test = doctest.DocTestParser().get_doctest(text, {}, "tutorial", "tutorial.md", 0)
    assert len(test.examples) > 40
    runner = doctest.DocTestRunner(checker=_get_checker(), optionflags=flags)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_demo_walks_through_the_tutorial(capsys: pytest.CaptureFixture[str]) -> None:
    from tracegrad import demo

    demo.main()
    out = capsys.readouterr().out
    for heading in ["Computing gradients", "logistic", "Jacobian", "Hessian", "R-operator",
                    "L-operator", "Hessian times a vector"]:  # fmt: skip
        assert heading in out
    assert "array(8.)" in out and "array(188.4)" in out
    assert "0.19661193" in out and "0.10499359" in out
    assert out.count("array([4., 4.])") == 2


def test_demo_runs_as_a_module() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracegrad.demo"], cwd=ROOT, capture_output=True, text=True,
        timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "== 7." in result.stdout
