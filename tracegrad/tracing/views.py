"""Views: numpy answers basic indexing, ``.T``, ``reshape``, ``squeeze``, ``split`` and friends
with arrays that share the base's memory, so a write through either is seen by the other
(``v = x[1:]; v[0] = 100`` changes ``x``). Traced arrays are immutable Values, so the sharing is
replayed: the Tracers of one family (a *root* and its views) are linked, and an in-place
update of one (``Tracer.rebind``) rebinds the root and every other live view.

Which results are views, and which elements of the root they are, numpy itself decides:
each family carries a *grid*, an uninitialized byte array shaped like the root, and the
operation that made a view is applied to the grids too. If numpy's answer shares memory with
the root's grid, the result is a view and its byte offsets are the root positions it aliases
(a copy, e.g. fancy indexing or a reshape that cannot be a view, is a new root). A write
through a view scatters its new values into the root at those positions; the other live
views are then gathered again. Read-only views (``broadcast_to``, ``diagonal``) refuse writes
as numpy does. A row taken at a traced position (``x[i]``) has no grid: it is written back
as ``x[i] = row``; other views of such a row (``x[i].T``) are *opaque*: a write through one,
or to its root while it lives, raises ``UnsupportedError`` naming the line (after noting the
index as needed, so a Python int ``i`` is specialized on instead, see tracegrad.specialize).

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
    first) and its grid. A view's holds the root and how it aliases it: its grid (a numpy view
    of the root's), or, for indexing by a traced integer, its parent and that index
    (``parent[index]``, written back as ``parent[index] = view``; ``needs`` are the traced
    index Values); neither: opaque (a write raises)."""

    __slots__ = ("root", "grid", "views", "where", "parent", "index", "needs")

    def __init__(self, root: Any, where: str | None = None) -> None:
        self.root = root  # None for the root itself
        self.grid: np.ndarray | None = None
        self.views: list[weakref.ref] = []  # the root's: every view of the family
        self.where = where  # the user's file:line that made this view
        self.parent: Any = None
        self.index: Any = None
        self.needs: tuple = ()


def _family(tracer: Any) -> Any:
    """``tracer``'s family root (made one), None outside traced code."""
    alias = tracer.alias
    if alias is not None:
        return tracer if alias.root is None else alias.root
    if tracer.trace is None or not all(isinstance(d, int) for d in tracer.shape):
        return None  # symbolic graphs (tracegrad.tensor) are functional: no views
    # the grid: one byte per element, never written or read (np.empty costs no page), so
    # a view's byte offsets are its positions in the root (see _positions)
    tracer.alias = Alias(None)
    tracer.alias.grid = np.empty(tracer.shape, np.uint8)
    return tracer


def link(source: Any, result: Any, apply: Callable[[np.ndarray], Any]) -> None:
    """``result`` (a Tracer or a list/tuple of them) was made from the Tracer ``source`` by
    an operation numpy may answer with views; ``apply`` is that operation on a numpy array."""
    root = _family(source)
    if root is None:
        return
    results = result if isinstance(result, (list, tuple)) else [result]
    grid = source.alias.grid
    if grid is None:  # a view of a row at a traced position may be one too: writes raise
        for tracer in results:
            if hasattr(tracer, "alias") and tracer.ndim:
                _attach(root, tracer).needs = source.alias.needs
        return
    try:
        grids = apply(grid)
    except Exception:  # noqa: BLE001 -- what numpy refuses, the traced operation refused too
        return
    grids = grids if isinstance(result, (list, tuple)) else [grids]
    for tracer, view_grid in zip(results, grids, strict=False):
        is_view = isinstance(view_grid, np.ndarray) and np.may_share_memory(view_grid, grid)
        if is_view and hasattr(tracer, "alias") and tracer is not root:
            _attach(root, tracer).grid = view_grid


def link_index(source: Any, result: Any, index: Any, traced: tuple) -> None:
    """``result = source[index]`` for a basic index, a view in numpy; with traced integers
    (the Values ``traced``) in it, a row at an unknown position: written back as
    ``source[index] = result``."""
    root = _family(source)
    if root is None:
        return
    if not traced and source.alias.grid is not None:
        _attach(root, result).grid = source.alias.grid[index]
        return
    alias = _attach(root, result)
    alias.parent, alias.index = source, index
    alias.needs = traced + source.alias.needs


def _attach(root: Any, view: Any) -> Alias:
    views = root.alias.views
    if len(views) >= 32:  # drop the dead (temporaries) now and then
        views[:] = [r for r in views if r() is not None]
    view.alias = Alias(root, user_location())
    views.append(weakref.ref(view))
    return view.alias  # type: ignore[no-any-return]


def _positions(grid: np.ndarray, root_grid: np.ndarray) -> np.ndarray:
    """The flat root positions of the elements of ``grid`` (a view of ``root_grid``, whose
    elements are bytes): its byte offset plus its strides along its axes."""
    start = grid.__array_interface__["data"][0] - root_grid.__array_interface__["data"][0]
    positions = np.full(grid.shape, start, np.int64)
    for axis, (n, stride) in enumerate(zip(grid.shape, grid.strides, strict=True)):
        shape = [1] * grid.ndim
        shape[axis] = n
        positions += (np.arange(n, dtype=np.int64) * stride).reshape(shape)
    return positions


def _readonly(tracer: Any) -> bool:
    while tracer.alias.parent is not None:
        tracer = tracer.alias.parent
    grid = tracer.alias.grid
    return grid is not None and not grid.flags.writeable


def write(tracer: Any, result: Any, tnp: Any, warn_argument: Callable[[], None]) -> None:
    """The in-place update ``tracer := result`` of a Tracer in a view family: rebind the root
    and every live view as numpy's shared memory would."""
    root = _family(tracer)
    if _readonly(tracer):
        raise ValueError("assignment destination is read-only")  # numpy's message
    path = [tracer]  # the written Tracer and the rows (by traced index) it is written into
    while path[-1].alias.parent is not None:
        path.append(path[-1].alias.parent)
    if path[-1].alias.grid is None:
        raise _opaque_error(path[-1].alias, "a write through")
    on_path = {id(t) for t in path}
    live = [v for v in (r() for r in root.alias.views) if v is not None and id(v) not in on_path]
    for view in live:
        if view.alias.parent is None and view.alias.grid is None:
            raise _opaque_error(view.alias, "a write to the array behind")
    if root.value.op is Op.PARAM:
        warn_argument()
    tracer.value = result.value
    for child, parent in zip(path, path[1:], strict=False):  # x[i] = row, up the chain
        parent.value = tnp.setitem(parent, child.alias.index, child).value
    top, root_grid = path[-1], root.alias.grid
    if top is not root:  # scatter the view's new values into the root
        flat = tnp.reshape(root, (-1,))
        at = _positions(top.alias.grid, root_grid).reshape(-1)
        flat = tnp.setitem(flat, at, tnp.reshape(top, (-1,)))
        root.value = tnp.reshape(flat, root.shape).value
    flat = None
    for view in live:  # and read the others again, oldest (parents) first
        alias = view.alias
        if alias.parent is not None:
            view.value = tnp.getitem(alias.parent, alias.index).value
        else:
            flat = tnp.reshape(root, (-1,)) if flat is None else flat
            view.value = tnp.getitem(flat, _positions(alias.grid, root_grid)).value


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
