"""Shared variables: symbolic variables that carry a value between calls (Theano's ``shared``).

A shared variable is used in expressions like any symbolic variable; a compiled function reads
its current value at every call (it is an implicit input), and ``updates=[(w, expr)]`` give it
a new value after the outputs of a call are computed.

>>> import numpy as np
>>> import tracegrad.tensor as T
>>> from tracegrad import function, shared
>>> state = shared(np.zeros(2), name='state')
>>> inc = T.dvector('inc')
>>> accumulate = function([inc], state, updates=[(state, state + inc)])
>>> accumulate([1.0, 2.0])  # returns the value before the update
array([0., 0.])
>>> state.get_value()
array([1., 2.])
>>> state.set_value(np.array([10.0, 10.0]))
>>> accumulate([1.0, 1.0]), state.get_value()
(array([10., 10.]), array([11., 11.]))
"""

from __future__ import annotations

from typing import Any

import numpy as np

from tracegrad.ir.errors import DTypeError
from tracegrad.ir.value import Value
from tracegrad.tensor.variables import Variable, tensor

__all__ = ["SharedVariable", "shared", "shared_of"]


class SharedVariable(Variable):
    """A symbolic variable with a stored value (``get_value``/``set_value``)."""

    __slots__ = ("storage",)

    storage: np.ndarray

    def get_value(self, borrow: bool = False) -> np.ndarray:
        """The current value (a copy unless ``borrow=True``)."""
        return self.storage if borrow else self.storage.copy()

    def set_value(self, value: Any, borrow: bool = False) -> None:
        """Replace the value; it keeps this variable's dtype and number of dimensions (values
        that would lose precision in the cast are refused, as Theano does)."""
        self.storage = _checked(self, value, borrow)


# param index -> its shared variable: the graph holds Values, this finds their storage
_SHARED: dict[int, SharedVariable] = {}


def shared(value: Any, name: str | None = None, borrow: bool = False) -> SharedVariable:
    """A shared variable holding ``value`` (copied unless ``borrow=True``); its dtype and
    number of dimensions are the value's, its dims are symbolic (a later ``set_value`` may
    change the lengths)."""
    array = np.asarray(value)
    if array.dtype.kind not in "biuf":
        raise DTypeError(f"shared: unsupported dtype {array.dtype}")
    template = tensor(array.dtype.name, (False,) * array.ndim, name)
    variable = SharedVariable(template.value, None)  # type: ignore[arg-type]
    variable.storage = array if borrow else array.copy()
    _SHARED[int(template.value.attr("index"))] = variable
    return variable


def shared_of(value: Value) -> SharedVariable | None:
    """The shared variable whose symbolic parameter is ``value``, if any."""
    found = _SHARED.get(int(value.attr("index", -1)))
    return found if found is not None and found.value is value else None


def _checked(variable: SharedVariable, value: Any, borrow: bool) -> np.ndarray:
    array = np.asarray(value)
    target = variable.value.dtype.numpy
    if array.ndim != variable.value.ndim:
        raise TypeError(
            f"shared variable {variable.name!r} has {variable.value.ndim} dimensions, the "
            f"new value has {array.ndim} (shape {array.shape})"
        )
    if array.dtype != target:
        with np.errstate(over="ignore", invalid="ignore"):  # checked just below
            converted = array.astype(target)
        if not np.can_cast(array.dtype, target, casting="same_kind") or not np.array_equal(
            converted, array, equal_nan=array.dtype.kind == "f"
        ):
            raise TypeError(
                f"shared variable {variable.name!r} has dtype {target}; the new value of "
                f"dtype {array.dtype} does not convert to it exactly"
            )
        return converted
    return array if borrow else array.copy()
