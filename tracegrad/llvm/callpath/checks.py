"""Python side of the native call path: the PyArrayObject layout self-test, the
argument checks of the IR wrapper with precise messages, and the ctypes fallback."""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from functools import cache
from typing import Any

import numpy as np

from tracegrad.llvm.callpath.spec import (
    NPY_ALIGNED,
    NPY_C_CONTIGUOUS,
    NPY_WRITEABLE,
    OFF_DATA,
    OFF_DESCR,
    OFF_DESCR_BYTEORDER,
    OFF_DESCR_TYPE_NUM,
    OFF_DIMS,
    OFF_FLAGS,
    OFF_ND,
    OFF_OB_TYPE,
    ArgSpec,
    Extent,
    accepted_type_nums,
    check_slots,
    dtype_msg,
)


def _layout_matches(a: np.ndarray) -> bool:
    base = id(a)

    def word(addr: int) -> int:
        return ctypes.c_void_p.from_address(addr).value or 0

    descr = word(base + OFF_DESCR)
    dims = word(base + OFF_DIMS)
    flags = ctypes.c_int32.from_address(base + OFF_FLAGS).value
    return (
        word(base + OFF_OB_TYPE) == id(type(a))
        and word(base + OFF_DATA) == a.__array_interface__["data"][0]
        and ctypes.c_int32.from_address(base + OFF_ND).value == a.ndim
        and all(ctypes.c_int64.from_address(dims + 8 * k).value == n for k, n in enumerate(a.shape))
        and descr == id(a.dtype)
        and ctypes.c_int32.from_address(descr + OFF_DESCR_TYPE_NUM).value == a.dtype.num
        and ctypes.c_char.from_address(descr + OFF_DESCR_BYTEORDER).value
        == a.dtype.byteorder.encode()
        and bool(flags & NPY_C_CONTIGUOUS) == a.flags.c_contiguous
        and bool(flags & NPY_ALIGNED) == a.flags.aligned
        and bool(flags & NPY_WRITEABLE) == a.flags.writeable
    )


@cache
def layout_selftest() -> bool:
    """True if the PyArrayObject layout the wrappers assume holds in this process."""
    import sys

    if sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    frozen = np.arange(6.0)
    frozen.flags.writeable = False
    unaligned = np.zeros(17, np.uint8)[1:].view(np.int64)  # data at an odd address
    samples = [
        np.zeros((3, 4)),
        np.arange(10, dtype=np.int32)[::2],
        np.ones((2, 3), dtype=">f8"),
        np.zeros((), dtype=np.bool_),
        np.zeros((4, 5), dtype=np.float32).T,
        frozen,
        unaligned,
    ]
    try:
        return all(_layout_matches(a) for a in samples)
    except Exception:  # noqa: BLE001 -- any surprise means "do not trust the layout"
        return False


def bind_extents(
    arg_specs: Sequence[ArgSpec],
    n_extents: int,
    args: Sequence[object],
    *,
    check_overlap: bool = True,
) -> tuple[int, ...]:
    """The checks of the IR wrapper in Python, with precise messages.

    Returns the extents the wrapper would pass; raises TypeError where it would.
    """
    specs = tuple(arg_specs)
    check_slots(specs, n_extents)
    return _bind(specs, n_extents, args, None if check_overlap else ())


def _bind(
    specs: tuple[ArgSpec, ...], n_extents: int, args: Sequence[object], ptrs: Sequence[int] | None
) -> tuple[int, ...]:
    """bind_extents; ``ptrs``: the data pointers if known, ``()`` to skip the overlap check."""
    if len(args) != len(specs):
        raise TypeError(f"expected {len(specs)} arguments, got {len(args)}")
    extents: list[int | None] = [None] * n_extents
    for i, (spec, a) in enumerate(zip(specs, args, strict=True)):
        _check_array(i, spec, a)
        assert isinstance(a, np.ndarray)
        for k, (want, got) in enumerate(zip(spec.dims, a.shape, strict=True)):
            if isinstance(want, Extent):
                if extents[want.slot] is None:
                    extents[want.slot] = got
                    continue
                want = extents[want.slot]
            if got != want:
                raise TypeError(f"argument {i}: dim {k} is {got}, expected {want}")
    if ptrs != ():
        if ptrs is None:
            ptrs = [a.__array_interface__["data"][0] for a in args]  # type: ignore[attr-defined]
        _check_no_overlap(specs, args, ptrs)
    return tuple(int(x) for x in extents)  # type: ignore[arg-type]  # all slots are bound


def _check_array(i: int, spec: ArgSpec, a: object) -> None:
    if type(a) is not np.ndarray:
        raise TypeError(f"argument {i}: expected numpy.ndarray, got {type(a).__name__}")
    if a.dtype.num not in accepted_type_nums(spec.type_num) or a.dtype.byteorder == ">":
        raise TypeError(f"argument {i}: dtype {a.dtype.str}, expected {dtype_msg(spec)}")
    if a.ndim != spec.ndim:
        raise TypeError(f"argument {i}: ndim {a.ndim}, expected {spec.ndim}")
    if not (a.flags.c_contiguous and a.flags.aligned):
        raise TypeError(f"argument {i}: array is not C-contiguous and aligned")
    if spec.writeable and not a.flags.writeable:
        raise TypeError(f"argument {i}: output array is read-only")


def _check_no_overlap(specs: Sequence[ArgSpec], args: Sequence[Any], ptrs: Sequence[int]) -> None:
    spans = [(p, a.nbytes) for p, a in zip(ptrs, args, strict=True)]
    for j, spec in enumerate(specs):
        if not spec.writeable:
            continue
        lo_j, nb_j = spans[j]
        for i, (lo_i, nb_i) in enumerate(spans):
            if i != j and nb_i and nb_j and lo_i < lo_j + nb_j and lo_j < lo_i + nb_i:
                raise TypeError(f"argument {j}: output overlaps argument {i}")


_ENTRY_PROTO = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


def ctypes_callable(
    address: int,
    n_buffers: int,
    n_extents: int,
    *,
    arg_specs: Sequence[ArgSpec] | None = None,
    keepalive: object = None,
) -> Callable[[Sequence[np.ndarray], Sequence[int] | None], None]:
    """Call an entry through ctypes: ``f(arrays, extents)``; the fallback path.

    With ``arg_specs`` the arrays are checked like the IR wrapper does and the extents
    are derived (pass None); without, the caller vouches for them and only the count
    and C-contiguity are checked. ``keepalive`` (e.g. the CompiledModule) lives as long
    as the returned function. ctypes releases the GIL during the call.
    """
    entry = _ENTRY_PROTO(address)
    buf_type = ctypes.c_void_p * max(n_buffers, 1)
    ext_type = ctypes.c_int64 * max(n_extents, 1)
    specs = None if arg_specs is None else tuple(arg_specs)
    if specs is not None:
        check_slots(specs, n_extents)

    def call(arrays: Sequence[np.ndarray], extents: Sequence[int] | None = None) -> None:
        if len(arrays) != n_buffers:
            raise TypeError(f"expected {n_buffers} arrays, got {len(arrays)}")
        if not all(type(a) is np.ndarray and a.flags.c_contiguous for a in arrays):
            raise TypeError("expected C-contiguous numpy arrays")
        ptrs = [a.ctypes.data for a in arrays]  # about 1 us each: the fallback's main cost
        if specs is not None:
            extents = _bind(specs, n_extents, arrays, ptrs)
        elif extents is None or len(extents) != n_extents:
            raise TypeError(f"expected {n_extents} extents")
        bufs = buf_type(*ptrs)
        ext = ext_type(*extents)
        entry(bufs, ext)  # ``arrays`` stays referenced until the call returns

    call.keepalive = keepalive  # type: ignore[attr-defined]
    return call
