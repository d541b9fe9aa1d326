"""Inputs of a compiled function: ``In(variable, value=default, name=...)`` and binding a
call's positional and keyword arguments to them (Theano's ``In``).

>>> import tracegrad.tensor as T
>>> from tracegrad import function, In
>>> x, y = T.dscalars('x', 'y')
>>> f = function([x, In(y, value=1.0)], x + y)
>>> f(33), f(33, 2), f(33, y=5)
(array(34.), array(35.), array(38.))
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from tracegrad.tracing.tracer import Tracer

__all__ = ["In", "InputSpec", "bind_arguments", "input_specs"]

_NO_DEFAULT = object()


@dataclass(frozen=True)
class In:
    """An input with an optional default ``value`` and a keyword ``name`` (default: the
    variable's own name)."""

    variable: Any
    value: Any = _NO_DEFAULT
    name: str | None = None


@dataclass(frozen=True)
class InputSpec:
    """One explicit input of a compiled function: its variable, keyword name and default."""

    variable: Tracer
    name: str
    default: Any


def input_specs(inputs: Sequence[Any]) -> list[InputSpec]:
    specs = []
    for item in inputs:
        spec = item if isinstance(item, In) else In(item)
        variable = spec.variable
        name = spec.name if spec.name is not None else str(getattr(variable, "name", "") or "")
        specs.append(InputSpec(variable, name, spec.value))
    return specs


def bind_arguments(specs: Sequence[InputSpec], args: tuple, kwargs: dict) -> list[Any]:
    """The value of each input for a call: positional, then by name, then the default."""
    if len(args) > len(specs):
        raise TypeError(f"this function takes {len(specs)} arguments, got {len(args)}")
    values: list[Any] = list(args) + [_NO_DEFAULT] * (len(specs) - len(args))
    by_name = {s.name: i for i, s in enumerate(specs) if s.name}
    for key, value in kwargs.items():
        if key not in by_name:
            raise TypeError(f"unknown input name {key!r} (inputs: {', '.join(by_name)})")
        if values[by_name[key]] is not _NO_DEFAULT:
            raise TypeError(f"input {key!r} given twice")
        values[by_name[key]] = value
    for i, (spec, value) in enumerate(zip(specs, values, strict=True)):
        if value is _NO_DEFAULT:
            if spec.default is _NO_DEFAULT:
                raise TypeError(f"missing input {spec.name or i!r} (no default value)")
            values[i] = spec.default
    return values
