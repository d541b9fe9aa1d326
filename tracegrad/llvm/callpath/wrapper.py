"""The native call path: Python -> compiled kernel entry in about 45 ns.

Every compiled kernel has the entry ABI ``void @entry(ptr %buffers, ptr %extents)``:
``buffers`` is an array of data pointers (inputs first, then outputs) and ``extents``
an array of int64 runtime dimensions. Calling that through ctypes costs 0.5-5 us, mostly
in getting data pointers out of numpy. Instead, :func:`fastcall_wrapper_ir` emits a
CPython ``METH_FASTCALL`` function in LLVM IR that reads the ``PyArrayObject`` fields
directly, checks everything the kernel relies on, fills the two arrays on its stack and
calls the entry. Any surprise (wrong type, subclass, dtype, rank, layout, shape, aliasing)
raises TypeError and the Python caller falls back to a slow path that converts the
inputs or produces a precise error (:func:`bind_extents` gives the same verdicts in
Python, with a precise message).

Safety rules (``docs/llvmlite.md``, section 4, 'Call path'):

* No process address is ever baked into IR: ``PyArray_Type`` is the registered symbol
  :data:`PYARRAY_TYPE_SYMBOL`, C-API names resolve from the process at load time, so
  the object code can be cached on disk.
* ``Py_IncRef`` instead of an inline refcount increment (immortal objects in 3.12+).
* The builtin made by :func:`make_native_callable` has a :class:`NativeHolder` as its
  ``m_self``; the holder owns the PyMethodDef and the CompiledModule, so the code and
  the method table live exactly as long as the callable.
* The field offsets are checked once at start-up by :func:`layout_selftest`; when it
  fails (another Python or numpy build), callers use :func:`ctypes_callable` instead.
"""

from __future__ import annotations

import ctypes
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np

from tracegrad.llvm.callpath.checks import (
    bind_extents,
    ctypes_callable,
    layout_selftest,
)
from tracegrad.llvm.callpath.spec import (
    METH_FASTCALL,
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
from tracegrad.llvm.callpath.spec import Dim as Dim
from tracegrad.llvm.machine import engine
from tracegrad.llvm.text.builder import Builder

__all__ = [
    "METH_FASTCALL",
    "OFF_DATA",
    "OFF_OB_TYPE",
    "PYARRAY_TYPE_SYMBOL",
    "ArgSpec",
    "Extent",
    "NativeHolder",
    "PyMethodDef",
    "WrapperEmitter",
    "bind_extents",
    "check_name",
    "ctypes_callable",
    "emit_arg",
    "emit_kernel_call",
    "fastcall_wrapper_ir",
    "layout_selftest",
    "make_native_callable",
    "make_shared_native_callable",
    "register_runtime_symbols",
    "wrapper_runtime_decls",
]

PYARRAY_TYPE_SYMBOL = "tracegrad_PyArray_Type"


def register_runtime_symbols() -> None:
    """Register the process addresses the wrappers refer to (idempotent)."""
    engine.register_symbol(PYARRAY_TYPE_SYMBOL, id(np.ndarray))


# ---------------------------------------------------------------------------------------
# IR generation
# ---------------------------------------------------------------------------------------


def wrapper_runtime_decls() -> str:
    """Declarations every wrapper needs; emit once per module (include_decls=False)."""
    return (
        f'@"{PYARRAY_TYPE_SYMBOL}" = external global i8\n'
        "@PyExc_TypeError = external global ptr\n"
        "@_Py_NoneStruct = external global i8\n"
        "declare ptr @PyErr_Format(ptr, ptr, ...)\n"
        "declare void @Py_IncRef(ptr)\n"
        "declare ptr @PyEval_SaveThread()\n"
        "declare void @PyEval_RestoreThread(ptr)\n"
    )


class WrapperEmitter(Builder):
    """The text builder for argument wrappers: lines name their own results (``e(line)``),
    failed checks are (label, reason) edges into one fail block, and ``name`` (the wrapper's
    symbol) prefixes the message globals. plan's native entry extends it."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.name = name
        self.consts: dict[str, str] = {}  # message text -> global name
        self.fails: list[tuple[str, int, str]] = []  # (block label, arg index, message global)

    def __call__(self, line: str) -> None:
        self.op(line)

    def message(self, text: str) -> str:
        if text not in self.consts:
            self.consts[text] = f'@"{self.name}.msg{len(self.consts)}"'
        return self.consts[text]

    def check(self, cond: str, block: str, ok: str, arg: int, reason: str) -> None:
        """Branch to ``ok`` when ``cond`` holds, else raise TypeError(reason) for ``arg``."""
        self(f"br i1 {cond}, label %{ok}, label %fail")
        self.fails.append((block, arg, self.message(reason)))

    def field(self, name: str, base: str, offset: int, ty: str) -> str:
        self(f"%{name}.p = getelementptr i8, ptr {base}, i64 {offset}")
        self(f"%{name} = load {ty}, ptr %{name}.p")
        return f"%{name}"


def _c_string(text: str) -> tuple[int, str]:
    raw = text.encode() + b"\0"
    body = "".join(chr(b) if 32 <= b < 127 and b not in (34, 92) else f"\\{b:02X}" for b in raw)
    return len(raw), f'c"{body}"'


def check_name(name: str) -> None:
    """A symbol name the IR text can quote (plan's native entry checks its names too)."""
    if not name or any(c in name for c in '"\\\n') or not name.isascii():
        raise ValueError(f"invalid LLVM symbol name {name!r}")


def emit_arg(
    e: WrapperEmitter,
    i: int,
    spec: ArgSpec,
    bound: dict[int, str],
    nxt: str,
    buf_index: int | None = -1,
) -> list[str]:
    """Checks for argument ``i``; returns the SSA names of its dims. Ends with a br.
    (Shared with plan's native entry, whose arguments are checked the same way.)

    The data pointer goes to ``%bufs[buf_index]`` (default ``i``; None: nowhere, for an
    argument the callee does not read).
    """
    a = f"a{i}"
    e(f"%{a}.slot = getelementptr ptr, ptr %args, i64 {i}")
    e(f"%{a}.obj = load ptr, ptr %{a}.slot")
    ty = e.field(f"{a}.type", f"%{a}.obj", OFF_OB_TYPE, "ptr")
    e(f'%{a}.isarr = icmp eq ptr {ty}, @"{PYARRAY_TYPE_SYMBOL}"')
    e.check(f"%{a}.isarr", a, f"{a}.dtype", i, "expected a numpy.ndarray (exact type)")

    e.label(f"{a}.dtype")
    descr = e.field(f"{a}.descr", f"%{a}.obj", OFF_DESCR, "ptr")
    num = e.field(f"{a}.num", descr, OFF_DESCR_TYPE_NUM, "i32")
    order = e.field(f"{a}.order", descr, OFF_DESCR_BYTEORDER, "i8")
    nums = []
    for k, tn in enumerate(accepted_type_nums(spec.type_num)):
        e(f"%{a}.num{k} = icmp eq i32 {num}, {tn}")
        nums.append(f"%{a}.num{k}")
    # Little-endian host: only '>' marks a non-native byte order.
    e(f"%{a}.native = icmp ne i8 {order}, {ord('>')}")
    conds = [_fold(e, f"{a}.numok", "or", nums), f"%{a}.native"]
    e.check(
        _fold(e, f"{a}.dtok", "and", conds),
        f"{a}.dtype",
        f"{a}.nd",
        i,
        dtype_msg(spec),
    )

    e.label(f"{a}.nd")
    nd = e.field(f"{a}.ndim", f"%{a}.obj", OFF_ND, "i32")
    e(f"%{a}.ndok = icmp eq i32 {nd}, {spec.ndim}")
    e.check(f"%{a}.ndok", f"{a}.nd", f"{a}.flags", i, f"expected ndim={spec.ndim}")

    e.label(f"{a}.flags")
    mask = NPY_C_CONTIGUOUS | NPY_ALIGNED | (NPY_WRITEABLE if spec.writeable else 0)
    flags = e.field(f"{a}.fl", f"%{a}.obj", OFF_FLAGS, "i32")
    e(f"%{a}.flm = and i32 {flags}, {mask}")
    e(f"%{a}.flok = icmp eq i32 %{a}.flm, {mask}")
    need = "C-contiguous, aligned and writeable" if spec.writeable else "C-contiguous and aligned"
    e.check(f"%{a}.flok", f"{a}.flags", f"{a}.shape", i, f"array must be {need}")

    e.label(f"{a}.shape")
    dims = _emit_dims(e, a, spec, bound)
    data = e.field(f"{a}.data", f"%{a}.obj", OFF_DATA, "ptr")
    if buf_index is not None:
        e(f"%{a}.buf = getelementptr ptr, ptr %bufs, i64 {i if buf_index == -1 else buf_index}")
        e(f"store ptr {data}, ptr %{a}.buf")
    e.check(_fold(e, f"{a}.shok", "and", dims[1]), f"{a}.shape", nxt, i, _shape_msg(spec))
    return dims[0]


def _emit_dims(
    e: WrapperEmitter, a: str, spec: ArgSpec, bound: dict[int, str]
) -> tuple[list[str], list[str]]:
    """Load the dims; bind new extent slots; return (dim SSA names, equality conditions)."""
    dims_ptr = e.field(f"{a}.dims", f"%{a}.obj", OFF_DIMS, "ptr") if spec.ndim else ""
    names: list[str] = []
    conds: list[str] = []
    for k, dim in enumerate(spec.dims):
        d = f"%{a}.d{k}"
        e(f"{d}.p = getelementptr i64, ptr {dims_ptr}, i64 {k}")
        e(f"{d} = load i64, ptr {d}.p")
        names.append(d)
        if isinstance(dim, int):
            e(f"{d}.ok = icmp eq i64 {d}, {dim}")
            conds.append(f"{d}.ok")
        elif dim.slot in bound:
            e(f"{d}.ok = icmp eq i64 {d}, {bound[dim.slot]}")
            conds.append(f"{d}.ok")
        else:
            bound[dim.slot] = d
            e(f"{d}.ext = getelementptr i64, ptr %ext, i64 {dim.slot}")
            e(f"store i64 {d}, ptr {d}.ext")
    return names, conds


def _fold(e: WrapperEmitter, name: str, op: str, conds: list[str]) -> str:
    """Combine i1 values with ``op`` (and/or); ``true`` when there are none."""
    if not conds:
        return "true"
    acc = conds[0]
    for k, c in enumerate(conds[1:]):
        e(f"%{name}.{op}{k} = {op} i1 {acc}, {c}")
        acc = f"%{name}.{op}{k}"
    return acc


def _shape_msg(spec: ArgSpec) -> str:
    dims = ", ".join(str(d) if isinstance(d, int) else f"n{d.slot}" for d in spec.dims)
    return f"expected shape ({dims})"


def _emit_overlap(e: WrapperEmitter, specs: tuple[ArgSpec, ...], dims_of: list[list[str]]) -> None:
    """Outputs must not share a byte with any other argument (the kernel uses noalias).

    Runs in block ``alias``; ends in a branch to ``call``.
    """
    ranges = []
    for i, spec in enumerate(specs):
        nb = str(spec.itemsize)
        for k, d in enumerate(dims_of[i]):
            e(f"%r{i}.nb{k} = mul i64 {nb}, {d}")
            nb = f"%r{i}.nb{k}"
        e(f"%r{i}.lo = ptrtoint ptr %a{i}.data to i64")
        e(f"%r{i}.hi = add i64 %r{i}.lo, {nb}")
        e(f"%r{i}.full = icmp ne i64 {nb}, 0")
        ranges.append((f"%r{i}.lo", f"%r{i}.hi", f"%r{i}.full"))
    outputs = [j for j, spec in enumerate(specs) if spec.writeable]
    block = "alias"
    for n, j in enumerate(outputs):
        hits = []
        for i in range(len(specs)):
            if i == j:
                continue
            (lo_i, hi_i, full_i), (lo_j, hi_j, full_j) = ranges[i], ranges[j]
            p = f"%ov{j}.{i}"
            e(f"{p}.a = icmp ult i64 {lo_i}, {hi_j}")
            e(f"{p}.b = icmp ult i64 {lo_j}, {hi_i}")
            hits.append(_fold(e, f"ov{j}.{i}", "and", [f"{p}.a", f"{p}.b", full_i, full_j]))
        any_hit = _fold(e, f"ov{j}", "or", hits)
        e(f"%ov{j}.ok = xor i1 {any_hit}, true")
        nxt = f"alias{n + 1}" if n + 1 < len(outputs) else "call"
        e.check(f"%ov{j}.ok", block, nxt, j, "output overlaps another argument")
        if nxt != "call":
            e.label(nxt)
            block = nxt
    if not outputs:
        e("br label %call")


def fastcall_wrapper_ir(
    wrapper_name: str,
    entry_name: str,
    arg_specs: Sequence[ArgSpec],
    n_extents: int,
    *,
    release_gil: bool = False,
    check_overlap: bool = True,
    include_decls: bool = True,
    declare_entry: bool = False,
    entry_from_self: bool = False,
) -> str:
    """LLVM IR of ``ptr @wrapper(ptr self, ptr args, i64 nargs)`` (METH_FASTCALL).

    The wrapper checks each argument against its spec, fills ``buffers`` and
    ``extents`` on its stack, calls ``void @entry(ptr, ptr)`` (with the GIL released if
    ``release_gil``; worth it only for big kernels, it costs about 45 ns) and returns
    None. On any mismatch it raises TypeError. ``check_overlap`` also rejects outputs
    that share memory with another argument. ``declare_entry``: the entry is defined in
    another module. ``include_decls=False`` leaves out :func:`wrapper_runtime_decls`,
    for modules holding several wrappers. ``entry_from_self``: the wrapper calls no named
    entry but the address its ``self`` holds (a Python int, see
    :func:`make_shared_native_callable`), so one wrapper serves every kernel with these
    argument specs (``entry_name`` is then unused).
    """
    check_name(wrapper_name)
    check_name(entry_name)
    specs = tuple(arg_specs)
    check_slots(specs, n_extents)
    register_runtime_symbols()
    e = WrapperEmitter(wrapper_name)
    e.lines.append(f'define ptr @"{wrapper_name}"(ptr %self, ptr %args, i64 %nargs) {{')
    e.label("entry")
    e(f"%bufs = alloca [{max(len(specs), 1)} x ptr], align 8")
    e(f"%ext = alloca [{max(n_extents, 1)} x i64], align 8")
    e(f"%nargs.ok = icmp eq i64 %nargs, {len(specs)}")
    after_args = "alias" if check_overlap else "call"
    e(f"br i1 %nargs.ok, label %{'a0' if specs else after_args}, label %fail.nargs")
    bound: dict[int, str] = {}
    dims_of = []
    for i, spec in enumerate(specs):
        e.label(f"a{i}")
        nxt = f"a{i + 1}" if i + 1 < len(specs) else after_args
        dims_of.append(emit_arg(e, i, spec, bound, nxt))
    if check_overlap:
        e.label("alias")
        _emit_overlap(e, specs, dims_of)
    _emit_call(e, entry_name, release_gil, entry_from_self)
    _emit_fail(e, len(specs))
    e.lines.append("}")
    text = _module_text(e, entry_name, include_decls, declare_entry and not entry_from_self)
    return text + ("declare ptr @PyLong_AsVoidPtr(ptr)\n" if entry_from_self else "")


def emit_kernel_call(
    e: WrapperEmitter, entry_name: str, extents: str, release_gil: bool, from_self: bool = False
) -> None:
    """Block ``call``: the kernel entry on ``%bufs`` and ``extents``, without the GIL for
    large kernels (shared with :mod:`tracegrad.llvm.plan.entry`); ``from_self``: the entry's
    address is the Python int ``%self``."""
    e.label("call")
    callee = f'@"{entry_name}"'
    if from_self:
        e("%kernel = call ptr @PyLong_AsVoidPtr(ptr %self)")
        callee = "%kernel"
    if release_gil:
        e("%tstate = call ptr @PyEval_SaveThread()")
    e(f"call void {callee}(ptr %bufs, ptr {extents})")
    if release_gil:
        e("call void @PyEval_RestoreThread(ptr %tstate)")


def _emit_call(e: WrapperEmitter, entry_name: str, release_gil: bool, from_self: bool) -> None:
    emit_kernel_call(e, entry_name, "%ext", release_gil, from_self)
    e("call void @Py_IncRef(ptr @_Py_NoneStruct)")
    e("ret ptr @_Py_NoneStruct")


def _emit_fail(e: WrapperEmitter, n_args: int) -> None:
    w = e.name
    if e.fails:
        e.label("fail")
        args = ", ".join(f"[ {i}, %{blk} ]" for blk, i, _ in e.fails)
        msgs = ", ".join(f"[ {m}, %{blk} ]" for blk, _, m in e.fails)
        e(f"%f.arg = phi i32 {args}")
        e(f"%f.msg = phi ptr {msgs}")
        e("%f.exc = load ptr, ptr @PyExc_TypeError")
        e(
            f'%f.r = call ptr (ptr, ptr, ...) @PyErr_Format(ptr %f.exc, ptr @"{w}.fmt.arg", '
            f'ptr @"{w}.name", i32 %f.arg, ptr %f.msg)'
        )
        e("ret ptr null")
    e.label("fail.nargs")
    e("%n.exc = load ptr, ptr @PyExc_TypeError")
    e(
        f'%n.r = call ptr (ptr, ptr, ...) @PyErr_Format(ptr %n.exc, ptr @"{w}.fmt.nargs", '
        f'ptr @"{w}.name", i32 {n_args}, i64 %nargs)'
    )
    e("ret ptr null")


def _module_text(
    e: WrapperEmitter, entry_name: str, include_decls: bool, declare_entry: bool
) -> str:
    w = e.name
    strings = {
        f'@"{w}.name"': w,
        f'@"{w}.fmt.arg"': "%s(): argument %d: %s",
        f'@"{w}.fmt.nargs"': "%s() takes exactly %d arguments (%zd given)",
    }
    strings.update({name: text for text, name in e.consts.items()})
    out = [wrapper_runtime_decls()] if include_decls else []
    if declare_entry:
        out.append(f'declare void @"{entry_name}"(ptr, ptr)')
    for name, text in strings.items():
        size, lit = _c_string(text)
        out.append(f"{name} = private unnamed_addr constant [{size} x i8] {lit}")
    out.append("")
    out.extend(e.lines)
    return "\n".join(out) + "\n"


# ---------------------------------------------------------------------------------------
# Python side: the builtin (layout self-test and ctypes fallback: callpath/checks.py)
# ---------------------------------------------------------------------------------------


class PyMethodDef(ctypes.Structure):
    """CPython's ``PyMethodDef`` (plan's native entry makes its builtin from one too)."""

    _fields_ = [
        ("ml_name", ctypes.c_char_p),
        ("ml_meth", ctypes.c_void_p),
        ("ml_flags", ctypes.c_int),
        ("ml_doc", ctypes.c_char_p),
    ]


class NativeHolder:
    """``m_self`` of a native builtin: keeps its code and its PyMethodDef alive.

    CPython keeps a pointer to the PyMethodDef (not a copy) and calls into the
    CompiledModule's code, so both must live as long as the builtin; the builtin owns a
    reference to its ``m_self``, i.e. to this object.
    """

    __slots__ = ("__weakref__", "method_def", "module", "payload")

    def __init__(self, module: engine.CompiledModule, method_def: Any, payload: object) -> None:
        self.module = module
        self.method_def = method_def
        self.payload = payload


_new_cfunction = ctypes.pythonapi.PyCFunction_NewEx
_new_cfunction.restype = ctypes.py_object
_new_cfunction.argtypes = [ctypes.c_void_p, ctypes.py_object, ctypes.py_object]


def make_native_callable(
    compiled_module: engine.CompiledModule,
    wrapper_name: str,
    holder: object = None,
    *,
    name: str | None = None,
    doc: str | None = None,
) -> Callable[..., None]:
    """A builtin function calling the METH_FASTCALL wrapper ``wrapper_name``.

    ``holder`` is any object to keep alive with the callable (``fn.__self__.payload``).
    Raises RuntimeError when :func:`layout_selftest` failed (use :func:`ctypes_callable`).
    """
    if not layout_selftest():  # the wrapper would misread every array: refuse
        raise RuntimeError("PyArrayObject layout differs from the wrapper's; use ctypes_callable")
    address = compiled_module.address(wrapper_name)
    method_def = PyMethodDef(
        (name or wrapper_name).encode(),
        address,
        METH_FASTCALL,
        None if doc is None else doc.encode(),
    )
    self_obj = NativeHolder(compiled_module, method_def, holder)
    return _new_cfunction(ctypes.addressof(method_def), self_obj, None)


def make_shared_native_callable(
    compiled_module: engine.CompiledModule, wrapper_name: str, entry_address: int, keepalive: object
) -> Callable[..., None]:
    """A builtin calling the ``entry_from_self`` wrapper ``wrapper_name`` for the kernel
    entry at ``entry_address``: its ``m_self`` is that address (a Python int, what the
    wrapper reads), its ``m_module`` a NativeHolder keeping the wrapper's code, the
    PyMethodDef and ``keepalive`` (the kernel's module) alive.
    Raises RuntimeError when :func:`layout_selftest` failed (use :func:`ctypes_callable`).
    """
    if not layout_selftest():  # the wrapper would misread every array: refuse
        raise RuntimeError("PyArrayObject layout differs from the wrapper's; use ctypes_callable")
    if not entry_address:
        raise ValueError("a kernel entry address is never 0")
    address = compiled_module.address(wrapper_name)
    method_def = PyMethodDef(wrapper_name.encode(), address, METH_FASTCALL, None)
    holder = NativeHolder(compiled_module, method_def, keepalive)
    return _new_cfunction(ctypes.addressof(method_def), int(entry_address), holder)  # type: ignore[no-any-return]
