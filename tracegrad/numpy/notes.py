"""What ``docs/numpy.md`` says about a supported numpy function besides its name, as data
recorded next to the function: whether it is differentiable, which arguments it does not take,
and where it departs from numpy. ``tracegrad.numpy.docs`` renders the page from these notes and
the dispatch tables; a function without a note is differentiable and exactly numpy's.

>>> note("my_function", grad=Grad.NO, deviation="an example")
>>> NOTES.pop("my_function")
Note(grad=<Grad.NO: 'no (integer or boolean result)'>, arguments='', deviation='an example')
"""

from __future__ import annotations

import enum
from dataclasses import dataclass


class Grad(enum.Enum):
    """Whether ``grad`` goes through a function."""

    YES = "yes"
    ZERO = "zero (piecewise constant)"
    NO = "no (integer or boolean result)"


@dataclass(frozen=True)
class Note:
    grad: Grad = Grad.YES
    arguments: str = ""  # the arguments (or values of them) that are not supported
    deviation: str = ""  # where the result or behaviour differs from numpy's


NOTES: dict[str, Note] = {}  # numpy's name ("sort", "linalg.norm", "add.at") -> note


def note(*names: str, grad: Grad = Grad.YES, arguments: str = "", deviation: str = "") -> None:
    """Record the note of one or more numpy names (``"linalg.solve"`` for submodules)."""
    for name in names:
        NOTES[name] = Note(grad, arguments, deviation)


# ---- functions defined before the notes existed (numpy/_structural.py, _composites.py...) --

note("argmax", "argmin", "count_nonzero", grad=Grad.NO)
note("shape", "ndim", "size", grad=Grad.NO, deviation="static: a Python value, not traced")
note("reshape", arguments="order other than 'C'")
note("pad", arguments="mode other than 'constant'")
note("linalg.norm", arguments="ord other than None, 2, 'fro', 1, inf",
     deviation="the gradient at 0 is 0 (a subgradient)")  # fmt: skip
note("round", "around", "fix", grad=Grad.ZERO)
note("std", deviation="the gradient where the deviation is 0 is 0, not NaN")
note("cov", "corrcoef", arguments="a symbolic number of observations")
note("roll", "repeat", "tile", "split", "array_split", "hsplit", "vsplit", "dsplit", "kron",
     "diag", "diagonal", "diagflat", "tril", "triu", "trace",
     arguments="a symbolic (runtime) length along the axes they index")  # fmt: skip
note("nanmax", "nanmin", "nanmean", "nanvar",
     deviation="an all-NaN slice gives NaN without numpy's RuntimeWarning")  # fmt: skip
note("nanstd", deviation="an all-NaN slice gives NaN without numpy's RuntimeWarning; the "
     "gradient where the deviation is 0 is 0, not NaN")  # fmt: skip
note("einsum", arguments="optimize=, out=, dtype=")
