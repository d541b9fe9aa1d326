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
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from types import SimpleNamespace
from typing import Any

import numpy as np

from tracegrad._pickling import restore_once, token_of
from tracegrad.backend import Executable, get_backend
from tracegrad.ir import forksafe
from tracegrad.ir.dim_classes import canonical_dims
from tracegrad.ir.errors import DTypeError, TracegradError, UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.ir.types import Dim, format_shape
from tracegrad.ir.value import Function, Value, param, topological_order
from tracegrad.jit import optimize
from tracegrad.tensor._dims import DimBinding
from tracegrad.tensor._graph import substitute
from tracegrad.tensor.variables import symbolic, value_of
from tracegrad.tracing.tracer import Tracer


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


def _build_ir(inputs: list[Value], outputs: list[Value], name: str) -> tuple[Function, DimBinding]:
    """A verifiable Function: params 0..n-1 (names kept), dims merged as the graph requires."""
    rename = canonical_dims(inputs, outputs)
    params = [
        param(i, p.type.with_shape(tuple(rename(d) for d in p.shape)), _label(p), 0)
        for i, p in enumerate(inputs)
    ]
    rebuilt = substitute(outputs, {id(p): q for p, q in zip(inputs, params, strict=True)}, rename)
    function = Function(name, tuple(params), tuple(rebuilt))
    binding = DimBinding(params)
    binding.check_closed(function)
    return function, binding


class CompiledFunction:
    """A compiled symbolic function; call it with arrays, lists or Python scalars."""

    def __init__(
        self,
        inputs: Sequence[Any],
        outputs: Any,
        name: str = "f",
        backend: str | None = None,
        opt_level: int = 2,
        allow_input_downcast: bool = False,
    ) -> None:
        self.single = not isinstance(outputs, (list, tuple))
        out_items = [outputs] if self.single else list(outputs)
        self.inputs = [_input_value(x, i) for i, x in enumerate(inputs)]
        self.outputs = [value_of(o, "output") for o in out_items]
        _check_inputs(self.inputs, self.outputs)
        self.allow_input_downcast = allow_input_downcast
        self.backend = get_backend(backend)
        self.opt_level = opt_level
        self.function, self._binding = _build_ir(self.inputs, self.outputs, name)
        self.optimized_function = optimize(self.function, opt_level)
        self.compile_count = 0
        self._kinds = [(p.dtype.numpy, p.ndim) for p in self.function.params]
        self._lock = forksafe.reset_in_child(threading.Lock())
        self._executable: Executable | None = None
        self._per_shape: dict[tuple, Executable] | None = None
        self._compile_symbolic()
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

    def _compile_symbolic(self) -> None:
        try:
            self._executable = self.backend.compile(self.optimized_function)
        except (UnsupportedError, NotImplementedError):
            self._per_shape = {}  # this backend needs concrete shapes: specialize per call
        else:
            self.compile_count += 1

    def _specialized(self, arrays: list[np.ndarray]) -> Executable:
        """The executable for these concrete shapes (backends without symbolic dims)."""
        assert self._per_shape is not None
        key = tuple(a.shape for a in arrays)
        found = self._per_shape.get(key)
        if found is None:
            with self._lock:
                found = self._per_shape.get(key)
                if found is None:
                    found = self.backend.compile(optimize(self._concrete(arrays), self.opt_level))
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

    def __call__(self, *args: Any) -> Any:
        fast = self._executable.hot.symbolic if self._executable is not None else None
        if fast is not None and len(args) == len(self._kinds):
            # arrays already of the right dtype and rank go straight to the kernel; the
            # native call checks the rest and declines (None) anything unusual
            kinds = zip(args, self._kinds, strict=True)
            if all(type(a) is np.ndarray and (a.dtype, a.ndim) == k for a, k in kinds):
                outs = fast(list(args))
                if outs is not None:
                    return outs[0] if self.single else outs
        arrays = self._convert(args)
        self._binding.bind(arrays)
        run = self._executable if self._executable is not None else self._specialized(arrays)
        results = [np.asarray(r) for r in run(arrays)]
        return results[0] if self.single else results

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
        from tracegrad.ir.printer import print_function

        options = (self.backend.name, self.opt_level, self.allow_input_downcast)
        text = print_function(self.function)
        return (_restore_function, (token_of(self), text, self.single, *options))

    def __repr__(self) -> str:
        names = ", ".join(_label(p) for p in self.function.params)
        return f"<tracegrad.function {self.function.name}({names})>"


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
    outputs: Any,
    name: str = "f",
    backend: str | None = None,
    opt_level: int = 2,
    allow_input_downcast: bool = False,
) -> CompiledFunction:
    """Compile symbolic ``outputs`` (one expression, or a list) as a function of ``inputs``.

    A single output returns a numpy array (0-d for scalars); a list returns a list.

    >>> import tracegrad.tensor as T
    >>> import tracegrad
    >>> x = T.dscalar('x')
    >>> tracegrad.function([x], x * 3)(2)
    array(6.)
    """
    return CompiledFunction(inputs, outputs, name, backend, opt_level, allow_input_downcast)


__all__ = ["CompiledFunction", "MissingInputError", "function"]
