"""The derivative API, named as in JAX: grad, value_and_grad, vjp, jvp, jacobian, hessian,
stop_gradient. Everything is reverse mode over the IR (``tracegrad.autodiff.reverse``); jvp is
the transpose of the (linear) VJP. All of them compose with each other and with ``jit``.

>>> import numpy as np, tracegrad
>>> float(tracegrad.grad(lambda x: np.sum(x ** 2))(3.0))
6.0
>>> tracegrad.grad(lambda x, y: x * y, argnums=(0, 1))(2.0, 5.0)
(array(5.), array(2.))
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad import tree
from tracegrad._pickling import portable, restore_once, token_of, unwrap
from tracegrad.autodiff._core import (
    arg_leaf_ranges,
    cached_call,
    derivative,
    execute,
    fresh_params,
    make_function,
    require_float_args,
    trace_forward,
)
from tracegrad.autodiff.reverse import backward, backward_sparse, stop_gradient_value
from tracegrad.ir import build as b
from tracegrad.ir import build_shape as bs
from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.types import format_shape
from tracegrad.ir.value import Value, const
from tracegrad.jit import Jitted
from tracegrad.specialize import RecompileLog
from tracegrad.staging import Specialization, cache_of
from tracegrad.tracing.context import current_trace
from tracegrad.tracing.trace import Traced, abstract_type, call, is_leaf
from tracegrad.tracing.tracer import Tracer

Argnums = int | Sequence[int]


def _argnums(argnums: Argnums) -> tuple[int, ...]:
    nums = (argnums,) if isinstance(argnums, int) else tuple(argnums)
    if not nums or not all(isinstance(i, int) and i >= 0 for i in nums):
        raise TypeError(f"argnums must be a non-negative int or a tuple of them, got {argnums!r}")
    return nums


def _main_tree(traced: Traced, has_aux: bool, what: str) -> tree.TreeDef:
    """The output structure that is differentiated (the first of the pair with has_aux)."""
    if not has_aux:
        return traced.out_tree
    if traced.out_tree.kind not in ("tuple", "list") or len(traced.out_tree.children) != 2:
        raise TypeError(f"{what} with has_aux=True requires f to return a pair (output, aux)")
    return traced.out_tree.children[0]


def _split_args(argnums: Argnums, nums: tuple[int, ...], in_tree: tree.TreeDef, flat: list) -> Any:
    """Flat per-leaf results for the differentiated args -> one pytree per arg (a tuple when
    ``argnums`` is a tuple)."""
    arg_trees = in_tree.children[0].children
    parts, start = [], 0
    for i in nums:
        count = arg_trees[i].num_leaves
        parts.append(tree.unflatten(arg_trees[i], flat[start : start + count]))
        start += count
    return parts[0] if isinstance(argnums, int) else tuple(parts)


def _wrt(traced: Traced, nums: tuple[int, ...]) -> list[Value]:
    ranges = arg_leaf_ranges(traced.in_tree)
    return [traced.function.params[j] for i in nums for j in ranges[i]]


# ---- grad and value_and_grad ----------------------------------------------------------------


def _build_grad(traced: Traced, leaves: list, argnums: Argnums, has_aux: bool) -> Specialization:
    fn = traced.function
    nums = _argnums(argnums)
    require_float_args(traced, nums, "grad")
    main = _main_tree(traced, has_aux, "grad")
    out = fn.outputs[0]
    # a scalar, or one element in any shape ((1,), (1, 1)): autograd accepts those too
    one_element = all(d == 1 for d in out.shape)
    if main.kind != "leaf" or not one_element:
        shape = format_shape(out.shape) if main.kind == "leaf" else f"a {main.kind}"
        raise TypeError(
            f"grad requires f to return a scalar (shape (), or one element), but {fn.name} "
            f"returned shape {shape}; use jacobian or vjp for non-scalar outputs"
        )
    if not out.dtype.is_float:
        raise TypeError(f"grad requires a float output, but {fn.name} returned {out.dtype.value}")
    wrt = _wrt(traced, nums)
    grads = backward([out], [b.full(out.shape, 1, out.dtype)], wrt)
    ranges = arg_leaf_ranges(traced.in_tree)
    weak = tuple(abstract_type(leaves[j])[1] for i in nums for j in ranges[i])
    d_fn = make_function(f"grad_{fn.name}", fn.params, fn.outputs + tuple(grads))
    d_traced = Traced(d_fn, traced.in_tree, traced.out_tree, traced.out_weak + weak, traced.closure)
    n = len(fn.outputs)

    def finish(outs: list) -> Any:
        value = tree.unflatten(traced.out_tree, outs[:n])
        return value, _split_args(argnums, nums, traced.in_tree, outs[n:])

    return derivative(d_traced, finish)


def value_and_grad(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Any:
    """``f`` and its gradient with respect to the ``argnums`` arguments, in one evaluation.

    Returns ``(value, grads)`` or, with ``has_aux``, ``((value, aux), grads)``.

    >>> import numpy as np, tracegrad
    >>> value, g = tracegrad.value_and_grad(lambda x: np.sum(np.sin(x)))(np.zeros(2))
    >>> float(value), g.tolist()
    (0.0, [1.0, 1.0])
    """
    _argnums(argnums)
    return _Transformed(f, "value_and_grad", argnums, has_aux)


def grad(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Any:
    """The gradient of a scalar-valued ``f`` with respect to argument(s) ``argnums``.

    The output must be a float scalar (else TypeError showing its shape) and the differentiated
    arguments floats (integers raise TypeError, as in JAX). Arguments may be pytrees; the
    gradient has the same structure. With ``has_aux``, ``f`` returns ``(out, aux)`` and the
    result is ``(grads, aux)``.

    >>> import numpy as np, tracegrad
    >>> tracegrad.grad(lambda w: np.sum(w["a"] * 3.0))({"a": np.ones(2)})["a"].tolist()
    [3.0, 3.0]
    """
    _argnums(argnums)
    return _Transformed(f, "grad", argnums, has_aux)


class _Transformed:
    """``f`` under grad, value_and_grad or jacobian. A class rather than a closure so that
    it pickles (by ``f`` and the options, see tracegrad._pickling), for process pools and Dask.

    A call goes through a ``Jitted`` of the derivative: the same specialization cache, call
    path and native entry as ``jit(grad(f))`` (tracegrad.staging), so calling ``grad(f)``
    again with arrays of the same dtypes and shapes costs what a jitted call costs.

    >>> import pickle, numpy as np, tracegrad
    >>> g = pickle.loads(pickle.dumps(tracegrad.value_and_grad(np.sin)))
    >>> [float(v) for v in g(0.0)]
    [0.0, 1.0]
    """

    # the options live in slots: functools.update_wrapper (jit of a grad) copies __dict__
    __slots__ = ("_f", "_transform", "_argnums", "_has_aux", "_jitted", "__dict__", "__weakref__")

    def __init__(
        self, f: Callable[..., Any], transform: str, argnums: Argnums, has_aux: bool
    ) -> None:
        functools.update_wrapper(self, f)
        self._f, self._transform = f, transform
        self._argnums, self._has_aux = argnums, has_aux
        # one per (f, transform, options), kept in f's cache: a new grad(f) of the same f
        # (autograd style, ``grad(loss)(params)`` in a loop) finds the same compiled code
        key = ("transformed", transform, _hashable(argnums), has_aux)
        self._jitted = cache_of(f).companion(
            key, lambda: _derivative_jitted(f, transform, argnums, has_aux)
        )

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        return self._jitted(*args, **kwargs)

    @property
    def trace_count(self) -> int:
        """How many times the derivative was traced (see ``Jitted.trace_count``)."""
        return self._jitted.trace_count

    @property
    def recompile_log(self) -> RecompileLog:
        """The traces made for values of Python int arguments of ``f`` (shared by every
        transform of ``f``; see tracegrad.specialize)."""
        return self._jitted.recompile_log

    def __reduce__(self) -> tuple[Any, ...]:
        definition = (portable(self._f), self._transform, self._argnums, self._has_aux)
        return (_restore_transformed, (token_of(self), *definition))


def _hashable(argnums: Argnums) -> Any:
    return argnums if isinstance(argnums, int) else tuple(argnums)


def _derivative_jitted(
    f: Callable[..., Any], transform: str, argnums: Argnums, has_aux: bool
) -> Jitted:
    """The Jitted that runs ``f`` under ``transform``: traced once per signature, it builds
    the derivative without keeping it (the Jitted caches the result), with the ints it made
    static."""
    nums = _argnums(argnums)
    target = _weak_or_strong(f)  # f's cache holds this Jitted: never keep f alive from it

    def derivative_of_f(*args: Any, **kwargs: Any) -> Any:
        f = target()  # alive: the grad object being called holds it
        options = {"fixed": nums, "also_auto": jitted.auto_static, "store": False}
        if transform == "jacobian":

            def build(traced: Traced, leaves: list) -> Specialization:
                return _build_jacobian(traced, argnums, nums, has_aux)

            kind = ("jacobian", argnums, has_aux)
            return cached_call(f, kind, args, kwargs, build, **options)
        kind = ("value_and_grad", argnums, has_aux)
        build_grad = lambda t, leaves: _build_grad(t, leaves, argnums, has_aux)  # noqa: E731
        value, grads = cached_call(f, kind, args, kwargs, build_grad, **options)
        if transform == "value_and_grad":
            return value, grads
        return (grads, value[1]) if has_aux else grads

    # not __module__: a wrapper of np.sum must not pass for numpy's own (tracing.numpy_entry)
    for name in ("__name__", "__qualname__", "__doc__"):
        with contextlib.suppress(AttributeError, TypeError):
            setattr(derivative_of_f, name, getattr(f, name))
    with contextlib.suppress(TypeError, ValueError):  # the recompile log names f's parameters
        derivative_of_f.__signature__ = inspect.signature(f)  # type: ignore[attr-defined]
    jitted = Jitted(derivative_of_f, traced_argnums=nums)
    return jitted


def _weak_or_strong(f: Any) -> Callable[[], Any]:
    try:
        return weakref.ref(f)
    except TypeError:  # not weakly referenceable: then no cache is shared either
        return lambda: f


def _restore_transformed(token: str, f: Any, *options: Any) -> _Transformed:
    return restore_once(token, lambda: _Transformed(unwrap(f), *options))  # type: ignore[no-any-return]


# ---- vjp and jvp ------------------------------------------------------------------------------


def vjp(f: Callable[..., Any], *primals: Any, has_aux: bool = False) -> Any:
    """``(f(*primals), vjp_fn)``; ``vjp_fn(ct)`` returns a tuple with one cotangent per primal
    (integer primals get integer zeros). With ``has_aux``: ``(out, vjp_fn, aux)``. ``vjp_fn``
    recomputes the forward pass inside its compiled function (no stored residuals).

    >>> import numpy as np, tracegrad
    >>> out, f_vjp = tracegrad.vjp(lambda x: x * 2.0, np.ones(2))
    >>> f_vjp(np.array([1.0, 10.0]))[0].tolist()
    [2.0, 20.0]
    """
    traced = trace_forward(f, primals, {})
    if any(getattr(c, "fresh", False) for c in traced.closure):
        raise UnsupportedError(
            f"vjp of {traced.function.name}, which draws random numbers: vjp_fn runs the "
            "forward pass again and would draw new ones. Use grad or value_and_grad, or "
            "draw outside and pass the values in."
        )
    fn = traced.function
    leaves, _ = tree.flatten((tuple(primals), {}), is_leaf=is_leaf)
    outs = call(traced, leaves, execute)
    main = _main_tree(traced, has_aux, "vjp")
    n_main = main.num_leaves
    result = tree.unflatten(traced.out_tree, outs)
    back = _build_vjp(traced, leaves, n_main)

    def vjp_fn(ct: Any) -> tuple:
        ct_leaves, ct_tree = tree.flatten(ct, is_leaf=is_leaf)
        if ct_tree != main:
            raise TypeError("vjp_fn: the cotangent must have the structure of f's output")
        main_outs = fn.outputs[:n_main]
        for c, o in zip(ct_leaves, main_outs, strict=True):
            if tuple(c.shape if isinstance(c, Tracer) else np.shape(c)) != o.shape:
                raise ValueError(f"vjp_fn: cotangent of shape {np.shape(c)} for output {o.type}")
        floats = [c for c, o in zip(ct_leaves, main_outs, strict=True) if o.dtype.is_float]
        flat = call(back, list(leaves) + floats, execute)
        return tuple(_split_args(tuple(range(len(primals))), tuple(range(len(primals))),
                                 traced.in_tree, flat))  # fmt: skip

    back_fn = _VJPFunction(vjp_fn, f, primals, has_aux)
    return (result[0], back_fn, result[1]) if has_aux else (result, back_fn)


class _VJPFunction:
    """The ``vjp_fn`` of ``vjp``; it pickles as ``f`` and the primals (when those are
    arrays, not values traced by jit or grad), and the other side calls ``vjp`` again."""

    __slots__ = ("_run", "_f", "_primals", "_has_aux", "__weakref__")

    def __init__(self, run: Callable[[Any], tuple], f: Any, primals: tuple, has_aux: bool) -> None:
        self._run, self._f, self._primals, self._has_aux = run, f, primals, has_aux

    def __call__(self, ct: Any) -> tuple:
        return self._run(ct)

    def __reduce__(self) -> tuple[Any, ...]:
        leaves, _ = tree.flatten(self._primals, is_leaf=is_leaf)
        if any(isinstance(x, Tracer) for x in leaves):
            raise TypeError("cannot pickle a vjp function made inside jit or grad")
        definition = (portable(self._f), self._primals, self._has_aux)
        return (_restore_vjp_function, (token_of(self), *definition))


def _restore_vjp_function(token: str, f: Any, primals: tuple, has_aux: bool) -> _VJPFunction:
    def build() -> _VJPFunction:
        return vjp(unwrap(f), *primals, has_aux=has_aux)[1]

    return restore_once(token, build)  # type: ignore[no-any-return]


def _build_vjp(traced: Traced, leaves: list, n_main: int) -> Traced:
    fn = traced.function
    n = len(leaves)
    outs = [o for o in fn.outputs[:n_main] if o.dtype.is_float]
    cts = fresh_params([o.type for o in outs], "ct")
    found = backward_sparse(outs, cts, fn.params[:n])
    grads = [b.zeros_like(p) if g is None else g for p, g in zip(fn.params[:n], found, strict=True)]
    params = list(fn.params[:n]) + cts + list(fn.params[n:])
    back = make_function(f"vjp_{fn.name}", params, grads)
    weak = tuple(abstract_type(x)[1] for x in leaves)
    return Traced(back, traced.in_tree, traced.in_tree, weak, traced.closure)


def jvp(f: Callable[..., Any], primals: Sequence[Any], tangents: Sequence[Any]) -> Any:
    """Forward mode: ``(f(*primals), J @ tangents)``. Derived by transposition: the VJP is
    linear in its cotangent ``u``, so differentiating ``u -> J^T u`` (reverse mode again) with
    cotangent ``t`` gives ``J t``; no separate JVP rules exist.

    >>> import numpy as np, tracegrad
    >>> out, t = tracegrad.jvp(lambda x: np.sin(x), (0.0,), (2.0,))
    >>> float(out), float(t)
    (0.0, 2.0)
    """
    primals, tangents = tuple(primals), tuple(tangents)
    p_leaves, p_tree = tree.flatten(primals, is_leaf=is_leaf)
    t_leaves, t_tree = tree.flatten(tangents, is_leaf=is_leaf)
    if p_tree != t_tree:
        raise TypeError("jvp: tangents must have the same structure as primals")
    for p, t in zip(p_leaves, t_leaves, strict=True):
        if np.shape(t if not isinstance(t, Tracer) else np.empty(t.shape)) != np.shape(
            p if not isinstance(p, Tracer) else np.empty(p.shape)
        ):
            raise ValueError(f"jvp: tangent shape {np.shape(t)} differs from primal {np.shape(p)}")
    return cached_call(f, ("jvp",), primals, {}, _build_jvp, extra=t_leaves, fixed=None)


def _build_jvp(traced: Traced, leaves: list) -> Specialization:
    fn = traced.function
    n = len(leaves)
    float_outs = [o for o in fn.outputs if o.dtype.is_float]
    u = fresh_params([o.type for o in float_outs], "u")
    float_leaves = [p for p in fn.params[:n] if p.dtype.is_float]
    transposed = backward_sparse(float_outs, u, float_leaves)  # J^T u, linear in u
    t = fresh_params([p.type for p in fn.params[:n]], "t")
    t_of = {id(p): tp for p, tp in zip(fn.params[:n], t, strict=True)}
    pairs = [
        (x, t_of[id(p)]) for x, p in zip(transposed, float_leaves, strict=True) if x is not None
    ]
    jt = backward_sparse([x for x, _ in pairs], [tp for _, tp in pairs], u)  # (J^T)^T t = J t
    by_out = dict(zip((id(o) for o in float_outs), jt, strict=True))
    tangent_outs = [by_out.get(id(o)) for o in fn.outputs]
    tangent_outs = [
        b.zeros_like(o) if t_ is None else t_
        for o, t_ in zip(fn.outputs, tangent_outs, strict=True)
    ]
    params = list(fn.params[:n]) + t + list(fn.params[n:])
    j_fn = make_function(f"jvp_{fn.name}", params, list(fn.outputs) + tangent_outs, zeroed=u)
    weak = traced.out_weak + traced.out_weak
    m = len(fn.outputs)

    def finish(outs: list) -> Any:
        return tree.unflatten(traced.out_tree, outs[:m]), tree.unflatten(traced.out_tree, outs[m:])

    return derivative(Traced(j_fn, traced.in_tree, traced.out_tree, weak, traced.closure), finish)


# ---- jacobian, hessian, stop_gradient --------------------------------------------------------


def jacobian(f: Callable[..., Any], argnums: Argnums = 0, has_aux: bool = False) -> Any:
    """Reverse-mode Jacobian: for an output of shape S and an argument of shape A, an array of
    shape S + A. All rows are built into one derivative Function (one compile, one call; one
    VJP per output element with a one-hot cotangent, sharing the forward pass). Pytree
    outputs and arguments nest as in ``jax.jacrev``.

    >>> import numpy as np, tracegrad
    >>> tracegrad.jacobian(lambda x: x ** 2)(np.array([1.0, 2.0])).tolist()
    [[2.0, 0.0], [0.0, 4.0]]
    """
    _argnums(argnums)
    return _Transformed(f, "jacobian", argnums, has_aux)


def _build_jacobian(traced: Traced, argnums: Argnums, nums: tuple, has_aux: bool) -> Specialization:
    fn = traced.function
    require_float_args(traced, nums, "jacobian")
    main = _main_tree(traced, has_aux, "jacobian")
    n_main = main.num_leaves
    wrt = _wrt(traced, nums)
    blocks = [_jacobian_blocks(o, wrt) for o in fn.outputs[:n_main]]
    flat = [blk for row in blocks for blk in row]
    j_fn = make_function(f"jacobian_{fn.name}", fn.params, flat + list(fn.outputs[n_main:]))
    weak = (False,) * len(flat) + traced.out_weak[n_main:]
    per_out = len(wrt)

    def finish(outs: list) -> Any:
        jac_leaves = [
            _split_args(argnums, nums, traced.in_tree, outs[i * per_out : (i + 1) * per_out])
            for i in range(n_main)
        ]
        jac = tree.unflatten(main, jac_leaves)
        if not has_aux:
            return jac
        return jac, tree.unflatten(traced.out_tree.children[1], outs[len(flat) :])

    return derivative(Traced(j_fn, traced.in_tree, traced.out_tree, weak, traced.closure), finish)


def _jacobian_blocks(out: Value, wrt: list[Value]) -> list[Value]:
    if not out.dtype.is_float:
        raise TypeError(f"jacobian requires float outputs, got {out.dtype.value}")
    if not out.type.is_concrete:
        raise UnsupportedError("jacobian of an output with a symbolic shape")
    size = out.type.size
    rows: list[list[Value | None]] = []
    eye = np.eye(size, dtype=out.dtype.numpy)
    for k in range(size):
        rows.append(backward_sparse([out], [const(eye[k].reshape(out.shape))], wrt))
    blocks = []
    for j, w in enumerate(wrt):
        column = [b.zeros_like(w) if r[j] is None else r[j] for r in rows]
        stacked = bs.stack(column, 0) if column else b.full((0,) + w.shape, 0, w.dtype)
        blocks.append(bs.reshape(stacked, out.shape + w.shape))
    return blocks


def hessian(f: Callable[..., Any], argnums: Argnums = 0) -> Any:
    """The matrix of second derivatives: ``jacobian(jacobian(f))``, so a scalar ``f`` of an
    argument of shape A gives shape A + A.

    >>> import numpy as np, tracegrad
    >>> tracegrad.hessian(lambda x: np.sum(x ** 3))(np.array([1.0, 2.0])).tolist()
    [[6.0, 0.0], [0.0, 12.0]]
    """
    return jacobian(jacobian(f, argnums), argnums)


def stop_gradient(x: Any) -> Any:
    """The identity, except that no derivative flows through it (any pytree of arrays).

    >>> import numpy as np, tracegrad
    >>> float(tracegrad.grad(lambda x: x * tracegrad.stop_gradient(x))(3.0))
    3.0
    """

    def one(leaf: Any) -> Any:
        if isinstance(leaf, Tracer) and leaf.value.dtype.is_float:
            trace_ = current_trace()
            return Tracer(stop_gradient_value(leaf.value_in(trace_)), trace_, leaf.weak)  # type: ignore[arg-type]
        return leaf

    leaves, treedef = tree.flatten(x, is_leaf=is_leaf)
    return tree.unflatten(treedef, [one(leaf) for leaf in leaves])
