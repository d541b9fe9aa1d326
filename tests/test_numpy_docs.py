"""docs/numpy.md is generated from the registry (issue #15 item 3): the committed page equals
what ``python -m tracegrad.numpy.docs`` renders now, every dispatched function and ufunc has a
row, a newly registered function (as the linear-algebra work will add) appears with its note,
and an ``UnsupportedError`` names the function and points to the page."""

from __future__ import annotations

import numpy as np
import pytest

import tracegrad
from tracegrad.errors import UnsupportedError
from tracegrad.numpy import dispatch, docs
from tracegrad.numpy.notes import NOTES, Grad, Note


def test_committed_page_is_up_to_date() -> None:
    committed = docs.PAGE.read_text(encoding="utf-8")
    assert committed == docs.render(), "docs/numpy.md is stale: run python -m tracegrad.numpy.docs"
    assert docs.main(["--check"]) == 0


def test_every_dispatched_function_and_ufunc_has_a_row() -> None:
    page = docs.render()
    for func in dispatch.FUNCTIONS:
        assert f"| `{docs.numpy_name(func)}` |" in page, func
    for ufunc in dispatch.UFUNCS:
        assert f"| `{ufunc.__name__}` |" in page, ufunc
    assert "| `sort` | `sort` | yes |" in page
    assert "| `argsort` | `argsort` | no (integer or boolean result) |" in page
    assert "| `floor` | zero (piecewise constant) |" in page  # read off the traced graph
    assert "`reduce`, `accumulate`, `at`, `outer`" in page  # maximum's methods


def test_a_new_registration_appears_with_its_note(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(dispatch.FUNCTIONS, np.linalg.cholesky, lambda a: a)
    monkeypatch.setitem(NOTES, "linalg.cholesky", Note(Grad.YES, "upper=True", "an example"))
    assert "| `linalg.cholesky` | `<lambda>` (a composite) | yes | upper=True | an example |" in (
        docs.render()
    )
    assert docs.main(["--check"]) == 1  # the committed page no longer matches


def test_unsupported_error_points_to_the_page() -> None:
    with pytest.raises(UnsupportedError, match=r"numpy\.unwrap .*docs/numpy\.md"):
        tracegrad.jit(np.unwrap)(np.zeros(3))
    with pytest.raises(UnsupportedError, match=r"numpy\.add\.reduceat .*docs/numpy\.md"):
        tracegrad.jit(lambda x: np.add.reduceat(x, [0, 1]))(np.zeros(3))
