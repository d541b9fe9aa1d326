"""Theano's ``RandomStreams``: symbolic random variables whose values a compiled function draws
at each call (``from tracegrad.tensor.shared_randomstreams import RandomStreams``).

Each random variable has its own ``numpy.random.RandomState`` (``rv.rng``), seeded from the
stream's seed exactly as Theano seeds them, so the numbers are the ones Theano draws. A call
of a function draws each random variable once (``rv_u + rv_u - 2 * rv_u`` is zero), and then
stores the generator's advanced state (Theano's default update), so the next call draws fresh
numbers; ``function(..., no_default_updates=True)`` leaves the generators as they are, and
every call draws the same numbers.

>>> import numpy as np
>>> from tracegrad import function
>>> srng = RandomStreams(seed=234)
>>> rv_u = srng.uniform((2, 2))
>>> f = function([], rv_u)
>>> a, b = f(), f()
>>> a.shape, bool((a != b).all()), bool(((0 <= a) & (a < 1)).all())
((2, 2), True, True)
>>> g = function([], srng.normal((3,)), no_default_updates=True)
>>> bool((g() == g()).all())
True
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from tracegrad.ir import types as ir_types
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.tensor.draws import Draw, RandomStateVariable, register_draw
from tracegrad.tensor.variables import FLOATX, Expression, dims_of, fresh_param
from tracegrad.tracing.tracer import Tracer

__all__ = [
    "MRG_RandomStreams", "RandomStateVariable", "RandomStream", "RandomStreams", "RandomVariable",
]  # fmt: skip


class RandomVariable(Expression):
    """A symbolic random variable: an expression with its generator as ``rng``."""

    __slots__ = ("rng",)

    rng: RandomStateVariable


class RandomStreams:
    """A source of random variables seeded by ``seed`` (Theano's ``RandomStreams``)."""

    def __init__(self, seed: int | None = None) -> None:
        self.default_instance_seed = seed
        self.gen_seedgen = np.random.RandomState(seed)
        # (generator, random variable) pairs, as Theano lists them (its copy_random_state
        # recipe reads ``su[0]``)
        self.state_updates: list[tuple[RandomStateVariable, RandomVariable]] = []

    def seed(self, seed: int | None = None) -> None:
        """Re-seed every generator of this stream, each with a seed drawn from ``seed``."""
        seedgen = np.random.RandomState(self.default_instance_seed if seed is None else seed)
        for variable, _ in self.state_updates:
            variable.set_value(np.random.RandomState(int(seedgen.randint(2**30))), borrow=True)

    def uniform(
        self, size: Any = None, low: Any = 0.0, high: Any = 1.0, ndim: int | None = None,
        dtype: Any = None,
    ) -> RandomVariable:  # fmt: skip
        """Uniform numbers in ``[low, high)``; ``low``/``high`` may be expressions."""
        if _symbolic(low, high):
            u = self._draw("uniform", (0.0, 1.0), _size(size, ndim), FLOATX)
            return self._affine(u, low, high - low, dtype)
        return self._draw("uniform", (low, high), _size(size, ndim, low, high), dtype)

    def normal(
        self, size: Any = None, avg: Any = 0.0, std: Any = 1.0, ndim: int | None = None,
        dtype: Any = None,
    ) -> RandomVariable:  # fmt: skip
        """Normal numbers of mean ``avg`` and standard deviation ``std`` (expressions too)."""
        if _symbolic(avg, std):
            z = self._draw("normal", (0.0, 1.0), _size(size, ndim), FLOATX)
            return self._affine(z, avg, std, dtype)
        return self._draw("normal", (avg, std), _size(size, ndim, avg, std), dtype)

    def binomial(
        self, size: Any = None, n: int = 1, p: float = 0.5, ndim: int | None = None,
        dtype: Any = "int64",
    ) -> RandomVariable:  # fmt: skip
        """Binomial counts of ``n`` trials of probability ``p`` (numbers, not expressions)."""
        _static_only("binomial", n, p)
        return self._draw("binomial", (n, p), _size(size, ndim, n, p), dtype)

    def random_integers(
        self, size: Any = None, low: int = 0, high: int = 1, ndim: int | None = None,
        dtype: Any = "int64",
    ) -> RandomVariable:  # fmt: skip
        """Integers in ``[low, high]`` (both ends included, as in Theano)."""
        _static_only("random_integers", low, high)
        return self._draw("randint", (low, high + 1), _size(size, ndim, low, high), dtype)

    def _draw(self, method: str, args: tuple, size: tuple, dtype: Any) -> RandomVariable:
        seed = int(self.gen_seedgen.randint(2**30))  # Theano's seeding of each generator
        rng = RandomStateVariable(np.random.RandomState(seed), name=f"rng_{method}")
        kind = np.dtype(dtype if dtype is not None else FLOATX)
        type_ = ir_types.TensorType(DType.from_numpy(kind), dims_of(size))
        value = fresh_param(type_, f"{method}_rv")
        register_draw(value, Draw(rng, method, args, kind))
        out = _random(value, rng)
        self.state_updates.append((rng, out))
        return out

    def _affine(self, z: RandomVariable, shift: Any, scale: Any, dtype: Any) -> RandomVariable:
        out = shift + scale * z  # numpy computes low + (high - low) * u, loc + scale * z
        if dtype is not None and np.dtype(dtype) != out.dtype:
            out = out.astype(dtype)
        return _random(out.value, z.rng)


RandomStream = RandomStreams  # PyTensor's name


class MRG_RandomStreams:  # noqa: N801  (Theano's name)
    """Theano's MRG31k3p streams (``theano.sandbox.rng_mrg``): not implemented; the name
    exists so that code testing ``isinstance(rng, MRG_RandomStreams)`` runs."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        raise UnsupportedError(
            "tracegrad has no MRG31k3p generator (MRG_RandomStreams); use RandomStreams, which "
            "draws from numpy's RandomState as Theano's shared_randomstreams does"
        )


def _random(value: Any, rng: RandomStateVariable) -> RandomVariable:
    out = RandomVariable(value, None)  # type: ignore[arg-type]
    out.rng = rng
    return out


def _symbolic(*parameters: Any) -> bool:
    return any(isinstance(p, Tracer) for p in parameters)


def _static_only(what: str, *parameters: Any) -> None:
    if _symbolic(*parameters):
        raise TypeError(f"RandomStreams.{what}: the parameters must be numbers, not expressions")


def _size(size: Any, ndim: int | None, *parameters: Any) -> tuple:
    """The draw's shape: ``size`` (ints or symbolic lengths such as ``x.shape[0]``), or
    without it the broadcast shape of the (numeric) parameters."""
    if size is None:
        if any(isinstance(p, Tracer) for p in parameters):
            raise TypeError("a random draw with symbolic parameters needs an explicit size")
        shape: tuple = np.broadcast_shapes(*(np.shape(p) for p in parameters))
    elif isinstance(size, Sequence):
        shape = tuple(size)
    else:
        shape = (size,)
    if ndim is not None and ndim != len(shape):
        raise ValueError(f"size {shape} has {len(shape)} dimensions, not ndim={ndim}")
    return shape
