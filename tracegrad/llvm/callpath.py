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

Safety rules (``shared/notes/llvmlite.md`` section 4):

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
import operator
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import numpy as np

from tracegrad.llvm import engine

__all__ = [
    "PYARRAY_TYPE_SYMBOL",
    "ArgSpec",
    "Extent",
    "NativeHolder",
    "bind_extents",
    "ctypes_callable",
    "fastcall_wrapper_ir",
    "layout_selftest",
    "make_native_callable",
    "register_runtime_symbols",
    "wrapper_runtime_decls",
]

PYARRAY_TYPE_SYMBOL = "tracegrad_PyArray_Type"

# PyArrayObject_fields / PyArray_Descr offsets for a non-debug, GIL CPython (numpy 1.x
# and 2.x agree); verified at run time by layout_selftest().
OFF_OB_TYPE = 8
OFF_DATA = 16
OFF_ND = 24
OFF_DIMS = 32
OFF_DESCR = 56
OFF_FLAGS = 64
OFF_DESCR_BYTEORDER = 26
OFF_DESCR_TYPE_NUM = 28
NPY_C_CONTIGUOUS = 0x1
NPY_ALIGNED = 0x100
NPY_WRITEABLE = 0x400
METH_FASTCALL = 0x80


@dataclass(frozen=True)
class Extent:
    """A runtime dimension bound to ``extents[slot]`` by its first occurrence."""

    slot: int


Dim = int | Extent


@dataclass(frozen=True)
class ArgSpec:
    """What one array argument must look like for the kernel to run on it directly."""

    type_num: int  # numpy type number of the dtype (np.dtype(...).num)
    ndim: int
    dims: tuple[Dim, ...]
    writeable: bool = False  # outputs

    def __post_init__(self) -> None:
        dims = tuple(_normalize_dim(d) for d in self.dims)
        object.__setattr__(self, "dims", dims)  # numpy ints become ints
        if len(dims) != self.ndim:
            raise ValueError(f"ArgSpec: {len(dims)} dims given for ndim={self.ndim}")
        _dtype_of(self.type_num)  # raises for unknown type numbers

    @classmethod
    def of(cls, dtype: Any, dims: Sequence[Dim], *, writeable: bool = False) -> ArgSpec:
        """Build from a numpy dtype (or anything np.dtype accepts)."""
        return cls(np.dtype(dtype).num, len(dims), tuple(dims), writeable)

    @property
    def itemsize(self) -> int:
        return _dtype_of(self.type_num).itemsize


def _normalize_dim(d: object) -> Dim:
    if isinstance(d, Extent):
        if d.slot < 0:
            raise ValueError(f"ArgSpec: negative extent slot {d!r}")
        return d
    if isinstance(d, bool) or not hasattr(d, "__index__"):
        raise TypeError(f"ArgSpec: dim {d!r} is neither an int nor an Extent")
    n = operator.index(d)
    if n < 0:
        raise ValueError(f"ArgSpec: negative dim {n}")
    return n


@cache
def _type_table() -> dict[int, np.dtype]:
    table: dict[int, np.dtype] = {}
    for code in np.typecodes["All"]:
        dt = np.dtype(code)
        if dt.itemsize > 0 and dt.kind in "biufc":
            table.setdefault(dt.num, dt)
    return table


def _dtype_of(type_num: int) -> np.dtype:
    try:
        return _type_table()[type_num]
    except KeyError:
        raise ValueError(f"unsupported numpy type number {type_num}") from None


@cache
def accepted_type_nums(type_num: int) -> tuple[int, ...]:
    """Type numbers with the same kind and size (e.g. NPY_LONG and NPY_LONGLONG)."""
    want = _dtype_of(type_num)
    return tuple(
        sorted(
            num
            for num, dt in _type_table().items()
            if dt.kind == want.kind and dt.itemsize == want.itemsize
        )
    )


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


class _Emitter:
    """Accumulates the wrapper body and the (label, reason) edges into the fail block."""

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.lines: list[str] = []
        self.consts: dict[str, str] = {}  # message text -> global name
        self.fails: list[tuple[str, int, str]] = []  # (block label, arg index, message global)

    def __call__(self, line: str) -> None:
        self.lines.append("  " + line)

    def label(self, name: str) -> None:
        self.lines.append(f"{name}:")

    def message(self, text: str) -> str:
        if text not in self.consts:
            self.consts[text] = f'@"{self.prefix}.msg{len(self.consts)}"'
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


def _check_name(name: str) -> None:
    if not name or any(c in name for c in '"\\\n') or not name.isascii():
        raise ValueError(f"invalid LLVM symbol name {name!r}")


def _emit_arg(e: _Emitter, i: int, spec: ArgSpec, bound: dict[int, str], nxt: str) -> list[str]:
    """Checks for argument ``i``; returns the SSA names of its dims. Ends with a br."""
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
        _dtype_msg(spec),
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
    e(f"%{a}.buf = getelementptr ptr, ptr %bufs, i64 {i}")
    e(f"store ptr {data}, ptr %{a}.buf")
    e.check(_fold(e, f"{a}.shok", "and", dims[1]), f"{a}.shape", nxt, i, _shape_msg(spec))
    return dims[0]


def _emit_dims(
    e: _Emitter, a: str, spec: ArgSpec, bound: dict[int, str]
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


def _fold(e: _Emitter, name: str, op: str, conds: list[str]) -> str:
    """Combine i1 values with ``op`` (and/or); ``true`` when there are none."""
    if not conds:
        return "true"
    acc = conds[0]
    for k, c in enumerate(conds[1:]):
        e(f"%{name}.{op}{k} = {op} i1 {acc}, {c}")
        acc = f"%{name}.{op}{k}"
    return acc


def _dtype_msg(spec: ArgSpec) -> str:
    return f"expected dtype {_dtype_of(spec.type_num).name} in native byte order"


def _shape_msg(spec: ArgSpec) -> str:
    dims = ", ".join(str(d) if isinstance(d, int) else f"n{d.slot}" for d in spec.dims)
    return f"expected shape ({dims})"


def _emit_overlap(e: _Emitter, specs: tuple[ArgSpec, ...], dims_of: list[list[str]]) -> None:
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


def _check_slots(specs: tuple[ArgSpec, ...], n_extents: int) -> None:
    slots = {d.slot for s in specs for d in s.dims if isinstance(d, Extent)}
    bad = sorted(s for s in slots if s >= n_extents)
    unbound = sorted(set(range(n_extents)) - slots)
    if bad or unbound:
        raise ValueError(
            f"extent slots out of range {bad} or never bound {unbound} (n_extents={n_extents})"
        )


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
) -> str:
    """LLVM IR of ``ptr @wrapper(ptr self, ptr args, i64 nargs)`` (METH_FASTCALL).

    The wrapper checks each argument against its spec, fills ``buffers`` and
    ``extents`` on its stack, calls ``void @entry(ptr, ptr)`` (with the GIL released if
    ``release_gil``; worth it only for big kernels, it costs about 45 ns) and returns
    None. On any mismatch it raises TypeError. ``check_overlap`` also rejects outputs
    that share memory with another argument. ``declare_entry``: the entry is defined in
    another module. ``include_decls=False`` leaves out :func:`wrapper_runtime_decls`,
    for modules holding several wrappers.
    """
    _check_name(wrapper_name)
    _check_name(entry_name)
    specs = tuple(arg_specs)
    _check_slots(specs, n_extents)
    register_runtime_symbols()
    e = _Emitter(wrapper_name)
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
        dims_of.append(_emit_arg(e, i, spec, bound, nxt))
    if check_overlap:
        e.label("alias")
        _emit_overlap(e, specs, dims_of)
    _emit_call(e, entry_name, release_gil)
    _emit_fail(e, len(specs))
    e.lines.append("}")
    return _module_text(e, entry_name, include_decls, declare_entry)


def _emit_call(e: _Emitter, entry_name: str, release_gil: bool) -> None:
    e.label("call")
    if release_gil:
        e("%tstate = call ptr @PyEval_SaveThread()")
    e(f'call void @"{entry_name}"(ptr %bufs, ptr %ext)')
    if release_gil:
        e("call void @PyEval_RestoreThread(ptr %tstate)")
    e("call void @Py_IncRef(ptr @_Py_NoneStruct)")
    e("ret ptr @_Py_NoneStruct")


def _emit_fail(e: _Emitter, n_args: int) -> None:
    w = e.prefix
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


def _module_text(e: _Emitter, entry_name: str, include_decls: bool, declare_entry: bool) -> str:
    w = e.prefix
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
# Python side: the builtin, the layout self-test, the ctypes fallback
# ---------------------------------------------------------------------------------------


class _PyMethodDef(ctypes.Structure):
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
    method_def = _PyMethodDef(
        (name or wrapper_name).encode(),
        address,
        METH_FASTCALL,
        None if doc is None else doc.encode(),
    )
    self_obj = NativeHolder(compiled_module, method_def, holder)
    return _new_cfunction(ctypes.addressof(method_def), self_obj, None)


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
    _check_slots(specs, n_extents)
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
        raise TypeError(f"argument {i}: dtype {a.dtype.str}, expected {_dtype_msg(spec)}")
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
        _check_slots(specs, n_extents)

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
