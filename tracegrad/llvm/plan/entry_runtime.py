"""Process-side support of the whole-call entry (:mod:`tracegrad.llvm.plan.entry`): numpy's C-API
table, the symbols the entry IR refers to, and a start-up self-test.

The entry allocates its outputs with ``PyArray_DescrFromType`` and ``PyArray_Empty``, which
numpy exports only through the function table behind the ``_ARRAY_API`` capsule of its
``multiarray`` module (what ``import_array()`` reads in C extensions). The table's indices
are numpy's ABI and have not moved since numpy 1.0 (``__multiarray_api.h``): 0
``PyArray_GetNDArrayCVersion``, 45 ``PyArray_DescrFromType``, 184 ``PyArray_Empty``. The
function addresses are registered as JIT symbols (never baked into IR, so object code stays
disk-cacheable), after :func:`entry_selftest` has checked each index by calling it.

It also checks the one CPython layout fact the entry adds to those of
:mod:`tracegrad.llvm.callpath.wrapper`: a ``float``'s value (``ob_fval``) is the double at
offset 16.
"""

from __future__ import annotations

import ctypes
import sys
from functools import cache

import numpy as np

from tracegrad.llvm.callpath import wrapper as callpath
from tracegrad.llvm.machine import engine

OFF_FLOAT_VALUE = 16  # PyFloatObject.ob_fval (non-debug, GIL CPython)
API_GET_C_VERSION = 0
API_DESCR_FROM_TYPE = 45
API_EMPTY = 184

DESCR_FROM_TYPE_SYMBOL = "tracegrad_PyArray_DescrFromType"
EMPTY_SYMBOL = "tracegrad_PyArray_Empty"

_get_pointer = ctypes.pythonapi.PyCapsule_GetPointer
_get_pointer.restype = ctypes.c_void_p
_get_pointer.argtypes = [ctypes.py_object, ctypes.c_char_p]


def _api_table() -> int:
    """The address of numpy's C-API function table."""
    try:
        from numpy._core import _multiarray_umath as multiarray  # numpy 2
    except ImportError:  # numpy 1.x
        from numpy.core import _multiarray_umath as multiarray  # type: ignore[no-redef]
    return int(_get_pointer(multiarray._ARRAY_API, None) or 0)


def _c_version() -> int:
    try:
        from numpy._core import _multiarray_umath as multiarray
    except ImportError:
        from numpy.core import _multiarray_umath as multiarray  # type: ignore[no-redef]
    return int(multiarray._get_ndarray_c_version())


def _slot(table: int, index: int) -> int:
    return ctypes.c_void_p.from_address(table + 8 * index).value or 0


def _float_layout_ok() -> bool:
    for x in (1.5, -0.0, float("inf"), 2.0**-1074):
        if ctypes.c_void_p.from_address(id(x) + callpath.OFF_OB_TYPE).value != id(float):
            return False
        if ctypes.c_double.from_address(id(x) + OFF_FLOAT_VALUE).value != x:
            return False
    return True


def _api_ok(table: int) -> bool:
    """Call each table slot the entry uses and check it does what its index promises.

    Slot 0 (no arguments) is called first: a table that is not numpy's ABI would fail
    there before any slot is called with arguments.
    """
    if not table or not all(_slot(table, i) for i in (0, API_DESCR_FROM_TYPE, API_EMPTY)):
        return False
    if ctypes.CFUNCTYPE(ctypes.c_uint)(_slot(table, API_GET_C_VERSION))() != _c_version():
        return False
    descr_obj = ctypes.PYFUNCTYPE(ctypes.py_object, ctypes.c_int)(_slot(table, API_DESCR_FROM_TYPE))
    for dt in (np.float64, np.float32, np.int64, np.int32, np.bool_):
        if descr_obj(np.dtype(dt).num) is not np.dtype(dt):
            return False
    descr_raw = ctypes.PYFUNCTYPE(ctypes.c_void_p, ctypes.c_int)(_slot(table, API_DESCR_FROM_TYPE))
    empty = ctypes.PYFUNCTYPE(
        ctypes.py_object,
        ctypes.c_int,
        ctypes.POINTER(ctypes.c_int64),
        ctypes.c_void_p,
        ctypes.c_int,
    )(_slot(table, API_EMPTY))
    for shape, dt in (((2, 3), np.float64), ((), np.int32), ((0,), np.bool_)):
        dims = (ctypes.c_int64 * max(len(shape), 1))(*shape)
        a = empty(len(shape), dims, descr_raw(np.dtype(dt).num), 0)  # steals the descr
        ok = type(a) is np.ndarray and a.shape == shape and a.dtype == np.dtype(dt)
        if not (ok and a.flags.c_contiguous and a.flags.writeable and a.flags.owndata):
            return False
    return True


@cache
def entry_selftest() -> bool:
    """True if the entry can run here: callpath's layout, a float's layout and numpy's
    C-API table all match what the entry IR assumes. Registers the API symbols."""
    if sys.byteorder != "little" or ctypes.sizeof(ctypes.c_void_p) != 8:
        return False
    if not callpath.layout_selftest():
        return False
    try:
        if not (_float_layout_ok() and _api_ok(table := _api_table())):
            return False
    except Exception:  # noqa: BLE001 -- any surprise means "do not use the entry"
        return False
    callpath.register_runtime_symbols()
    engine.register_symbol(DESCR_FROM_TYPE_SYMBOL, _slot(table, API_DESCR_FROM_TYPE))
    engine.register_symbol(EMPTY_SYMBOL, _slot(table, API_EMPTY))
    return True


def runtime_decls() -> str:
    """External declarations of every process symbol the entry IR uses."""
    return (
        f'@"{callpath.PYARRAY_TYPE_SYMBOL}" = external global i8\n'
        "@PyFloat_Type = external global i8\n"
        "@PyLong_Type = external global i8\n"
        "@_Py_TrueStruct = external global i8\n"
        "@_Py_FalseStruct = external global i8\n"
        "declare ptr @PyObject_Vectorcall(ptr, ptr, i64, ptr)\n"
        f'declare ptr @"{DESCR_FROM_TYPE_SYMBOL}"(i32)\n'
        f'declare ptr @"{EMPTY_SYMBOL}"(i32, ptr, ptr, i32)\n'
        "declare i64 @PyLong_AsLongLongAndOverflow(ptr, ptr)\n"
        "declare ptr @PyTuple_New(i64)\n"
        "declare i32 @PyTuple_SetItem(ptr, i64, ptr)\n"
        "declare ptr @PyList_New(i64)\n"
        "declare i32 @PyList_SetItem(ptr, i64, ptr)\n"
        "declare void @Py_IncRef(ptr)\n"
        "declare void @Py_DecRef(ptr)\n"
        "declare ptr @PyEval_SaveThread()\n"
        "declare void @PyEval_RestoreThread(ptr)\n"
    )
