"""Random draws of the Theano-style front end: a draw is a symbolic input that a compiled
function fills at each call from a numpy ``RandomState`` held by a ``RandomStateVariable``
(Theano's ``rv.rng``), so every call sees fresh numbers; after the call the generator's
advanced state is stored back (Theano's default update) unless the function was compiled with
``no_default_updates``. ``tracegrad.tensor.shared_randomstreams`` builds the draws.

>>> import numpy as np
>>> rng = RandomStateVariable(np.random.RandomState(0))
>>> rng.get_value().uniform() == np.random.RandomState(0).uniform()
True
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.ir.errors import TracegradError
from tracegrad.ir.types import Dim
from tracegrad.ir.value import Value

__all__ = ["CallDraws", "Draw", "RandomStateVariable", "draw_of", "register_draw"]


class RandomStateVariable:
    """A shared ``numpy.random.RandomState`` (Theano's ``rv.rng``): ``get_value`` returns a
    copy unless ``borrow=True``, ``set_value`` stores a generator (copied unless borrowed)."""

    def __init__(self, generator: np.random.RandomState, name: str | None = None) -> None:
        self.name = name
        self.storage = _checked(generator)

    def get_value(self, borrow: bool = False) -> np.random.RandomState:
        return self.storage if borrow else copy.deepcopy(self.storage)

    def set_value(self, value: np.random.RandomState, borrow: bool = False) -> None:
        value = _checked(value)
        self.storage = value if borrow else copy.deepcopy(value)

    def __repr__(self) -> str:
        return f"<RandomStateVariable {self.name or ''}>".replace(" >", ">")


def _checked(generator: Any) -> np.random.RandomState:
    if not isinstance(generator, np.random.RandomState):
        raise TypeError(
            f"a random stream holds a numpy.random.RandomState, got {type(generator).__name__}"
        )
    return generator


@dataclass(frozen=True, eq=False)
class Draw:
    """``rng.<method>(*args, size=...)`` cast to ``dtype``, drawn anew at every call."""

    rng: RandomStateVariable
    method: str
    args: tuple
    dtype: np.dtype

    def sample(self, generator: np.random.RandomState, size: tuple[int, ...]) -> np.ndarray:
        out = np.asarray(getattr(generator, self.method)(*self.args, size=size))
        return out.astype(self.dtype, copy=False)


# param index -> its draw: the graph holds Values, this finds how to fill them
_DRAWS: dict[int, tuple[Value, Draw]] = {}


def register_draw(value: Value, draw: Draw) -> None:
    _DRAWS[int(value.attr("index"))] = (value, draw)


def draw_of(value: Value) -> Draw | None:
    """The draw that fills the symbolic parameter ``value``, if it is one."""
    found = _DRAWS.get(int(value.attr("index", -1)))
    return found[1] if found is not None and found[0] is value else None


class CallDraws:
    """The draws of one compiled function: their values for a call, then the commit of the
    generators' new states (only once the call has succeeded)."""

    def __init__(
        self,
        draws: Sequence[Draw],
        shapes: Sequence[tuple],
        where: dict[Dim, tuple[int, int]],
        n_given: int,
        no_default_updates: Any = False,
    ) -> None:
        self.draws = list(draws)
        self.frozen = _frozen(no_default_updates)
        self._lengths: list[list[int | tuple[int, int]]] = []
        for shape in shapes:
            lengths: list[int | tuple[int, int]] = []
            for d in shape:
                if isinstance(d, Dim) and where.get(d, (n_given, 0))[0] >= n_given:
                    raise TracegradError(
                        f"the size of a random draw uses the length of dim {d}, which no input "
                        "determines; add the variable it belongs to as an input"
                    )
                lengths.append(where[d] if isinstance(d, Dim) else d)
            self._lengths.append(lengths)

    def sample(self, given: Sequence[Any]) -> tuple[list[np.ndarray], dict]:
        """The draws' values for a call whose other inputs are ``given``. Each generator draws
        in place; its state before the call is returned, for ``restore``."""
        saved: dict[int, tuple[RandomStateVariable, np.random.RandomState, Any]] = {}
        values = []
        for draw, lengths in zip(self.draws, self._lengths, strict=True):
            generator = draw.rng.storage
            if id(draw.rng) not in saved:
                saved[id(draw.rng)] = (draw.rng, generator, generator.get_state())
            size = tuple(
                n if isinstance(n, int) else int(np.shape(given[n[0]])[n[1]]) for n in lengths
            )
            values.append(draw.sample(generator, size))
        return values, saved

    def restore(self, saved: dict, failed: bool = False) -> None:
        """After a call: the generators keep their advanced states (Theano's default
        update), except those of ``no_default_updates``, or all if the call ``failed``."""
        for variable, generator, state in saved.values():
            if failed or self.frozen is True or variable in self.frozen:
                generator.set_state(state)


def _frozen(no_default_updates: Any) -> Any:
    """Theano's ``no_default_updates``: True (no generator advances), False, or a list of the
    generators (``rv.rng``) or random variables whose generators stay as they are."""
    if isinstance(no_default_updates, bool):
        return no_default_updates or []
    out = [getattr(v, "rng", v) for v in no_default_updates]
    if not all(isinstance(v, RandomStateVariable) for v in out):
        raise TypeError("no_default_updates is True, False or a list of random variables/rngs")
    return out
