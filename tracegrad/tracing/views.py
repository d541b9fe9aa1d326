"""Views: numpy answers basic indexing, ``.T``, ``reshape``, ``squeeze``, ``split`` and friends
with arrays that share the base's memory, so a write through either is seen by the other
(``v = x[1:]; v[0] = 100`` changes ``x``). Traced arrays are immutable Values, so the sharing is
replayed: the Tracers of one family (a *root* and its views) are linked, and an in-place
update of one (``Tracer.rebind``) rebinds the root and every other live view.

Which results are views, and which elements of the root they are, numpy itself decides: each
family carries a *position grid*, ``np.arange(root.size).reshape(root.shape)``, and the
operation that made a view is applied to the grids too. If numpy's answer shares memory with
the root's grid, the result is a view and its grid holds the root positions it aliases (a
copy, e.g. fancy indexing or a reshape that cannot be a view, is a new root). A write through
a view scatters its new values into the root at those positions; the other views are then
gathered again. Read-only views (``broadcast_to``, ``diagonal``) refuse writes as numpy does.
Views whose positions cannot be known (indexing by a traced integer) are *opaque*: a write
through one, or to its root while it lives, raises ``UnsupportedError`` naming the line.

The grids assume the root is C-contiguous, as arguments and new arrays are; numpy lays out an
elementwise result of transposed operands in Fortran order, so ``np.exp(x.T).reshape(-1)`` is
a copy in numpy and a view here (a write through it is visible in the root here only).

>>> import numpy as np, tracegrad
>>> def f(x):
...     x = x * 1.0  # (writing into an argument itself would warn)
...     v = x[1:]
...     v[0] = 100.0
...     return x
>>> tracegrad.jit(f)(np.zeros(3)).tolist()
[0.0, 100.0, 0.0]
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import numpy as np

from tracegrad.ir.errors import UnsupportedError
from tracegrad.ir.ops import Op
from tracegrad.tracing.concrete import note
from tracegrad.tracing.location import user_line_text, user_location

__all__ = ["VIEW_FUNCTIONS", "Alias", "is_basic", "link", "link_index", "write"]

# numpy functions that may return views of their first argument (numpy decides, on the grids)
VIEW_FUNCTIONS = frozenset(
    getattr(np, name)
    for name in (
        "transpose", "swapaxes", "moveaxis", "rollaxis", "squeeze", "expand_dims", "reshape",
        "ravel", "atleast_1d", "atleast_2d", "atleast_3d", "split", "array_split", "hsplit",
        "vsplit", "dsplit", "diagonal", "broadcast_to", "flip", "fliplr", "flipud", "rot90",
        "matrix_transpose", "permute_dims",
    )
    if hasattr(np, name)
)  # fmt: skip


class Alias:
    """A Tracer's place in a view family. The root's holds the family's live views (oldest
    first). A view's holds the root and how it aliases it: its parent and the index it was
    taken with (``parent[index]``, written back as ``parent[index] = view``), or else the
    root positions it aliases (``grid``). The root's grid, and a view's when it is needed,
    are made on first need; a view by a traced index has none (``needs`` are the traced
    index Values)."""

    __slots__ = ("root", "grid", "views", "where", "parent", "index", "needs", "readonly")

    def __init__(self, root: Any, where: str | None = None) -> None:
        self.root = root  # None for the root itself
        self.grid: np.ndarray | None = None
        self.views: list[weakref.ref] = []  # the root's: every view of the family
        self.where = where  # the user's file:line that made this view
        self.parent: Any = None
        self.index: Any = None
        self.needs: tuple = ()
        self.readonly = False


def _family(tracer: Any) -> Any:
    """``tracer``'s family root (made one), None outside traced code."""
    if tracer.alias is not None:
        return tracer if tracer.alias.root is None else tracer.alias.root
    if tracer.trace is None or not all(isinstance(d, int) for d in tracer.shape):
        return None  # symbolic graphs (tracegrad.tensor) are functional: no views
    tracer.alias = Alias(None)
    return tracer


def _grid(tracer: Any) -> np.ndarray | None:
    """The root positions ``tracer`` (in a family) aliases; None when unknown while tracing."""
    alias = tracer.alias
    if alias.grid is None:
        if alias.root is None:
            alias.grid = np.arange(tracer.size).reshape(tracer.shape)
        elif alias.parent is not None and not alias.needs:
            parent = _grid(alias.parent)
            alias.grid = None if parent is None else parent[alias.index]
    return alias.grid


def link(source: Any, result: Any, apply: Callable[[np.ndarray], Any]) -> None:
    """``result`` (a Tracer or a list/tuple of them) was made from the Tracer ``source`` by
    an operation numpy may answer with views; ``apply`` is that operation on a numpy array."""
    root = _family(source)
    if root is None:
        return
    results = result if isinstance(result, (list, tuple)) else [result]
    grid = _grid(source)
    if grid is None:  # a view (by a traced index) of it may be one too: writes raise
        for tracer in results:
            if hasattr(tracer, "alias") and tracer.ndim:
                _attach(root, source, tracer).needs = source.alias.needs
        return
    try:
        grids = apply(grid)
    except Exception:  # noqa: BLE001 -- what numpy refuses, the traced operation refused too
        return
    grids = grids if isinstance(result, (list, tuple)) else [grids]
    for tracer, view_grid in zip(results, grids, strict=False):
        is_view = isinstance(view_grid, np.ndarray) and np.may_share_memory(view_grid, grid)
        if is_view and hasattr(tracer, "alias") and tracer is not root:
            alias = _attach(root, source, tracer)
            alias.grid = view_grid
            alias.readonly = alias.readonly or not view_grid.flags.writeable


def link_index(source: Any, result: Any, index: Any, traced: tuple) -> None:
    """``result = source[index]``, a view in numpy (a basic index, or a row ``x[i]`` by the
    traced integers ``traced``); a write through it is ``source[index] = result``."""
    root = _family(source)
    if root is not None:
        alias = _attach(root, source, result)
        alias.parent, alias.index = source, index
        alias.needs = traced + source.alias.needs


def _attach(root: Any, source: Any, view: Any) -> Alias:
    views = root.alias.views
    if len(views) >= 32:  # drop the dead (temporaries) now and then
        views[:] = [r for r in views if r() is not None]
    view.alias = Alias(root, user_location())
    view.alias.readonly = source.alias.readonly
    views.append(weakref.ref(view))
    return view.alias  # type: ignore[no-any-return]


def write(tracer: Any, result: Any, tnp: Any, warn_argument: Callable[[], None]) -> None:
    """The in-place update ``tracer := result`` of a Tracer in a view family: rebind the root
    and every live view as numpy's shared memory would."""
    root = _family(tracer)
    if tracer.alias.readonly:
        raise ValueError("assignment destination is read-only")  # numpy's message
    path = [tracer]  # the written Tracer and the ancestors it is written into
    while path[-1] is not root and path[-1].alias.parent is not None:
        path.append(path[-1].alias.parent)
    if path[-1] is not root and _grid(path[-1]) is None:
        raise _opaque_error(path[-1].alias, "a write through")
    on_path = {id(t) for t in path}
    live = [v for v in (r() for r in root.alias.views) if v is not None and id(v) not in on_path]
    for view in live:
        if view.alias.parent is None and _grid(view) is None:
            raise _opaque_error(view.alias, "a write to the array behind")
    if root.value.op is Op.PARAM:
        warn_argument()
    tracer.value = result.value
    for child, parent in zip(path, path[1:], strict=False):  # x[i] = row, up the chain
        parent.value = tnp.setitem(parent, child.alias.index, child).value
    top = path[-1]
    if top is not root:  # scatter the view's new values into the root
        flat = tnp.reshape(root, (-1,))
        flat = tnp.setitem(flat, _grid(top).reshape(-1), tnp.reshape(top, (-1,)))  # type: ignore[union-attr]
        root.value = tnp.reshape(flat, root.shape).value
    flat = None
    for view in live:  # and read the others again, oldest (parents) first
        alias = view.alias
        if alias.parent is not None:
            view.value = tnp.getitem(alias.parent, alias.index).value
        else:
            flat = tnp.reshape(root, (-1,)) if flat is None else flat
            view.value = tnp.getitem(flat, alias.grid).value


def _opaque_error(alias: Alias, what: str) -> UnsupportedError:
    """The error; first the index Values are noted as needed concretely, so that jit and grad
    specialize on a Python int argument they come from (tracegrad.specialize) and trace
    again with exact positions."""
    made = user_line_text(alias.where)
    for value in alias.needs:
        note(value, made)
    return UnsupportedError(
        f"{what} a view whose positions are unknown while tracing (made at {made}, "
        f"indexing by a traced integer and then reshaping or transposing), at "
        f"{user_line_text(user_location())}: numpy would share memory between them. Write "
        "to the array itself (x[i, j] = v), make the index static (static_argnums), or take a "
        "copy (x[i].copy())"
    )


_BASIC = (int, slice, type(None), type(Ellipsis), np.integer)


def is_basic(parts: tuple) -> bool:
    """Whether an index (its parts) is basic: integers, slices, None, Ellipsis, where traced
    integer scalars count as integers (numpy's own, np.int64, do); no arrays or masks."""
    return all(
        isinstance(p, _BASIC)
        and not isinstance(p, bool)
        or (hasattr(p, "trace") and p.ndim == 0 and p.dtype.kind in "iu")
        for p in parts
    )
