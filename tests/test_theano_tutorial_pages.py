"""Theano's basic tutorial pages (issue #17 items 3 and 6 of the brief): each page under
docs/tutorial/ passes as a doctest, docs/tutorial.md and the README link to it, and
``python -m tracegrad.demo`` lists and replays them."""

from __future__ import annotations

import doctest
import pathlib
import subprocess
import sys

import pytest

from tracegrad import demo

ROOT = pathlib.Path(__file__).resolve().parents[1]
PAGES = {name: path for name, (_, path) in demo.PAGES.items() if path is not None}


@pytest.mark.parametrize("name", sorted(PAGES))
def test_page_passes_as_doctest(name: str) -> None:
    from _pytest.doctest import _get_checker  # pytest's checker understands NUMBER

    flags = doctest.NORMALIZE_WHITESPACE | doctest.ELLIPSIS
    flags |= doctest.OPTIONFLAGS_BY_NAME["NUMBER"]  # registered by pytest's doctest plugin
    text = (ROOT / "docs" / PAGES[name]).read_text()
    test = doctest.DocTestParser().get_doctest(text, {}, name, PAGES[name], 0)
    assert len(test.examples) > 10
    runner = doctest.DocTestRunner(checker=_get_checker(), optionflags=flags)
    runner.run(test)
    assert runner.summarize(verbose=False).failed == 0


def test_every_page_is_linked_from_the_tutorial_and_the_readme() -> None:
    tutorial = (ROOT / "docs" / "tutorial.md").read_text()
    readme = (ROOT / "README.md").read_text()
    for path in PAGES.values():
        assert f"({path})" in tutorial, path
        assert f"(docs/{path})" in readme, path


def test_demo_lists_the_pages(capsys: pytest.CaptureFixture[str]) -> None:
    demo.main(["--list"])
    out = capsys.readouterr().out
    for title in ["Baby Steps - Algebra", "More Examples", "A Real Example: Logistic Regression",
                  "Derivatives in Theano", "Conditions"]:  # fmt: skip
        assert title in out


def test_demo_replays_a_page_as_a_session(capsys: pytest.CaptureFixture[str]) -> None:
    demo.main(["adding"])
    out = capsys.readouterr().out
    assert "== Adding two Matrices ==" in out
    assert ">>> f(2, 3)\narray(5.)\n" in out
    assert "array([[11., 22.],\n       [33., 44.]])" in out
    assert ">>> print(f([1, 2], [4, 5]))\n[25. 49.]\n" in out


def test_demo_refuses_an_unknown_page() -> None:
    with pytest.raises(SystemExit, match="usage"):
        demo.main(["no_such_page"])


def test_demo_lists_from_the_command_line() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "tracegrad.demo", "--list"], cwd=ROOT, capture_output=True,
        text=True, timeout=120, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    assert "logistic_regression" in result.stdout and "conditions" in result.stdout
