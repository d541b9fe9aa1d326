"""Random draws in traced code happen at call time, from the same generator, in eager order.

While a function is traced, numpy's samplers are intercepted: ``np.random.<name>`` (the global
``RandomState``) and the methods of a ``Generator``/``RandomState`` the function closes over,
reads from its module, or receives as a ``jit`` argument. Each call records a *draw*: an
implicit input of the traced Function (``tracegrad.tracing.implicit``) whose shape and dtype
are fixed at trace time and whose values numpy produces on every call, by calling the same
method with the same arguments on the same generator. So a traced function consumes the
random stream exactly as the eager one and gives bit-identical results for the same seed:

>>> import numpy as np, tracegrad
>>> f = tracegrad.jit(lambda x: x + np.random.randn(3))
>>> np.random.seed(0); a = [f(np.zeros(3)) for _ in range(2)]
>>> np.random.seed(0); e = [np.zeros(3) + np.random.randn(3) for _ in range(2)]
>>> all(np.array_equal(x, y) for x, y in zip(a, e))
True

Draws are constants to differentiation (no gradient flows into them). ``normal(loc, scale)``
and ``uniform(low, high)`` with traced parameters draw ``standard_normal``/``random`` at call
time and compute ``loc + scale * z`` / ``low + (high - low) * u`` in the graph: numpy computes
exactly these (one standard draw per element, then the same two float64 operations), so
results stay bit-identical, and gradients flow into the parameters. Any other sampler with a
traced argument, and ``shuffle``, ``get_state``, ``bytes``, ``out=``, raise
``UnsupportedError`` naming the line; ``seed``/``set_state`` are replayed at call time, in
order with the draws.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np

from tracegrad.ir import forksafe
from tracegrad.ir.dtypes import DType
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.types import TensorType
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.implicit import (
    STATIC_WRAPPERS,
    TRACE_HOOKS,
    Implicit,
    named_values,
    read_named,
    write_named,
)
from tracegrad.tracing.location import user_line_text, user_location
from tracegrad.tracing.tracer import Tracer

# samplers of RandomState (module level) and Generator that return arrays or scalars
SAMPLERS = frozenset(
    "beta binomial chisquare choice dirichlet exponential f gamma geometric gumbel "
    "hypergeometric integers laplace logistic lognormal logseries multinomial "
    "multivariate_hypergeometric multivariate_normal negative_binomial noncentral_chisquare "
    "noncentral_f normal pareto permutation poisson power rand randint randn random "
    "random_integers random_sample ranf rayleigh sample standard_cauchy standard_exponential "
    "standard_gamma standard_normal standard_t triangular uniform vonmises wald weibull "
    "zipf".split()
)
# they change or expose the state, or write into an argument: no call-time equivalent
REFUSED = frozenset("shuffle permuted get_state bytes spawn".split())
# they set the state: replayed at call time, in order with the draws, as an empty input
EFFECTS = frozenset(("seed", "set_state"))


@dataclass(frozen=True, eq=False)
class Draw(Implicit):
    """``generator.method(*args, **kwargs)``, called again on every call of the Function."""

    generator: Any  # a Generator/RandomState, or a Named one read at each call
    method: str
    args: tuple
    kwargs: dict
    type: TensorType  # type: ignore[misc]
    fresh = True

    def produce(self) -> np.ndarray:
        generator = resolve(self.generator)
        out = getattr(generator, self.method)(*self.args, **self.kwargs)
        if self.method in EFFECTS:
            return np.empty(0)
        out = np.asarray(out)
        return out if out.dtype == self.type.dtype.numpy else out.astype(self.type.dtype.numpy)


@dataclass(frozen=True, eq=False)
class Named:
    """The generator a global (``holder[name]``) or a closure cell (name None) holds: read
    at each call, so rebinding the name to a new generator is seen, as in eager numpy."""

    holder: Any
    name: str | None


def resolve(generator: Any) -> Any:
    if isinstance(generator, Named):
        generator = read_named(generator.holder, generator.name)
    if isinstance(generator, RecordingGenerator):  # read while another thread traces
        generator = generator._generator
    return generator


def _refuse(what: str, why: str) -> UnsupportedError:
    where = user_line_text(user_location())
    return UnsupportedError(
        f"{what} inside a traced function {why} (at {where}). Draw outside and pass the "
        "values as an argument."
    )


def _scratch(generator: Any) -> Any:
    """A generator of the same kind, for learning a draw's shape and dtype at trace time
    without touching the user's stream."""
    if isinstance(generator, np.random.Generator):
        return np.random.Generator(np.random.PCG64(0))
    return np.random.RandomState(0)


def _has_tracer(values: Any) -> bool:
    return any(isinstance(v, Tracer) for v in values)


def record(generator: Any, method: str, args: tuple, kwargs: dict) -> Any:
    """The traced stand-in for ``generator.method(*args, **kwargs)``."""
    label = f"numpy.random {method}()"
    if method in REFUSED or kwargs.get("out") is not None:
        raise _refuse(label, "changes or reads the generator's state or writes in place")
    if _has_tracer(args) or _has_tracer(kwargs.values()):
        return _with_traced_parameters(generator, method, args, kwargs, label)
    if method in EFFECTS:  # np.random.seed(0) inside the function: reseed on every call
        _input(Draw(generator, method, args, dict(kwargs), TensorType(DType.FLOAT64, (0,))))
        return None
    sample = np.asarray(getattr(_scratch(resolve(generator)), method)(*args, **kwargs))
    if sample.dtype == object or sample.dtype.kind not in "biuf":
        raise _refuse(label, f"returns {sample.dtype} values tracegrad cannot trace")
    type_ = TensorType(DType.from_numpy(sample.dtype), sample.shape)
    return _input(Draw(generator, method, args, dict(kwargs), type_))


def _input(draw: Draw) -> Tracer:
    trace = current_trace()
    return Tracer(trace.add_implicit(draw), trace)  # type: ignore[arg-type, union-attr]


_LOCATION_SCALE = {  # method -> (standard method, parameter names and defaults)
    "normal": ("standard_normal", (("loc", 0.0), ("scale", 1.0))),
    "uniform": ("random_sample", (("low", 0.0), ("high", 1.0))),
}


def _with_traced_parameters(
    generator: Any, method: str, args: tuple, kwargs: dict, label: str
) -> Any:
    if method not in _LOCATION_SCALE:
        raise _refuse(label, "with a traced argument is not supported (only normal and uniform)")
    standard, names = _LOCATION_SCALE[method]
    params = dict(zip((n for n, _ in names), args[:2], strict=False))
    params.update({k: v for k, v in kwargs.items() if k != "size"})
    size = kwargs.get("size", args[2] if len(args) > 2 else None)
    a, c = (_float64(params.get(n, d)) for n, d in names)
    if size is None:
        size = np.broadcast_shapes(a.shape, c.shape)
    if isinstance(resolve(generator), np.random.Generator) and standard == "random_sample":
        standard = "random"
    z = record(generator, standard, (), {"size": size})
    if method == "normal":
        return a + c * z  # numpy: loc + scale * gauss, per element
    return a + (c - a) * z  # numpy: low + (high - low) * next_double, per element


def _float64(x: Any) -> Any:
    """numpy's samplers take their parameters as float64 arrays."""
    return x.astype(np.float64) if isinstance(x, Tracer) else np.asarray(x, np.float64)


class RecordingGenerator:
    """Stands for a ``Generator``/``RandomState`` while a function is traced: its samplers
    record draws; outside a trace (another thread) everything goes to the generator."""

    __slots__ = ("_generator", "_source")

    def __init__(self, generator: Any, source: Named | None = None) -> None:
        self._generator = generator
        self._source = source  # where the generator was read, when it was read by name

    def __getattr__(self, name: str) -> Any:
        attr = getattr(self._generator, name)
        if name not in SAMPLERS and name not in REFUSED and name not in EFFECTS:
            return attr
        generator = self._source or self._generator

        def sampler(*args: Any, **kwargs: Any) -> Any:
            if current_trace() is None:
                return attr(*args, **kwargs)
            return record(generator, name, args, kwargs)

        return sampler

    def __repr__(self) -> str:
        return f"RecordingGenerator({self._generator!r})"


_GENERATOR_TYPES = (np.random.Generator, np.random.RandomState)


def _wrap_static(value: Any) -> Any:
    return RecordingGenerator(value) if isinstance(value, _GENERATOR_TYPES) else value


_RECORDABLE = (*_GENERATOR_TYPES, RecordingGenerator)  # a recorder: another thread's swap

# ---- np.random's module functions, swapped while any thread traces ---------------------------

_GLOBAL = np.random.mtrand._rand  # the RandomState behind np.random.<name>
_ORIGINALS = {
    n: getattr(np.random, n) for n in sorted(SAMPLERS | REFUSED | EFFECTS) if hasattr(np.random, n)
}
_PATCH_LOCK = forksafe.reset_in_child(threading.Lock())
_patch_count = 0


def _module_sampler(name: str, original: Any) -> Any:
    def sampler(*args: Any, **kwargs: Any) -> Any:
        if current_trace() is None:  # other threads, and eager use, see numpy unchanged
            return original(*args, **kwargs)
        if name in ("rand", "randn"):  # dimensions as arguments
            name_, args, kwargs = ("random_sample" if name == "rand" else "standard_normal",
                                   (), {"size": args})  # fmt: skip
            return record(_GLOBAL, name_, args, kwargs)
        return record(_GLOBAL, name, args, kwargs)

    sampler.__wrapped__ = original  # type: ignore[attr-defined]
    sampler.__name__ = name
    sampler.__doc__ = original.__doc__
    return sampler


_PATCHED = {n: _module_sampler(n, f) for n, f in _ORIGINALS.items()}


@contextlib.contextmanager
def _module_patched() -> Iterator[None]:
    global _patch_count
    with _PATCH_LOCK:
        if _patch_count == 0:
            for name, fn in _PATCHED.items():
                setattr(np.random, name, fn)
        _patch_count += 1
    try:
        yield
    finally:
        with _PATCH_LOCK:
            _patch_count -= 1
            if _patch_count == 0:
                for name, fn in _ORIGINALS.items():
                    setattr(np.random, name, fn)


def _generator_holders(fn: Any) -> list[tuple[Any, Any]]:
    """(holder, name-or-None) of the generators ``fn`` reads from globals or closure cells."""
    return [(h, n) for h, n, v in named_values(fn) if isinstance(v, _RECORDABLE)]


# (id(holder), name) -> [holder, name, generator, recorder, traces using it]: threads tracing
# functions that read the same generator share one swap; the last one out restores it
_SWAPS: dict[tuple[int, Any], list] = {}


@contextlib.contextmanager
def _generators_recorded(fn: Any) -> Iterator[None]:
    keys = []
    with _PATCH_LOCK:
        for holder, name in _generator_holders(fn):
            key = (id(holder), name)
            entry = _SWAPS.get(key)
            if entry is None:
                real = read_named(holder, name)
                if not isinstance(real, _GENERATOR_TYPES):
                    continue
                recorder = RecordingGenerator(real, Named(holder, name))
                entry = _SWAPS[key] = [holder, name, real, recorder, 0]
                write_named(holder, name, entry[3])
            entry[4] += 1
            keys.append(key)
    try:
        yield
    finally:
        with _PATCH_LOCK:
            for key in keys:
                entry = _SWAPS[key]
                entry[4] -= 1
                if entry[4] == 0:
                    del _SWAPS[key]
                    if read_named(entry[0], entry[1]) is entry[3]:  # unless the function rebound it
                        write_named(entry[0], entry[1], entry[2])


def _state_of_global() -> tuple:
    state = _GLOBAL.get_state(legacy=False)
    return (state["state"]["pos"], state["has_gauss"], state["gauss"],
            state["state"]["key"].tobytes())  # fmt: skip


@contextlib.contextmanager
def intercepting(fn: Any) -> Iterator[None]:
    """Around one trace of ``fn``: numpy's samplers record draws (see the module doc)."""
    before = _state_of_global()
    with _generators_recorded(fn), _module_patched():
        yield
    if _state_of_global() != before:
        raise UnsupportedError(
            "numpy's global random state was used while tracing, by a call tracegrad does not "
            "intercept (for example `from numpy.random import randn`, then randn(3)): its "
            "values would be frozen. Call it as np.random.randn(3), or pass the values in."
        )


TRACE_HOOKS.append(intercepting)
STATIC_WRAPPERS.append(_wrap_static)
