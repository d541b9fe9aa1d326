"""What a compiled function computes besides its outputs: ``givens`` substituted into the
graph, ``updates`` of shared variables as extra outputs, and the shared variables it reads
as implicit inputs (Theano's ``function(..., updates=, givens=)``).

>>> import numpy as np
>>> import tracegrad.tensor as T
>>> from tracegrad import function, shared
>>> x = T.dvector('x')
>>> data = shared(np.arange(4.0), name='data')
>>> f = function([], T.sum(x), givens=[(x, data * 2.0)])
>>> f()
array(12.)
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracegrad.ir.errors import TracegradError
from tracegrad.ir.ops import Op
from tracegrad.ir.value import Value, topological_order
from tracegrad.tensor._graph import substitute
from tracegrad.tensor.draws import Draw, draw_of
from tracegrad.tensor.shared import SharedVariable, shared_of
from tracegrad.tensor.variables import value_of

__all__ = ["UnusedInputError", "UpdatePlan", "check_unused", "plan_updates"]


class UnusedInputError(TracegradError, ValueError):
    """An input does not take part in computing any output or update."""


@dataclass(frozen=True)
class UpdatePlan:
    """The Values to compute (outputs, then one per update), the shared variables updated
    (in that order), the shared variables read (implicit inputs, after the explicit) and the
    random draws (implicit inputs after those, filled at each call)."""

    outputs: list[Value]
    updated: list[SharedVariable]
    shared: list[SharedVariable]
    draws: list[tuple[Value, Draw]]


def _pairs(items: Any) -> list[tuple[Any, Any]]:
    if items is None:
        return []
    pairs = list(items.items()) if isinstance(items, dict) else list(items)
    if not all(isinstance(p, tuple | list) and len(p) == 2 for p in pairs):
        raise TypeError("updates and givens are lists of (variable, expression) pairs, or dicts")
    return [(a, b) for a, b in pairs]


def _same_type(target: Value, value: Value, what: str) -> None:
    if target.ndim != value.ndim or target.dtype is not value.dtype:
        raise TypeError(
            f"{what}: the expression has type {value.dtype.value} with {value.ndim} "
            f"dimensions, the variable {target.dtype.value} with {target.ndim}; they must "
            "match (cast the expression, e.g. T.cast(expr, 'float32'))"
        )


def _givens(givens: Any) -> dict[int, Value]:
    replace: dict[int, Value] = {}
    for variable, expression in _pairs(givens):
        target = value_of(variable, "a givens key")
        if target.op is not Op.PARAM:
            raise TypeError("givens replace symbolic variables (T.dvector('x'), shared(...))")
        new = value_of(expression, "a givens value")
        _same_type(target, new, f"givens for {variable!r}")
        replace[id(target)] = new
    return replace


def plan_updates(
    explicit: Sequence[Value], outputs: list[Value], updates: Any, givens: Any
) -> UpdatePlan:
    """Substitute ``givens``, append the update expressions, and find the shared variables
    the result reads that are not explicit inputs."""
    updated: list[SharedVariable] = []
    expressions: list[Value] = []
    for variable, expression in _pairs(updates):
        if not isinstance(variable, SharedVariable):
            raise TypeError(f"updates change shared variables; {variable!r} is not one")
        if any(variable is u for u in updated):
            raise ValueError(f"shared variable {variable.name!r} is updated twice")
        new = value_of(expression, "an update")
        _same_type(variable.value, new, f"update of {variable.name!r}")
        updated.append(variable)
        expressions.append(new)
    computed = outputs + expressions
    replace = _givens(givens)
    if replace:
        computed = substitute(computed, replace)
    given = {id(v) for v in explicit}
    params = [v for v in topological_order(computed) if v.op is Op.PARAM and id(v) not in given]
    shared = [found for v in params if (found := shared_of(v)) is not None]
    draws = [(v, found) for v in params if (found := draw_of(v)) is not None]
    return UpdatePlan(computed, updated, shared, draws)


def check_unused(explicit: Sequence[Value], computed: Sequence[Value], policy: str) -> None:
    """Theano's ``on_unused_input``: ``"raise"``, ``"warn"`` or ``"ignore"``."""
    if policy not in ("raise", "warn", "ignore"):
        raise ValueError(f"on_unused_input must be 'raise', 'warn' or 'ignore', got {policy!r}")
    used = {id(v) for v in topological_order(computed)}
    for position, v in enumerate(explicit):
        if id(v) in used or policy == "ignore":
            continue
        message = (
            f"input {position} ({str(v.attr('name', '')) or 'unnamed'}) is not used to compute "
            "any output or update; pass on_unused_input='warn' or 'ignore' to allow it"
        )
        if policy == "raise":
            raise UnusedInputError(message)
        warnings.warn(message, stacklevel=3)
