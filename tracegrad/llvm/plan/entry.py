"""The whole-call entry: one native builtin per hot jit specialization that checks the
Python arguments, allocates the outputs, runs the kernel and returns the result.

For a plan that is a single unthreaded kernel reading only params (any order) and writing
exactly the outputs, :mod:`tracegrad.jit` makes this builtin the Jitted's ``__call__``:
``jitted(x)`` then runs no Python (about 0.3 us for ``grad(x**2)`` on a float, against
1.1 us for ``np.asarray`` + ``np.empty`` + the kernel wrapper from Python). It is
``ptr @E(ptr self, ptr args, i64 nargs, ptr kwnames)`` (METH_FASTCALL|METH_KEYWORDS), in IR:

* each argument is accepted in exactly the form its kind says (``kinds``, one
  :data:`tracegrad.ir.executable.ArgKind` per param): a Python ``float`` / ``int`` /
  ``bool`` of exactly that type for a 0-d float64 / int64 / bool param (the value is stored
  in a stack slot: ``ob_fval`` for floats, ``PyLong_AsLongLongAndOverflow`` for ints,
  identity with True/False for bools), or an exact ``np.ndarray`` with the param's dtype
  (native byte order), shape, C-contiguous and aligned (the checks of
  :mod:`tracegrad.llvm.callpath.wrapper`). Weak (Python scalar) and strong (array) arguments trace
  differently, so the kinds are part of the entry, never widened;
* the outputs are fresh arrays from numpy's ``PyArray_Empty`` (see
  :mod:`tracegrad.llvm.plan.entry_runtime`); the kernel gets ``(buffers, null)``: buffers are the
  kernel's inputs in its own order, then its outputs, and the extents pointer is null since
  entries are built only for kernels whose dims are all static;
* it returns the output array (a 0-d ndarray for a 0-d output), or a tuple/list of them;
* any other call (arity, keywords, type, dtype, shape, layout, an int outside int64) goes
  unchanged to the builtin's ``m_self``, the fallback, through ``PyObject_Vectorcall``:
  in the jit, the entry of another signature or ``Jitted.__call__`` (the Python paths,
  behaving as before). Native code raises only numpy's MemoryError (outputs released).

Inputs are only read; the kernel's outputs are distinct fresh arrays, so nothing aliases.
Large kernels (:data:`tracegrad.llvm.plan.module.GIL_RELEASE_WORK`) run with the GIL released,
like the kernel wrappers.

>>> import numpy as np, tracegrad
>>> g = tracegrad.jit(tracegrad.grad(lambda x: x**2))
>>> [float(g(3.0)) for _ in range(5)][-1]
6.0
"""

from __future__ import annotations

import ctypes
import hashlib
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.ir.executable import ArgKind
from tracegrad.llvm.callpath import wrapper as callpath
from tracegrad.llvm.callpath.wrapper import METH_FASTCALL, OFF_DATA, OFF_OB_TYPE, ArgSpec, Extent
from tracegrad.llvm.machine import engine
from tracegrad.llvm.plan.entry_runtime import (
    DESCR_FROM_TYPE_SYMBOL,
    EMPTY_SYMBOL,
    OFF_FLOAT_VALUE,
    entry_selftest,
    runtime_decls,
)
from tracegrad.llvm.plan.module import GIL_RELEASE_WORK, arg_specs

__all__ = ["EntryBuilder", "build_entry", "entry_ir"]

# The Python scalar types an argument may be keyed with, and the param dtype each must
# have (numpy's default for the scalar: what np.asarray(x, dtype) would convert exactly).
SCALAR_DTYPES: dict[type, np.dtype] = {
    float: np.dtype(np.float64),
    int: np.dtype(np.int64),
    bool: np.dtype(np.bool_),
}
OUT_KINDS = ("leaf", "tuple", "list")
METH_KEYWORDS = 0x2
Kind = ArgKind  # float | int | bool (the type) or (dtype, shape) of an exact ndarray


def build_entry(exe: Any) -> EntryBuilder | None:
    """The entry builder of a tiered-up PlanExecutable, or None when its plan is not a
    single unthreaded kernel reading exactly the params and writing exactly the outputs
    (or when :func:`entry_selftest` fails in this process)."""
    runs = getattr(exe, "runs", None)
    if not runs or len(runs) != 1 or getattr(exe, "module", None) is None:
        return None
    run = runs[0]
    if getattr(run, "kernel", None) is None or run.threaded:
        return None
    n_params = len(exe.plan.function.params)
    ins, outs = list(run.in_slots), list(run.out_slots)
    if len(set(ins)) != len(ins) or any(s >= n_params for s in ins):
        return None  # reads a constant, or the same buffer twice
    if outs != list(exe.out_slots) or len(set(outs)) != len(outs):
        return None
    specs = arg_specs(run.kernel)
    if any(isinstance(d, Extent) for s in specs for d in s.dims):
        return None  # runtime extents: not in concrete plans today
    if not entry_selftest():
        return None
    return EntryBuilder(exe, run)


def _not_implemented(*args: Any, **kwargs: Any) -> Any:
    return NotImplemented


class EntryBuilder:
    """``builder(kinds, out, fallback)``: the native entry for arguments of these kinds
    (one per param, see the module docstring) returning ``out`` ("leaf", "tuple" or "list"
    of the outputs), or None when the kinds do not fit the params.

    Any call the entry does not take (other arguments, keywords) is forwarded unchanged to
    ``fallback`` (vectorcall), whose result it returns; by default a function returning
    NotImplemented. The code is compiled once per (kinds, out); each call of the builder
    makes a new builtin (cheap) around it.
    """

    def __init__(self, exe: Any, run: Any) -> None:
        self.exe, self.run = exe, run
        self.params = [(p.dtype.numpy, tuple(p.shape)) for p in exe.plan.function.params]
        self._built: dict[tuple, tuple[engine.CompiledModule, str] | None] = {}

    def __call__(
        self,
        kinds: Sequence[Kind],
        out: str = "leaf",
        fallback: Callable[..., Any] = _not_implemented,
    ) -> Callable[..., Any] | None:
        key = (tuple(kinds), out)
        if key not in self._built:
            self._built[key] = self._compile(key[0], out)
        built = self._built[key]
        if built is None:
            return None
        module, name = built
        return _new_builtin(module, name, fallback, keepalive=self.exe.module)

    def _compile(self, kinds: tuple, out: str) -> tuple[engine.CompiledModule, str] | None:
        if not _kinds_fit(kinds, self.params) or out not in OUT_KINDS:
            return None
        if out == "leaf" and len(self.run.outs) != 1:
            return None
        placeholder = f"{self.run.symbol}.e" + "X" * 12
        work = self.run.kernel.work
        text = entry_ir(
            placeholder,
            self.run.symbol,
            kinds,
            self.run.in_slots,
            self.run.outs,
            out=out,
            release_gil=not isinstance(work, int) or work >= GIL_RELEASE_WORK,
        )
        name = f"{self.run.symbol}.e{hashlib.sha256(text.encode()).hexdigest()[:12]}"
        text = text.replace(placeholder, name)
        module = engine.compile_module(
            text, opt_level=1, name_hint=self.exe.function.name + ".entry", exports=[name]
        )
        return module, name


_new_cfunction = ctypes.pythonapi.PyCFunction_NewEx
_new_cfunction.restype = ctypes.py_object
_new_cfunction.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


def _new_builtin(
    module: engine.CompiledModule, name: str, fallback: Callable[..., Any], keepalive: object
) -> Callable[..., Any]:
    """A METH_FASTCALL|METH_KEYWORDS builtin for the entry ``name``.

    Its ``m_self`` (what the code gets as ``self``) is the fallback; the code and the
    PyMethodDef are kept alive by a NativeHolder in ``m_module``, which CPython holds with
    a strong reference and otherwise only shows as ``__module__``. ``keepalive`` (the
    kernel's module) rides along: the kernel's code must live as long as the entry.
    """
    if not callable(fallback):
        raise TypeError("fallback must be callable")
    method_def = callpath.PyMethodDef(
        name.encode(), module.address(name), METH_FASTCALL | METH_KEYWORDS, None
    )
    holder = callpath.NativeHolder(module, method_def, keepalive)
    return _new_cfunction(ctypes.addressof(method_def), fallback, holder)


def _kinds_fit(kinds: tuple, params: list[tuple[np.dtype, tuple]]) -> bool:
    if len(kinds) != len(params):
        return False
    for kind, (dtype, shape) in zip(kinds, params, strict=True):
        if isinstance(kind, type):
            if SCALAR_DTYPES.get(kind) != dtype or shape != ():
                return False
        elif not (isinstance(kind, tuple) and len(kind) == 2):
            return False
        else:
            kdt, kshape = np.dtype(kind[0]), tuple(kind[1])
            if kdt != dtype or kshape != shape or kdt.byteorder == ">" or kdt.kind not in "biuf":
                return False
    return True


# ---------------------------------------------------------------------------------------
# IR
# ---------------------------------------------------------------------------------------


class EntryEmitter(callpath.WrapperEmitter):
    """callpath's emitter, but every failed check declines instead of raising."""

    def check(self, cond: str, block: str, ok: str, arg: int, reason: str) -> None:
        self(f"br i1 {cond}, label %{ok}, label %decline")


def entry_ir(
    name: str,
    kernel: str,
    kinds: Sequence[Kind],
    in_slots: Sequence[int],
    outs: Sequence[tuple[tuple[int, ...], Any]],
    *,
    out: str = "leaf",
    release_gil: bool = False,
) -> str:
    """LLVM IR of the entry ``name`` calling ``void @kernel(ptr, ptr)`` (declared here).

    ``kinds[i]`` is how param ``i`` arrives; ``in_slots[k]`` the param that is the kernel's
    input ``k``; ``outs`` the (shape, dtype) of each output.
    """
    callpath.check_name(name)
    callpath.check_name(kernel)
    e = EntryEmitter(name)
    n_in, n_out = len(in_slots), len(outs)
    e.lines.append(f'define ptr @"{name}"(ptr %self, ptr %args, i64 %nargs, ptr %kwnames) {{')
    e.label("entry")
    e(f"%bufs = alloca [{max(n_in + n_out, 1)} x ptr], align 8")
    e(f"%scal = alloca [{max(len(kinds), 1)} x i64], align 8")
    e("%ovf = alloca i32, align 4")
    e(f"%nargs.ok = icmp eq i64 %nargs, {len(kinds)}")
    e("%nokw = icmp eq ptr %kwnames, null")
    e("%call.ok = and i1 %nargs.ok, %nokw")
    e(f"br i1 %call.ok, label %{'a0' if kinds else 'alloc0'}, label %decline")
    buf_of = {param: k for k, param in enumerate(in_slots)}
    for i, kind in enumerate(kinds):
        e.label(f"a{i}")
        nxt = f"a{i + 1}" if i + 1 < len(kinds) else "alloc0"
        if isinstance(kind, type):
            _emit_scalar(e, i, kind, buf_of.get(i), nxt)
        else:
            spec = ArgSpec.of(kind[0], tuple(kind[1]))
            callpath.emit_arg(e, i, spec, {}, nxt, buf_of.get(i))
    _emit_alloc(e, outs, n_in)
    callpath.emit_kernel_call(e, kernel, "null", release_gil)  # static dims only
    _emit_result(e, n_out, out)
    e.label("decline")  # m_self is the fallback: forward the call unchanged
    e("%fb = call ptr @PyObject_Vectorcall(ptr %self, ptr %args, i64 %nargs, ptr %kwnames)")
    e("ret ptr %fb")
    e.lines.append("}")
    return _module_text(e, name, kernel, outs)


def _emit_scalar(e: EntryEmitter, i: int, kind: type, buf: int | None, nxt: str) -> None:
    """A Python float/int/bool of exactly that type, stored into ``%scal[i]``."""
    a = f"a{i}"
    e(f"%{a}.slot = getelementptr ptr, ptr %args, i64 {i}")
    e(f"%{a}.obj = load ptr, ptr %{a}.slot")
    e(f"%{a}.s = getelementptr i64, ptr %scal, i64 {i}")
    if buf is not None:
        e(f"%{a}.buf = getelementptr ptr, ptr %bufs, i64 {buf}")
        e(f"store ptr %{a}.s, ptr %{a}.buf")
    if kind is bool:  # True and False are the only bool objects
        e(f"%{a}.t = icmp eq ptr %{a}.obj, @_Py_TrueStruct")
        e(f"%{a}.f = icmp eq ptr %{a}.obj, @_Py_FalseStruct")
        e(f"%{a}.ok = or i1 %{a}.t, %{a}.f")
        e(f"%{a}.v = zext i1 %{a}.t to i8")
        e(f"store i8 %{a}.v, ptr %{a}.s")
        e(f"br i1 %{a}.ok, label %{nxt}, label %decline")
        return
    ty = e.field(f"{a}.type", f"%{a}.obj", OFF_OB_TYPE, "ptr")
    e(f"%{a}.is = icmp eq ptr {ty}, @{'PyFloat_Type' if kind is float else 'PyLong_Type'}")
    e(f"br i1 %{a}.is, label %{a}.val, label %decline")
    e.label(f"{a}.val")
    if kind is float:
        v = e.field(f"{a}.fv", f"%{a}.obj", OFF_FLOAT_VALUE, "double")
        e(f"store double {v}, ptr %{a}.s")
        e(f"br label %{nxt}")
        return
    # an exact int never raises here; outside int64 it sets the overflow flag instead
    e(f"%{a}.iv = call i64 @PyLong_AsLongLongAndOverflow(ptr %{a}.obj, ptr %ovf)")
    e(f"%{a}.o = load i32, ptr %ovf")
    e(f"%{a}.ok = icmp eq i32 %{a}.o, 0")
    e(f"store i64 %{a}.iv, ptr %{a}.s")
    e(f"br i1 %{a}.ok, label %{nxt}, label %decline")


def _emit_alloc(e: EntryEmitter, outs: Sequence[tuple[tuple[int, ...], Any]], n_in: int) -> None:
    """Blocks alloc0..: one PyArray_Empty per output; on failure release and return NULL."""
    for j, (shape, dtype) in enumerate(outs):
        e.label(f"alloc{j}")
        dims = f'@"{e.name}.dims{j}"' if shape else "null"
        e(f'%d{j} = call ptr @"{DESCR_FROM_TYPE_SYMBOL}"(i32 {np.dtype(dtype).num})')
        e(f"%d{j}.ok = icmp ne ptr %d{j}, null")
        e(f"br i1 %d{j}.ok, label %alloc{j}.e, label %nomem{j}")
        e.label(f"alloc{j}.e")
        e(f'%o{j} = call ptr @"{EMPTY_SYMBOL}"(i32 {len(shape)}, ptr {dims}, ptr %d{j}, i32 0)')
        e(f"%o{j}.ok = icmp ne ptr %o{j}, null")
        data = f"%o{j}.data"
        nxt = f"alloc{j + 1}" if j + 1 < len(outs) else "call"
        e(f"br i1 %o{j}.ok, label %store{j}, label %nomem{j}")
        e.label(f"store{j}")
        e.field(data[1:], f"%o{j}", OFF_DATA, "ptr")
        e(f"%o{j}.buf = getelementptr ptr, ptr %bufs, i64 {n_in + j}")
        e(f"store ptr {data}, ptr %o{j}.buf")
        e(f"br label %{nxt}")
    for j in range(len(outs) + 1):  # nomem{j}: outputs 0..j-1 exist
        e.label(f"nomem{j}")
        for m in range(j):
            e(f"call void @Py_DecRef(ptr %o{m})")
        e("ret ptr null")


def _emit_result(e: EntryEmitter, n_out: int, out: str) -> None:
    if out == "leaf":
        e("ret ptr %o0")
        return
    new, put = f"Py{out.capitalize()}_New", f"Py{out.capitalize()}_SetItem"
    e(f"%res = call ptr @{new}(i64 {n_out})")
    e("%res.ok = icmp ne ptr %res, null")
    e(f"br i1 %res.ok, label %fill, label %nomem{n_out}")
    e.label("fill")
    for j in range(n_out):  # steals the reference to each output
        e(f"%put{j} = call i32 @{put}(ptr %res, i64 {j}, ptr %o{j})")
    e("ret ptr %res")


def _module_text(
    e: EntryEmitter, name: str, kernel: str, outs: Sequence[tuple[tuple[int, ...], Any]]
) -> str:
    parts = [runtime_decls(), f'declare void @"{kernel}"(ptr, ptr)']
    for j, (shape, _) in enumerate(outs):
        if shape:
            dims = ", ".join(f"i64 {d}" for d in shape)
            parts.append(
                f'@"{name}.dims{j}" = private unnamed_addr constant [{len(shape)} x i64] [{dims}]'
            )
    parts.append("")
    parts.extend(e.lines)
    return "\n".join(parts) + "\n"
