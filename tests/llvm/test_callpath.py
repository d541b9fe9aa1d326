"""Tests of the native call path: the IR METH_FASTCALL wrapper and the ctypes fallback."""

from __future__ import annotations

import gc
import sys
import threading
import time
import weakref

import numpy as np
import pytest
from _engine_util import disk_cache_off, uniq  # noqa: E402
from hypothesis import given, settings
from hypothesis import strategies as st

from tracegrad.llvm.callpath.wrapper import (
    ArgSpec,
    Extent,
    bind_extents,
    ctypes_callable,
    fastcall_wrapper_ir,
    layout_selftest,
    make_native_callable,
    wrapper_runtime_decls,
)
from tracegrad.llvm.machine import engine

E0, E1 = Extent(0), Extent(1)


@pytest.fixture(autouse=True, scope="module")
def _no_disk_cache():
    with disk_cache_off():
        yield


def load_ptr(dst: str, index: int) -> str:
    return (
        f"  %{dst}.g = getelementptr ptr, ptr %bufs, i64 {index}\n"
        f"  %{dst} = load ptr, ptr %{dst}.g\n"
    )


def fma_entry_ir(name: str) -> str:
    """out[i] = a[i] * b[i] + c[i], i < extents[0]; buffers (a, b, c, out)."""
    loads = "".join(load_ptr(p, k) for k, p in enumerate(["pa", "pb", "pc", "po"]))
    return f"""
define void @{name}(ptr noalias %bufs, ptr noalias %ext) {{
entry:
  %n = load i64, ptr %ext
{loads}  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %xa = getelementptr double, ptr %pa, i64 %i
  %a = load double, ptr %xa
  %xb = getelementptr double, ptr %pb, i64 %i
  %b = load double, ptr %xb
  %xc = getelementptr double, ptr %pc, i64 %i
  %c = load double, ptr %xc
  %m = fmul double %a, %b
  %r = fadd double %m, %c
  %xo = getelementptr double, ptr %po, i64 %i
  store double %r, ptr %xo
  %i1 = add i64 %i, 1
  %d = icmp eq i64 %i1, %n
  br i1 %d, label %done, label %loop
done:
  ret void
}}
"""


def affine2d_entry_ir(name: str) -> str:
    """out[i, j] = x[i, j] * w[j] + s[0]; x, out: (n0, n1), w: (n1,), s: (3,)."""
    loads = "".join(load_ptr(p, k) for k, p in enumerate(["px", "pw", "ps", "po"]))
    return f"""
define void @{name}(ptr noalias %bufs, ptr noalias %ext) {{
entry:
  %n0 = load i64, ptr %ext
  %e1 = getelementptr i64, ptr %ext, i64 1
  %n1 = load i64, ptr %e1
{loads}  %s = load double, ptr %ps
  %total = mul i64 %n0, %n1
  %empty = icmp sle i64 %total, 0
  br i1 %empty, label %done, label %loop
loop:
  %k = phi i64 [ 0, %entry ], [ %k1, %loop ]
  %j = urem i64 %k, %n1
  %xx = getelementptr double, ptr %px, i64 %k
  %x = load double, ptr %xx
  %xw = getelementptr double, ptr %pw, i64 %j
  %w = load double, ptr %xw
  %m = fmul double %x, %w
  %r = fadd double %m, %s
  %xo = getelementptr double, ptr %po, i64 %k
  store double %r, ptr %xo
  %k1 = add i64 %k, 1
  %d = icmp eq i64 %k1, %total
  br i1 %d, label %done, label %loop
done:
  ret void
}}
"""


FMA_SPECS = (
    ArgSpec.of(np.float64, [E0]),
    ArgSpec.of(np.float64, [E0]),
    ArgSpec.of(np.float64, [E0]),
    ArgSpec.of(np.float64, [E0], writeable=True),
)
AFFINE_SPECS = (
    ArgSpec.of(np.float64, [E0, E1]),
    ArgSpec.of(np.float64, [E1]),
    ArgSpec.of(np.float64, [3]),
    ArgSpec.of(np.float64, [E0, E1], writeable=True),
)


def build(entry_ir, specs, n_extents, **flags):
    """Compile an entry plus its wrapper; returns (module, entry name, builtin)."""
    entry, wrapper = uniq("entry"), uniq("wrap")
    ir = entry_ir(entry) + fastcall_wrapper_ir(wrapper, entry, specs, n_extents, **flags)
    mod = engine.compile_module(ir, name_hint=wrapper, exports=[entry, wrapper])
    return mod, entry, make_native_callable(mod, wrapper)


@pytest.fixture(scope="module")
def fma():
    return build(fma_entry_ir, FMA_SPECS, 1)[2]


@pytest.fixture(scope="module")
def affine():
    return build(affine2d_entry_ir, AFFINE_SPECS, 2)[2]


def rand(*shape, seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


def test_layout_selftest_passes_here():
    assert layout_selftest()


@pytest.mark.parametrize("n", [0, 1, 7, 1000])
def test_fma_matches_numpy(fma, n):
    a, b, c = rand(n, seed=1), rand(n, seed=2), rand(n, seed=3)
    out = np.full(n, np.nan)
    assert fma(a, b, c, out) is None
    np.testing.assert_array_equal(out, a * b + c)


def test_affine2d_matches_numpy(affine):
    x, w, s = rand(5, 6), rand(6, seed=4), np.array([0.5, 9.0, 9.0])
    out = np.empty((5, 6))
    affine(x, w, s, out)
    np.testing.assert_array_equal(out, x * w + 0.5)


def test_relaxed_contiguity_size_one_dims(affine):
    # A size-1 dim with an odd stride is still C-contiguous for numpy.
    x = rand(6, 4)[::5][:1]
    assert x.flags.c_contiguous and x.strides[0] != 32
    out = np.empty((1, 4))
    w = rand(4, seed=9)
    affine(x, w, np.zeros(3), out)
    np.testing.assert_array_equal(out, x * w)


def bad_calls():
    a = rand(8)
    o = np.empty(8)
    frozen = np.empty(8)
    frozen.flags.writeable = False

    class Sub(np.ndarray):
        pass

    unaligned = np.zeros(8 * 8 + 1, np.uint8)[1:].view(np.float64)
    base = rand(9)
    return {
        "list": ([1.0] * 8, a, a, o),
        "scalar": (1.0, a, a, o),
        "none": (None, a, a, o),
        "subclass": (a.view(Sub), a, a, o),
        "float32": (a.astype(np.float32), a, a, o),
        "int64": (a.astype(np.int64), a, a, o),
        "big-endian": (a.astype(">f8"), a, a, o),
        "2-d": (a.reshape(2, 4), a, a, o),
        "0-d": (np.float64(1.0) + np.zeros(()), a, a, o),
        "strided": (rand(16)[::2], a, a, o),
        "unaligned": (unaligned, a, a, o),
        "read-only output": (a, a, a, frozen),
        "mismatched extents": (a, a, rand(9), o),
        "mismatched output": (a, a, a, np.empty(7)),
        "output aliases input": (a, a, a, a),
        "output overlaps input": (base[:8], a, a, base[1:]),
        "too few": (a, a, a),
        "too many": (a, a, a, o, o),
        "none at all": (),
    }


@pytest.mark.parametrize("case", sorted(bad_calls()))
def test_rejections_raise_type_error(fma, case):
    args = bad_calls()[case]
    with pytest.raises(TypeError):
        fma(*args)
    # The Python mirror rejects the same calls (with a precise message).
    with pytest.raises(TypeError):
        bind_extents(FMA_SPECS, 1, args)


def test_rejection_messages_name_the_argument(fma):
    a, o = rand(8), np.empty(8)
    with pytest.raises(TypeError, match=r"argument 2: expected dtype float64"):
        fma(a, a, a.astype(np.float32), o)
    with pytest.raises(TypeError, match=r"takes exactly 4 arguments \(2 given\)"):
        fma(a, a)
    with pytest.raises(TypeError, match="keyword"):
        fma(a, a, a, out=o)


def test_fixed_dim_and_second_extent_checked(affine):
    x, out = rand(2, 3), np.empty((2, 3))
    with pytest.raises(TypeError, match="argument 2"):
        affine(x, rand(3), np.zeros(4), out)  # fixed dim 3
    with pytest.raises(TypeError, match="argument 1"):
        affine(x, rand(4), np.zeros(3), out)  # extent 1 bound to 3 by x
    with pytest.raises(TypeError, match="argument 3"):
        affine(x, rand(3), np.zeros(3), np.empty((3, 2)))


def test_longlong_is_accepted_for_int64():
    specs = (ArgSpec.of(np.int64, [E0]), ArgSpec.of(np.int64, [E0], writeable=True))
    copy_ir = lambda name: (
        f"""
define void @{name}(ptr %bufs, ptr %ext) {{
  %n = load i64, ptr %ext
{load_ptr("src", 0)}{load_ptr("dst", 1)}  %bytes = mul i64 %n, 8
  call void @llvm.memcpy.p0.p0.i64(ptr %dst, ptr %src, i64 %bytes, i1 false)
  ret void
}}
declare void @llvm.memcpy.p0.p0.i64(ptr, ptr, i64, i1)
"""
    )
    _, _, copy = build(copy_ir, specs, 1)
    src = np.arange(5, dtype=np.longlong)
    assert src.dtype.num != np.dtype(np.int64).num
    dst = np.zeros(5, np.int64)
    copy(src, dst)
    np.testing.assert_array_equal(dst, src)
    with pytest.raises(TypeError):
        copy(src.astype(np.uint64), dst)


def test_refcounts_stay_balanced(fma):
    a, o = rand(8), np.empty(8)
    bad = a.astype(np.float32)
    refs = [sys.getrefcount(x) for x in (None, a, o, bad)]
    for _ in range(10_000):
        fma(a, a, a, o)
    for _ in range(10_000):
        try:
            fma(a, a, bad, o)
        except TypeError:
            pass
    assert [sys.getrefcount(x) for x in (None, a, o, bad)] == refs


def test_dropping_the_builtin_frees_holder_and_payload():
    class Payload:
        pass

    mod, entry, _ = build(fma_entry_ir, FMA_SPECS, 1)
    wrapper = next(s for s in mod.symbols if s != entry)
    payload = Payload()
    fn = make_native_callable(mod, wrapper, payload, name="fma_kernel")
    assert fn.__name__ == "fma_kernel"
    holder, seen = weakref.ref(fn.__self__), weakref.ref(payload)
    assert fn.__self__.payload is payload and fn.__self__.module is mod
    del payload
    a = rand(4)
    fn(a, a, a, np.empty(4))
    del fn
    gc.collect()
    assert holder() is None and seen() is None


def test_ctypes_fallback_matches_and_checks():
    mod, entry, _ = build(fma_entry_ir, FMA_SPECS, 1)
    a, b, c = rand(50, seed=5), rand(50, seed=6), rand(50, seed=7)
    out = np.empty(50)
    raw = ctypes_callable(mod.address(entry), 4, 1, keepalive=mod)
    raw([a, b, c, out], [50])
    np.testing.assert_array_equal(out, a * b + c)
    checked = ctypes_callable(mod.address(entry), 4, 1, arg_specs=FMA_SPECS, keepalive=mod)
    out2 = np.empty(50)
    checked([a, b, c, out2])
    np.testing.assert_array_equal(out2, out)
    for args in bad_calls().values():
        if len(args) == 4 and all(type(x) is np.ndarray for x in args):
            with pytest.raises(TypeError):
                checked(list(args))
    with pytest.raises(TypeError):
        raw([a, b, c], [50])


def test_runtime_decls_can_be_shared_by_several_wrappers():
    entry, w1, w2 = uniq("entry"), uniq("w"), uniq("w")
    ir = (
        fma_entry_ir(entry)
        + wrapper_runtime_decls()
        + fastcall_wrapper_ir(w1, entry, FMA_SPECS, 1, include_decls=False)
        + fastcall_wrapper_ir(w2, entry, FMA_SPECS, 1, include_decls=False, release_gil=True)
    )
    mod = engine.compile_module(ir, name_hint=w1, exports=[w1, w2])
    a = rand(10)
    for w in (w1, w2):
        out = np.empty(10)
        make_native_callable(mod, w)(a, a, a, out)
        np.testing.assert_array_equal(out, a * a + a)


def test_entry_in_another_module():
    entry, wrapper = uniq("entry"), uniq("wrap")
    mod_entry = engine.compile_module(fma_entry_ir(entry), name_hint=entry)
    ir = fastcall_wrapper_ir(wrapper, entry, FMA_SPECS, 1, declare_entry=True)
    mod = engine.compile_module(ir, name_hint=wrapper)
    fn = make_native_callable(mod, wrapper, mod_entry)  # keep the entry's module too
    a, out = rand(6), np.empty(6)
    fn(a, a, a, out)
    np.testing.assert_array_equal(out, a * a + a)


def test_spec_validation():
    with pytest.raises(ValueError):
        ArgSpec(12, 2, (E0,))
    with pytest.raises(TypeError):
        ArgSpec(12, 1, (2.0,))
    with pytest.raises(ValueError):
        ArgSpec(999, 0, ())
    with pytest.raises(ValueError):
        ArgSpec(12, 1, (-1,))
    assert ArgSpec.of(np.float64, [np.int64(3)]).dims == (3,)
    with pytest.raises(ValueError, match="never bound"):
        fastcall_wrapper_ir("w", "e", FMA_SPECS, 2)
    with pytest.raises(ValueError, match="out of range"):
        fastcall_wrapper_ir("w", "e", (ArgSpec.of(np.float64, [Extent(3)]),), 1)
    with pytest.raises(ValueError):
        fastcall_wrapper_ir('w"', "e", FMA_SPECS, 1)


SPIN_LIMIT = 20_000_000


def spin_entry_ir(name: str) -> str:
    """Sets cells[1] = 1, then spins until flag[0] != 0 (or SPIN_LIMIT rounds);
    stores the rounds spun in cells[0]. buffers = (flag, cells)."""
    return f"""
declare void @llvm.x86.sse2.pause()
define void @{name}(ptr %bufs, ptr %ext) {{
entry:
{load_ptr("flag", 0)}{load_ptr("cells", 1)}  %started = getelementptr i64, ptr %cells, i64 1
  store atomic i64 1, ptr %started release, align 8
  br label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %body ]
  %f = load atomic i64, ptr %flag acquire, align 8
  %set = icmp ne i64 %f, 0
  %end = icmp eq i64 %i, {SPIN_LIMIT}
  %stop = or i1 %set, %end
  br i1 %stop, label %done, label %body
body:
  call void @llvm.x86.sse2.pause()
  %i1 = add i64 %i, 1
  br label %loop
done:
  store i64 %i, ptr %cells
  ret void
}}
"""


@pytest.mark.parametrize("release_gil", [True, False])
def test_release_gil_lets_python_run_during_the_kernel(release_gil):
    specs = (ArgSpec.of(np.int64, [1]), ArgSpec.of(np.int64, [2], writeable=True))
    _, _, spin = build(spin_entry_ir, specs, 0, release_gil=release_gil)
    flag, cells = np.zeros(1, np.int64), np.zeros(2, np.int64)
    worker = threading.Thread(target=spin, args=(flag, cells))
    worker.start()
    while cells[1] == 0:  # needs the GIL: blocks until the kernel ends if it is held
        time.sleep(0)
    flag[0] = 1
    worker.join()
    # With the GIL released, Python stops the spin early; held, the spin runs out.
    assert (cells[0] < SPIN_LIMIT) == release_gil


# Property: the IR wrapper and the Python mirror agree on every input.

PROBE_SPECS = (
    ArgSpec.of(np.float64, [E0, E1]),
    ArgSpec.of(np.int64, [E1]),
    ArgSpec.of(np.float32, [E0, 2], writeable=True),
)


def probe_entry_ir(name: str) -> str:
    """Copies extents[0:2] into out[0, 0:2] (as float32) when out is non-empty."""
    return f"""
define void @{name}(ptr %bufs, ptr %ext) {{
entry:
  %n0 = load i64, ptr %ext
  %g1 = getelementptr i64, ptr %ext, i64 1
  %n1 = load i64, ptr %g1
{load_ptr("out", 2)}  %empty = icmp eq i64 %n0, 0
  br i1 %empty, label %done, label %write
write:
  %f0 = sitofp i64 %n0 to float
  %f1 = sitofp i64 %n1 to float
  store float %f0, ptr %out
  %o1 = getelementptr float, ptr %out, i64 1
  store float %f1, ptr %o1
  br label %done
done:
  ret void
}}
"""


@pytest.fixture(scope="module")
def probe():
    return build(probe_entry_ir, PROBE_SPECS, 2)[2]


MUTATIONS = (
    "dtype",
    "byteorder",
    "ndim",
    "dim",
    "strided",
    "fortran",
    "readonly",
    "subclass",
    "list",
    "nargs",
    "overlap",
)


def mutate(draw, args: list, what: str) -> list:
    k = draw(st.integers(0, len(args) - 1))
    a = args[k]
    if what == "dtype":
        args[k] = a.astype(draw(st.sampled_from([np.float32, np.float64, np.int32, np.longlong])))
    elif what == "byteorder":
        args[k] = a.astype(a.dtype.newbyteorder(">"))
    elif what == "ndim":
        args[k] = a[..., None] if draw(st.booleans()) else a.reshape(-1)
    elif what == "dim" and a.ndim:
        shape = list(a.shape)
        shape[draw(st.integers(0, a.ndim - 1))] = draw(st.integers(0, 4))
        args[k] = np.zeros(shape, a.dtype)
    elif what == "strided" and a.ndim:
        args[k] = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)[..., ::2]
    elif what == "fortran":
        args[k] = np.asfortranarray(a)
    elif what == "readonly":
        a.flags.writeable = False
    elif what == "subclass":
        args[k] = a.view(np.recarray)
    elif what == "list":
        args[k] = a.tolist()
    elif what == "nargs":
        del args[k]
    elif what == "overlap" and len(args) == 3:  # out becomes a view of x's memory
        if args[0].flags.c_contiguous and args[0].dtype.itemsize in (4, 8):
            flat = args[0].reshape(-1).view(np.float32)
            if flat.size >= args[2].size:
                args[2] = flat[: args[2].size].reshape(args[2].shape)
    return args


@st.composite
def probe_args(draw):
    n0, n1 = draw(st.integers(0, 3)), draw(st.integers(0, 3))
    args = [
        np.zeros((n0, n1)),
        np.zeros(n1, draw(st.sampled_from([np.int64, np.longlong]))),
        np.zeros((n0, 2), np.float32),
    ]
    for what in draw(st.lists(st.sampled_from(MUTATIONS), max_size=2)):
        if all(isinstance(a, np.ndarray) for a in args):
            args = mutate(draw, args, what)
    return args


@settings(max_examples=300, deadline=None)
@given(probe_args())
def test_wrapper_agrees_with_python_mirror(probe, args):
    try:
        extents = bind_extents(PROBE_SPECS, 2, args)
    except TypeError:
        with pytest.raises(TypeError):
            probe(*args)
        return
    probe(*args)
    if extents[0]:
        assert tuple(args[2][0]) == extents


def test_report_call_overhead(fma, capsys):
    a, o = np.ones(8), np.empty(8)
    mod, entry, _ = build(fma_entry_ir, FMA_SPECS, 1)
    raw = ctypes_callable(mod.address(entry), 4, 1, keepalive=mod)

    def per_call(f, args, n):
        best = float("inf")
        for _ in range(3):
            t = time.perf_counter()
            for _ in range(n):
                f(*args)
            best = min(best, (time.perf_counter() - t) / n)
        return best * 1e9

    native = per_call(fma, (a, a, a, o), 20_000)
    fallback = per_call(raw, ([a, a, a, o], [8]), 2_000)
    with capsys.disabled():
        print(f"\n  native wrapper {native:.0f} ns/call, ctypes fallback {fallback:.0f} ns/call")
