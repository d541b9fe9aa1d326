"""The README's error table is true: one test per row, and a row without a test fails.

Each row's documented class must be the class raised (through ``jit``, ``grad`` and, where
the row applies to it, ``tracegrad.function``), and the message must point at the user's line
where the row is about the user's code.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

import tracegrad
import tracegrad.tensor as T  # noqa: N812 (Theano's spelling)
from tracegrad import errors

README = Path(__file__).resolve().parents[1] / "README.md"


def _table_rows() -> dict[str, str]:
    """``{you write: error class name}`` from the table after 'raises a clear error'."""
    text = README.read_text()
    table = text[text.index("| you write | you get |") :].split("\n\n", 1)[0]
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0]] = re.match(r"`(\w+)`", cells[1]).group(1)
    return rows


def _branch(x: Any) -> Any:
    if x > 0:
        return x
    return -x


def _fill(x: Any) -> Any:
    out = np.zeros(3)
    out[0] = x[0]
    return out


def _through_jit_and_grad(f: Callable[[Any], Any], *args: Any) -> list[Callable[[], Any]]:
    return [
        lambda: tracegrad.jit(f)(*args),
        lambda: tracegrad.grad(lambda *a: np.sum(f(*a)))(*args),
    ]


def _dtype_cases() -> list[Callable[[], Any]]:
    cases = []
    for bad in (
        np.ones(3, np.longdouble),
        np.ones(3, np.complex128),
        np.ones(3, np.complex64),
        np.array([1.0, "a"], dtype=object),
        np.array(["a", "b"]),
    ):
        cases += _through_jit_and_grad(lambda x: x * 2, bad)  # as an argument
        cases += _through_jit_and_grad(lambda x, c=bad: x * c, np.ones(3))  # as a constant
        if bad.dtype != np.longdouble:  # a float64 input refuses it as a downcast (Theano's)
            vector = T.dvector("x")
            cases.append(lambda bad=bad, v=vector: tracegrad.function([v], v * 2)(bad))
    cases += _through_jit_and_grad(lambda x: x + 1j, np.ones(3))
    cases += _through_jit_and_grad(lambda x: x + [[1.0], [1.0, 2.0]], np.ones(2))  # ragged
    return cases


# one entry per README row: the cases that must raise that row's class
CASES: dict[str, Callable[[], list[Callable[[], Any]]]] = {
    "`if x > 0:` on a traced value": lambda: _through_jit_and_grad(_branch, np.ones(3)),
    "`out = np.zeros(3); out[0] = x`": lambda: _through_jit_and_grad(_fill, np.ones(3)),
    "`x[x > 0]` (traced mask)": lambda: _through_jit_and_grad(lambda x: x[x > 0], np.ones(3)),
    "shapes that do not broadcast": lambda: [
        lambda: tracegrad.jit(lambda x, y: x + y)(np.ones(3), np.ones(4)),
        lambda: tracegrad.grad(lambda x, y: np.sum(x * y))(np.ones(3), np.ones(4)),
        lambda: tracegrad.jit(lambda x: x.reshape(4))(np.ones(3)),
    ],
    "an axis out of range (`np.sum(x, axis=3)` on a 2-d `x`)": lambda: [
        *_through_jit_and_grad(lambda x: np.sum(x, axis=3), np.ones((2, 2))),
        *_through_jit_and_grad(lambda x: np.sort(x, axis=-3), np.ones((2, 2))),
        *_through_jit_and_grad(lambda x: np.cumprod(x, axis=0), np.array(1.0)),
    ],
    "complex, long double, object or string arrays; ragged lists": _dtype_cases,
    "an unsupported numpy function": lambda: _through_jit_and_grad(np.fft.fft, np.ones(4)),
    "`np.matrix` or a masked array as an argument": lambda: [
        *_through_jit_and_grad(lambda x: x * 2, np.matrix([[1.0, 2.0]])),
        *_through_jit_and_grad(lambda x: x * 2, np.ma.masked_array([1.0, 2.0], mask=[0, 1])),
    ],
}

# rows about the user's own code name the user's line
NAMES_THE_LINE = {"`if x > 0:` on a traced value", "`out = np.zeros(3); out[0] = x`"}


def test_every_row_has_cases() -> None:
    assert set(_table_rows()) == set(CASES)


@pytest.mark.parametrize("row", sorted(CASES))
@pytest.mark.filterwarnings("ignore:the matrix subclass:PendingDeprecationWarning")
def test_row_raises_the_documented_class(row: str) -> None:
    documented = getattr(errors, _table_rows()[row])
    cases = CASES[row]()
    assert cases
    for i, case in enumerate(cases):
        with pytest.raises(documented) as info:
            case()
        assert isinstance(info.value, errors.TracegradError), (row, i)
        if row in NAMES_THE_LINE:
            assert "test_error_table.py:" in str(info.value), (row, i, str(info.value))


def test_shape_error_is_a_value_error() -> None:
    assert issubclass(errors.ShapeError, ValueError)  # as the table says: except ValueError works


def test_axis_error_is_numpys() -> None:
    """``except np.exceptions.AxisError`` (and ``IndexError``) code written for numpy works."""
    assert issubclass(errors.AxisError, (np.exceptions.AxisError, errors.ShapeError, IndexError))
    with pytest.raises(np.exceptions.AxisError, match="axis 2 is out of bounds"):
        tracegrad.jit(lambda x: np.flip(x, 2))(np.ones((2, 2)))


def test_indexing_a_constant_table_by_a_traced_int_says_what_to_write() -> None:
    """#14 item 7: numpy converts a traced index to an array; the error names the fix, and
    the fix works."""
    import tracegrad.numpy as tnp

    table = np.arange(5.0) * 10
    with pytest.raises(
        errors.ConcretizationError, match=r"tracegrad\.numpy\.asarray\(table\)\[i\]"
    ):
        tracegrad.jit(lambda i: table[i])(np.int64(2))  # a typed int is traced
    assert float(tracegrad.jit(lambda i: tnp.asarray(table)[i])(np.int64(2))) == 20.0
    assert float(tracegrad.jit(lambda i: table[i])(2)) == 20.0  # a Python int: specialized
