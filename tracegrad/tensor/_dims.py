"""Which symbolic dims a compiled symbolic function needs from its inputs. (Which dims a
graph forces to be equal: tracegrad.ir.dim_classes; binding them at call time:
tracegrad.ir.shapes, the one shape binder.)
"""

from __future__ import annotations

from typing import Any

from tracegrad.ir.errors import TracegradError
from tracegrad.ir.prims import HIGHER_ORDER
from tracegrad.ir.shapes import ShapeBinder
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Function


def check_closed(function: Function, binder: ShapeBinder) -> None:
    """Every Dim an op needs at run time must come from an input (or from a loop that
    produces it: the length of a while loop's history)."""
    produced = {
        d for v in function.order if v.op in HIGHER_ORDER for d in v.shape if isinstance(d, Dim)
    }
    for v in function.order:
        for _, attr in v.attrs:
            for d in _dims_in(attr):
                if d not in binder.where and d not in produced:
                    raise TracegradError(
                        f"the outputs need the length of dim {d}, which no input "
                        "determines; add the variable it belongs to as an input"
                    )


def _dims_in(attr: Any) -> list[Dim]:
    if isinstance(attr, Dim):
        return [attr]
    if isinstance(attr, tuple):
        return [d for a in attr for d in _dims_in(a)]
    return []
