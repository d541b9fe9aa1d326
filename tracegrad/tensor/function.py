"""``tracegrad.function(inputs, outputs)``: compile symbolic expressions into a callable.

The graph keeps its symbolic dims, so it is optimized and compiled once and then accepts arrays
of any length of the declared ranks. Before compiling, dims that the graph forces to be equal
(operands of an elementwise op, the contracted dims of a dot...) are merged, and every call
checks the inputs against them, so mismatched lengths give a numpy-like ValueError instead of
reaching native code. A backend that cannot compile symbolic dims (it raises
``UnsupportedError``/``NotImplementedError``) gets one specialization per concrete input shape.

>>> import tracegrad.tensor as T
>>> from tracegrad import function
>>> x, y = T.dvector('x'), T.dvector('y')
>>> f = function([x, y], [x + y, T.sum(x * y)])
>>> f([1, 2], [3, 4])
[array([4., 6.]), array(11.)]

Theano's options work as in Theano: ``updates=[(shared_variable, expression)]`` (applied after
the outputs are computed, all at once), ``givens=[(variable, expression)]`` (substituted
before compiling), inputs given as ``In(variable, value=default, name=...)``,
``allow_input_downcast`` and ``on_unused_input``; ``f.copy(swap={old: new})`` compiles the
same function over other shared variables.

>>> import numpy as np
>>> from tracegrad import shared
>>> w = shared(np.array([1.0, 2.0]), name='w')
>>> step = function([x], T.sum(w * x), updates=[(w, w - 0.5 * x)])
>>> step([1.0, 1.0]), w.get_value()
(array(3.), array([0.5, 1.5]))
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from dataclasses import dataclass
from types import SimpleNamespace
from typing import Any

import numpy as np

from tracegrad._pickling import restore_once, token_of
from tracegrad.backend import Executable, get_backend
from tracegrad.ir import forksafe
from tracegrad.ir.dim_classes import canonical_dims
from tracegrad.ir.errors import DTypeError, TracegradError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.shapes import ShapeBinder
from tracegrad.ir.types import Dim, format_shape
from tracegrad.ir.value import Function, Value, param, topological_order
from tracegrad.staging import Compiled
from tracegrad.tensor._dims import check_closed
from tracegrad.tensor._graph import substitute
from tracegrad.tensor.draws import CallDraws
from tracegrad.tensor.inputs import bind_arguments, input_specs
from tracegrad.tensor.updates import UnusedInputError, check_unused, plan_updates
from tracegrad.tensor.variables import symbolic, use_compiler, value_of
from tracegrad.tracing.tracer import Tracer


@dataclass(frozen=True)
class Mode:
    """Theano's compilation mode (``function(..., mode=theano.Mode(linker='vm'))``): accepted
    so that Theano code runs; tracegrad always optimizes and compiles through its backend
    (choose one with ``backend=``).

    >>> import tracegrad as theano, tracegrad.tensor as T
    >>> x = T.dscalar('x')
    >>> theano.function([x], x + 1, mode=theano.Mode(linker='vm'))(1)
    array(2.)
    """

    linker: str | None = None
    optimizer: str | None = "default"


class MissingInputError(TracegradError, ValueError):
    """An output depends on a symbolic variable that is not among the inputs."""


def _input_value(x: Any, position: int) -> Value:
    if not isinstance(x, Tracer) or x.trace is not None or x.value.op is not Op.PARAM:
        raise TypeError(
            f"input {position} of tracegrad.function must be a symbolic variable "
            f"(T.dscalar('x'), T.dmatrix('W')...), got {type(x).__name__}"
        )
    return x.value


def _label(v: Value) -> str:
    return str(v.attr("name", "")) or f"<input {v.attr('index')}>"


def _check_inputs(inputs: list[Value], outputs: list[Value]) -> None:
    if len({id(v) for v in inputs}) != len(inputs):
        raise TypeError("tracegrad.function: an input variable is listed twice")
    given = {id(v) for v in inputs}
    for v in topological_order(outputs):
        if v.op is Op.PARAM and id(v) not in given:
            raise MissingInputError(
                f"the outputs depend on the variable {_label(v)!r}, which is not in the list "
                "of inputs; add it to the inputs of tracegrad.function"
            )


def _build_ir(inputs: list[Value], outputs: list[Value], name: str) -> tuple[Function, ShapeBinder]:
    """A verifiable Function: params 0..n-1 (names kept), dims merged as the graph requires."""
    rename = canonical_dims(inputs, outputs)
    params = [
        param(i, p.type.with_shape(tuple(rename(d) for d in p.shape)), _label(p), 0)
        for i, p in enumerate(inputs)
    ]
    rebuilt = substitute(outputs, {id(p): q for p, q in zip(inputs, params, strict=True)}, rename)
    function = Function(name, tuple(params), tuple(rebuilt))
    binder = ShapeBinder(params)
    check_closed(function, binder)
    return function, binder


class CompiledFunction:
    """A compiled symbolic function; call it with arrays, lists or Python scalars."""

    def __init__(
        self,
        inputs: Sequence[Any],
        outputs: Any,
        name: str = "f",
        backend: str | None = None,
        opt_level: int = 2,
        allow_input_downcast: bool | None = None,
        updates: Any = None,
        givens: Any = None,
        on_unused_input: str = "ignore",
        no_default_updates: Any = False,
    ) -> None:
        self._options = (
            name, backend, opt_level, allow_input_downcast, on_unused_input, no_default_updates,
        )  # fmt: skip
        self._sources = (list(inputs), outputs, updates, givens)
        self.single = outputs is not None and not isinstance(outputs, (list, tuple))
        out_items = [] if outputs is None else [outputs] if self.single else list(outputs)
        self.specs = input_specs(inputs)
        explicit = [_input_value(s.variable, i) for i, s in enumerate(self.specs)]
        plan = plan_updates(explicit, [value_of(o, "output") for o in out_items], updates, givens)
        self.n_outputs = len(out_items)
        self.updated, self.shared = plan.updated, plan.shared
        self.inputs = explicit + [v.value for v in plan.shared] + [v for v, _ in plan.draws]
        self.outputs = plan.outputs
        _check_inputs(self.inputs, self.outputs)
        check_unused(explicit, self.outputs, on_unused_input)
        self.allow_input_downcast = allow_input_downcast
        self.backend = get_backend(backend)
        self.opt_level = opt_level
        self.function, self._binding = _build_ir(self.inputs, self.outputs, name)
        self._draws = _call_draws(self, plan.draws, no_default_updates)
        self.compile_count = 0
        self._kinds = [(p.dtype.numpy, p.ndim) for p in self.function.params]
        self._lock = forksafe.reset_in_child(threading.Lock())
        self._compiled: Compiled | None = Compiled(self.function, opt_level, self.backend.name)
        self._per_shape: dict[tuple, Compiled] | None = None
        self.optimized_function = self._compile_symbolic()
        outs = self.optimized_function.outputs
        self.maker = SimpleNamespace(
            fgraph=SimpleNamespace(inputs=list(self.function.params), outputs=list(outs))
        )
        self.maker.env = self.maker.fgraph

    @property
    def optimized(self) -> Value | Function:
        """What runs: the optimized Function, or its output Value for a single output."""
        outs = self.optimized_function.outputs
        return outs[0] if self.single else self.optimized_function

    @property
    def executable(self) -> Executable | None:
        """What runs for every shape (None for a backend that compiles per shape)."""
        return self._compiled.executable() if self._compiled is not None else None

    def _compile_symbolic(self) -> Function:
        """Compile once for every shape; returns the optimized Function."""
        compiled = self._compiled
        assert compiled is not None
        try:
            compiled.executable()
        except (UnsupportedError, NotImplementedError):
            self._compiled = None
            self._per_shape = {}  # this backend needs concrete shapes: specialize per call
        else:
            self.compile_count += 1
        assert compiled.optimized is not None
        return compiled.optimized

    def _specialized(self, arrays: list[np.ndarray]) -> Compiled:
        """The compiled function for these concrete shapes (backends without symbolic dims)."""
        assert self._per_shape is not None
        key = tuple(a.shape for a in arrays)
        found = self._per_shape.get(key)
        if found is None:
            with self._lock:
                found = self._per_shape.get(key)
                if found is None:
                    found = Compiled(self._concrete(arrays), self.opt_level, self.backend.name)
                    found.executable()
                    self._per_shape[key] = found
                    self.compile_count += 1
        return found

    def _concrete(self, arrays: list[np.ndarray]) -> Function:
        extents: dict[Dim, int] = {}
        for p, a in zip(self.function.params, arrays, strict=True):
            extents.update(
                (d, n) for d, n in zip(p.shape, a.shape, strict=True) if isinstance(d, Dim)
            )
        params = [
            param(i, p.type.with_shape(a.shape), _label(p), 0)
            for i, (p, a) in enumerate(zip(self.function.params, arrays, strict=True))
        ]
        mapping = {id(p): q for p, q in zip(self.function.params, params, strict=True)}
        outs = substitute(self.function.outputs, mapping, lambda d: extents.get(d, d))
        return Function(self.function.name, tuple(params), tuple(outs))

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        if kwargs or len(args) != len(self.specs):
            args = tuple(bind_arguments(self.specs, args, kwargs))
        if self.shared:
            args = (*args, *(v.storage for v in self.shared))
        if self._draws is None:
            results = self._run(args)
        else:  # fresh numbers; a failed call leaves the generators as they were
            values, saved = self._draws.sample(args)
            try:
                results = self._run((*args, *values))
            except BaseException:
                self._draws.restore(saved, failed=True)
                raise
            self._draws.restore(saved)
        if self.updated:  # every output is computed before any shared value changes
            for variable, value in zip(self.updated, results[self.n_outputs :], strict=True):
                variable.storage = np.asarray(value)
            results = results[: self.n_outputs]
        return results[0] if self.single else results

    def _run(self, args: tuple) -> list[Any]:
        compiled = self._compiled
        fast = compiled.executable().hot.symbolic if compiled is not None else None
        if fast is not None and len(args) == len(self._kinds):
            # arrays already of the right dtype and rank go straight to the kernel; the
            # native call checks the rest and declines (None) anything unusual
            kinds = zip(args, self._kinds, strict=True)
            if all(type(a) is np.ndarray and (a.dtype, a.ndim) == k for a, k in kinds):
                outs = fast(list(args))
                if outs is not None:
                    return list(outs)
        arrays = self._convert(args)
        self._binding.bind([a.shape for a in arrays])
        run = compiled if compiled is not None else self._specialized(arrays)
        return [np.asarray(r) for r in run.run(arrays)]

    def copy(self, swap: dict | None = None, delete_updates: bool = False) -> CompiledFunction:
        """The same function compiled again; ``swap={old_shared: new_shared}`` makes the copy
        read and update other shared variables (of the same types), ``delete_updates=True``
        makes a copy that updates nothing (random generators included)."""
        inputs, outputs, updates, givens = self._sources
        swap = dict(swap or {})
        pairs = list(updates.items()) if isinstance(updates, dict) else list(updates or [])
        moved = [(swap.get(target, target), expression) for target, expression in pairs]
        listed = list(givens.items()) if isinstance(givens, dict) else list(givens or [])
        name, backend, opt_level, downcast, unused, frozen = self._options
        return CompiledFunction(
            inputs, outputs, name, backend, opt_level, downcast, [] if delete_updates else moved,
            listed + list(swap.items()), unused, True if delete_updates else frozen,
        )  # fmt: skip

    def _convert(self, args: Sequence[Any]) -> list[np.ndarray]:
        params = self.function.params
        if len(args) != len(params):
            names = ", ".join(_label(p) for p in params)
            raise TypeError(
                f"this function takes {len(params)} arguments ({names}), got {len(args)}"
            )
        return [self._convert_one(a, p) for a, p in zip(args, params, strict=True)]

    def _convert_one(self, x: Any, p: Value) -> np.ndarray:
        array = x if isinstance(x, np.ndarray) else np.asarray(x)
        if array.ndim != p.ndim:
            raise TypeError(
                f"wrong number of dimensions for input {_label(p)!r}: expected {p.ndim} "
                f"(shape {format_shape(p.shape)}), got {array.ndim} with shape "
                f"{format_shape(array.shape)}"
            )
        target = p.dtype.numpy
        if array.dtype == target:
            return array
        if array.dtype == object or array.dtype.kind not in "biuf":
            raise DTypeError(f"input {_label(p)!r}: cannot convert {array.dtype} to {target}")
        converted = array.astype(target)
        if array.dtype.kind in "iu" and not np.can_cast(array.dtype, target):
            if not np.array_equal(converted, array):  # numpy compares mixed ints exactly
                raise OverflowError(
                    f"input {_label(p)!r} has dtype {target}, and the {array.dtype} values "
                    "given are out of its range"
                )
        lossy = array.dtype.kind == "f" and target.kind in "iub"
        if lossy and not self.allow_input_downcast and not np.array_equal(converted, array):
            raise TypeError(
                f"input {_label(p)!r} has dtype {target} and cannot store the {array.dtype} "
                "values given without losing precision; cast them, or pass "
                "allow_input_downcast=True to tracegrad.function"
            )
        narrower = array.dtype.kind == "f" == target.kind and array.itemsize > target.itemsize
        python_value = not isinstance(x, (np.ndarray, np.generic))  # Theano's default allows
        if narrower and self.allow_input_downcast is not True:
            if self.allow_input_downcast is False or not python_value:
                raise TypeError(
                    f"input {_label(p)!r} has dtype {target}; a {array.dtype} array is not "
                    "downcast silently: cast it (x.astype(np.float32)), or pass "
                    "allow_input_downcast=True to tracegrad.function"
                )
        return converted

    def __reduce__(self) -> tuple[Any, ...]:
        """Pickle the graph as IR text (Values are interned, so they do not pickle), plus
        the options; the other side parses it and compiles (or loads from the disk cache).

        >>> import pickle, tracegrad, tracegrad.tensor as T
        >>> x = T.dvector('x')
        >>> f = pickle.loads(pickle.dumps(tracegrad.function([x], T.sum(x ** 2))))
        >>> f([1.0, 2.0])
        array(5.)
        """
        import pickle

        from tracegrad.ir.printer import print_function

        if self.shared or self.updated or len(self.specs) != len(self.function.params):
            raise pickle.PicklingError(
                "a tracegrad.function over shared variables or random streams cannot be "
                "pickled yet; pickle their values and build the function again on the other side"
            )
        options = (self.backend.name, self.opt_level, self.allow_input_downcast)
        text = print_function(self.function)
        return (_restore_function, (token_of(self), text, self.single, *options))

    def __repr__(self) -> str:
        names = ", ".join(_label(p) for p in self.function.params)
        return f"<tracegrad.function {self.function.name}({names})>"


def _call_draws(f: CompiledFunction, draws: list, no_default_updates: Any) -> CallDraws | None:
    """How ``f`` fills its random draws, the last inputs (None without any)."""
    if not draws:
        return None
    first = len(f.inputs) - len(draws)
    shapes = [p.shape for p in f.function.params[first:]]
    return CallDraws([d for _, d in draws], shapes, f._binding.where, first, no_default_updates)


def _restore_function(token: str, text: str, single: bool, *options: Any) -> CompiledFunction:
    """Unpickle a CompiledFunction: its params become the symbolic inputs again."""
    from tracegrad.ir.parser import parse_function

    def build() -> CompiledFunction:
        ir = parse_function(text)
        outputs = ir.outputs[0] if single else list(ir.outputs)
        return CompiledFunction([symbolic(p) for p in ir.params], outputs, ir.name, *options)

    return restore_once(token, build)  # type: ignore[no-any-return]


def function(
    inputs: Sequence[Any],
    outputs: Any = None,
    name: str = "f",
    backend: str | None = None,
    opt_level: int = 2,
    allow_input_downcast: bool | None = None,
    *,
    updates: Any = None,
    givens: Any = None,
    on_unused_input: str = "ignore",
    no_default_updates: Any = False,
    mode: Mode | str | None = None,
) -> CompiledFunction:
    """Compile symbolic ``outputs`` (one expression, or a list) as a function of ``inputs``.

    A single output returns a numpy array (0-d for scalars); a list returns a list.
    ``updates``, ``givens``, ``In`` inputs, ``allow_input_downcast`` (``None``: Python
    floats may be downcast to a float32 input, arrays may not) and ``on_unused_input``
    (``"raise"``, ``"warn"`` or ``"ignore"``) are Theano's; so is ``no_default_updates``
    (True, or a list of random variables: their generators do not advance after a call, see
    ``tracegrad.tensor.shared_randomstreams``). ``mode`` (a ``Mode`` or a name such as
    ``'FAST_RUN'``) is accepted and does not change anything. ``on_unused_input`` defaults to
    ``"ignore"``, not Theano's ``"raise"``: tracegrad's derivatives are simplified before the
    check, so an input Theano's graph still mentions may be gone here (the tutorial's
    ``function([W, V, x], T.Rop(T.dot(x, W), W, V))`` does not use ``W``).

    >>> import tracegrad.tensor as T
    >>> import tracegrad
    >>> x = T.dscalar('x')
    >>> tracegrad.function([x], x * 3)(2)
    array(6.)
    """
    if mode is not None and not isinstance(mode, Mode | str):
        raise TypeError(f"mode must be a tracegrad.Mode or a mode name, got {mode!r}")
    return CompiledFunction(
        inputs, outputs, name, backend, opt_level, allow_input_downcast, updates, givens,
        on_unused_input, no_default_updates,
    )  # fmt: skip


__all__ = ["CompiledFunction", "MissingInputError", "Mode", "UnusedInputError", "function"]

use_compiler(function)  # Expression.eval compiles with it
