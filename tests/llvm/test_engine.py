"""Tests of the JIT engine: compile, load, symbol checks, levels, memory cache, threads."""

from __future__ import annotations

import ctypes
import threading

import numpy as np
import pytest
from _engine_util import disk_cache_off, uniq  # noqa: E402

from tracegrad.llvm.machine import cache, engine

ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


@pytest.fixture(autouse=True)
def _no_disk_cache():
    with disk_cache_off():
        yield


def axpy_ir(name: str, scale: float = 2.0) -> str:
    """out[i] = scale * a[i] + b[i] for i < extents[0]; buffers = (a, b, out)."""
    return f"""
define void @{name}(ptr noalias %bufs, ptr noalias %ext) {{
entry:
  %n = load i64, ptr %ext
  %pa = load ptr, ptr %bufs
  %gb = getelementptr ptr, ptr %bufs, i64 1
  %pb = load ptr, ptr %gb
  %go = getelementptr ptr, ptr %bufs, i64 2
  %po = load ptr, ptr %go
  %empty = icmp sle i64 %n, 0
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [ 0, %entry ], [ %i1, %loop ]
  %xa = getelementptr double, ptr %pa, i64 %i
  %a = load double, ptr %xa
  %xb = getelementptr double, ptr %pb, i64 %i
  %b = load double, ptr %xb
  %m = fmul double %a, {scale:e}
  %r = fadd double %m, %b
  %xo = getelementptr double, ptr %po, i64 %i
  store double %r, ptr %xo
  %i1 = add i64 %i, 1
  %d = icmp eq i64 %i1, %n
  br i1 %d, label %done, label %loop
done:
  ret void
}}
"""


def call_axpy(address: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    out = np.empty_like(a)
    bufs = (ctypes.c_void_p * 3)(a.ctypes.data, b.ctypes.data, out.ctypes.data)
    ext = (ctypes.c_int64 * 1)(a.size)
    ENTRY(address)(bufs, ext)
    return out


@pytest.mark.parametrize("opt_level", [0, 1, 2, 3])
def test_compile_and_call_every_level(opt_level):
    name = uniq("axpy")
    mod = engine.compile_module(axpy_ir(name), opt_level=opt_level, name_hint=name, exports=[name])
    a, b = np.random.default_rng(0).random((2, 1001))
    np.testing.assert_array_equal(call_axpy(mod.address(name), a, b), 2.0 * a + b)
    assert mod.stats.source == "compiled"
    assert mod.codegen_level == opt_level
    # O0 skips the IR pipeline entirely.
    assert (mod.stats.optimize_s == 0.0) == (opt_level == 0)


def test_o3_vectorizes_and_exposes_ir_and_asm():
    name = uniq("axpy")
    mod = engine.compile_module(axpy_ir(name), name_hint=name, exports=[name])
    assert "<4 x double>" in mod.llvm_ir or "<8 x double>" in mod.llvm_ir
    assert "%ymm" in mod.asm or "%zmm" in mod.asm
    assert f"{name}:" in mod.asm


def test_o0_does_not_vectorize():
    name = uniq("axpy")
    mod = engine.compile_module(axpy_ir(name), opt_level=0, name_hint=name)
    assert "x double>" not in mod.llvm_ir
    assert "vfmadd" not in mod.asm and "pd\t%ymm" not in mod.asm


def test_same_ir_is_loaded_once():
    name = uniq("axpy")
    ir = axpy_ir(name)
    before = cache.cache_info()
    first = engine.compile_module(ir, name_hint=name)
    second = engine.compile_module(ir, name_hint="other hint", exports=[name])
    after = cache.cache_info()
    assert second is first
    assert after.memory_hits == before.memory_hits + 1
    assert after.misses == before.misses + 1


def test_same_ir_at_another_level_may_redefine_its_symbols():
    # Tiered compilation: O0 first, O3 later, both usable side by side.
    name = uniq("axpy")
    ir = axpy_ir(name)
    fast = engine.compile_module(ir, opt_level=0, name_hint=name)
    good = engine.compile_module(ir, opt_level=3, name_hint=name)
    assert good is not fast and good.address(name) != fast.address(name)
    a, b = np.arange(9.0), np.ones(9)
    for mod in (fast, good):
        np.testing.assert_array_equal(call_axpy(mod.address(name), a, b), 2 * a + b)


def test_duplicate_symbol_from_other_ir_is_refused_and_old_code_survives():
    name = uniq("axpy")
    mod = engine.compile_module(axpy_ir(name, 2.0), name_hint=name)
    with pytest.raises(engine.DuplicateSymbolError):
        engine.compile_module(axpy_ir(name, 3.0), name_hint=name)
    a = b = np.ones(5)
    np.testing.assert_array_equal(call_axpy(mod.address(name), a, b), 3.0 * a)


def test_verifier_message_is_shown():
    name = uniq("bad")
    body = "entry:\n  %x = add i32 %y, 1\n  %y = add i32 1, 1\n  ret i32 %x\n"
    ir = f"define i32 @{name}() {{\n{body}}}\n"
    with pytest.raises(engine.LLVMCompileError, match="does not verify") as info:
        engine.compile_module(ir, name_hint=name)
    assert "dominate" in str(info.value)


def test_parse_error_is_a_python_error():
    with pytest.raises(engine.LLVMCompileError, match="does not parse"):
        engine.compile_module("define void @f( {", name_hint="broken")


def test_unresolved_external_symbol_is_refused_before_loading():
    name, missing = uniq("calls"), uniq("no_such_function")
    body = f"  call void @{missing}()\n  ret void\n"
    ir = f"declare void @{missing}()\ndefine void @{name}() {{\n{body}}}\n"
    with pytest.raises(engine.UnresolvedSymbolError, match=missing):
        engine.compile_module(ir, name_hint=name)
    # Nothing was loaded, so the name is still free for a correct module.
    ok = f"define void @{name}() {{\n  ret void\n}}\n"
    assert engine.compile_module(ok, name_hint=name).address(name) != 0


def test_missing_export_is_refused():
    name = uniq("axpy")
    with pytest.raises(engine.LLVMCompileError, match="does not define"):
        engine.compile_module(axpy_ir(name), name_hint=name, exports=[name, "nope"])


def test_unknown_symbol_lookup_raises():
    name = uniq("axpy")
    mod = engine.compile_module(axpy_ir(name), name_hint=name)
    assert mod.symbols == (name,)
    with pytest.raises(KeyError):
        mod.address("not_there")


def test_process_libm_symbols_resolve():
    name = uniq("callexp")
    ir = (
        "declare double @exp(double)\n"
        f"define double @{name}(double %x) {{\n  %r = call double @exp(double %x)\n"
        "  ret double %r\n}\n"
    )
    mod = engine.compile_module(ir, name_hint=name, exports=[name])
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(mod.address(name))
    assert f(1.0) == np.exp(1.0)


def test_registered_symbol_is_used_instead_of_an_embedded_address():
    cell = ctypes.c_double(0.0)
    sym, name = uniq("tg_test_cell"), uniq("store")
    engine.register_symbol(sym, ctypes.addressof(cell))
    engine.register_symbol(sym, ctypes.addressof(cell))  # same address: fine
    with pytest.raises(ValueError, match="already registered"):
        engine.register_symbol(sym, ctypes.addressof(cell) + 8)
    ir = (
        f"@{sym} = external global double\n"
        f"define void @{name}(double %x) {{\n  store double %x, ptr @{sym}\n  ret void\n}}\n"
    )
    mod = engine.compile_module(ir, name_hint=name)
    ctypes.CFUNCTYPE(None, ctypes.c_double)(mod.address(name))(4.5)
    assert cell.value == 4.5
    assert sym in engine.registered_symbols()


def test_bad_levels_are_rejected():
    with pytest.raises(ValueError):
        engine.compile_module("", opt_level=4, name_hint="x")
    with pytest.raises(ValueError):
        engine.compile_module("", codegen_level=-1, name_hint="x")


def test_concurrent_compiles_from_threads():
    names = [uniq("axpy") for _ in range(6)]
    results: dict[str, engine.CompiledModule] = {}
    errors: list[BaseException] = []

    def work(name: str) -> None:
        try:
            results[name] = engine.compile_module(axpy_ir(name), name_hint=name)
        except BaseException as exc:  # noqa: BLE001 -- re-raised by the assert below
            errors.append(exc)

    shared = uniq("axpy")  # several threads compile the very same IR
    threads = [threading.Thread(target=work, args=(n,)) for n in names + [shared] * 3]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    a, b = np.arange(7.0), np.ones(7)
    for name in names + [shared]:
        np.testing.assert_array_equal(call_axpy(results[name].address(name), a, b), 2 * a + b)


def test_host_info():
    host = engine.host_info()
    assert host.cpu and host.triple.startswith("x86_64")
    assert "+sse2" in host.features
    assert host.llvm_version.count(".") == 2


def test_elf_symbols_rejects_garbage():
    for blob in (b"", b"garbage" * 20, b"\x7fELF\x02\x01" + b"\0" * 58):
        with pytest.raises(ValueError):
            engine.elf_symbols(blob)


def test_elf_symbols_of_real_object():
    name = uniq("axpy")
    callee = uniq("ext")
    ir = axpy_ir(name) + f"declare void @{callee}()\n@keep = global ptr @{callee}\n"
    with engine.LLVM_LOCK:
        mod = engine.optimize_ir(ir, 0)
        obj = engine.emit_target_machine(0).emit_object(mod)
    syms = engine.elf_symbols(obj)
    assert syms.defined == {name, "keep"}
    assert syms.undefined == {callee}
    # A truncated object is rejected instead of crashing MCJIT.
    with pytest.raises(ValueError):
        engine.elf_symbols(obj[: len(obj) // 2])


# ---------------------------------------------------------------------------------------
# tracegrad.llvm.runtime.threads (kept in this file: the brief assigns only three test files)
# ---------------------------------------------------------------------------------------


def rows_ir(name: str) -> str:
    """Row kernel: out[k] = a[k] * b[k] + a[k] / b[k] for k in [start*n, stop*n), n = ext[0]."""
    return f"""
define void @{name}(ptr noalias %bufs, ptr noalias %ext, i64 %start, i64 %stop) {{
entry:
  %n = load i64, ptr %ext
  %pa = load ptr, ptr %bufs
  %gb = getelementptr ptr, ptr %bufs, i64 1
  %pb = load ptr, ptr %gb
  %go = getelementptr ptr, ptr %bufs, i64 2
  %po = load ptr, ptr %go
  %lo = mul i64 %start, %n
  %hi = mul i64 %stop, %n
  %empty = icmp sge i64 %lo, %hi
  br i1 %empty, label %done, label %loop
loop:
  %k = phi i64 [ %lo, %entry ], [ %k1, %loop ]
  %xa = getelementptr double, ptr %pa, i64 %k
  %a = load double, ptr %xa
  %xb = getelementptr double, ptr %pb, i64 %k
  %b = load double, ptr %xb
  %m = fmul double %a, %b
  %q = fdiv double %a, %b
  %r = fadd double %m, %q
  %xo = getelementptr double, ptr %po, i64 %k
  store double %r, ptr %xo
  %k1 = add i64 %k, 1
  %d = icmp eq i64 %k1, %hi
  br i1 %d, label %done, label %loop
done:
  ret void
}}
"""


def count_ir(name: str) -> str:
    """Row kernel: hits[i] += 1 for i in [start, stop)."""
    return f"""
define void @{name}(ptr %bufs, ptr %ext, i64 %start, i64 %stop) {{
entry:
  %p = load ptr, ptr %bufs
  %empty = icmp sge i64 %start, %stop
  br i1 %empty, label %done, label %loop
loop:
  %i = phi i64 [ %start, %entry ], [ %i1, %loop ]
  %x = getelementptr i64, ptr %p, i64 %i
  %v = load i64, ptr %x
  %v1 = add i64 %v, 1
  store i64 %v1, ptr %x
  %i1 = add i64 %i, 1
  %d = icmp eq i64 %i1, %stop
  br i1 %d, label %done, label %loop
done:
  ret void
}}
"""


@pytest.fixture(scope="module")
def pool4():
    from tracegrad.llvm.runtime import threads

    return threads.ThreadPool(4)


def test_split_rows_covers_the_range_once():
    from tracegrad.llvm.runtime.threads import split_rows

    for n, k, align in [(1000, 7, 64), (5, 3, 1), (64, 4, 64), (129, 2, 64), (10, 20, 1)]:
        chunks = split_rows(n, k, align)
        assert chunks[0][0] == 0 and chunks[-1][1] == n
        assert all(a < b for a, b in chunks)
        assert all(p[1] == q[0] for p, q in zip(chunks, chunks[1:], strict=False))
        assert all(a % align == 0 for a, _ in chunks)
        assert len(chunks) <= k
    assert split_rows(0, 4) == []


def test_parallel_for_matches_one_thread_bitwise(pool4):
    from tracegrad.llvm.runtime.threads import parallel_for

    name = uniq("rows")
    mod = engine.compile_module(rows_ir(name), name_hint=name, exports=[name])
    rng = np.random.default_rng(1)
    a, b = rng.standard_normal((2, 1000, 37))
    one, many = np.empty_like(a), np.empty_like(a)
    kw = dict(entry_address=mod.address(name), extents=[37], n_rows=1000)
    assert parallel_for(buffers=[a.ctypes.data, b.ctypes.data, one.ctypes.data], **kw) == 1
    used = parallel_for(
        buffers=[a.ctypes.data, b.ctypes.data, many.ctypes.data], min_rows=10, pool=pool4, **kw
    )
    assert used == 4
    assert one.tobytes() == many.tobytes()
    np.testing.assert_allclose(one, a * b + a / b, rtol=1e-15)


def test_parallel_for_runs_every_row_once(pool4):
    from tracegrad.llvm.runtime.threads import parallel_for

    name = uniq("count")
    mod = engine.compile_module(count_ir(name), name_hint=name, exports=[name])
    for n in (1, 63, 64, 65, 1001):
        hits = np.zeros(n, np.int64)
        parallel_for(mod.address(name), [hits.ctypes.data], [], n, min_rows=1, pool=pool4)
        assert (hits == 1).all(), n
    parallel_for(mod.address(name), [hits.ctypes.data], [], 0, pool=pool4)  # no-op


def test_num_threads_from_env(monkeypatch):
    from tracegrad.llvm.runtime import threads

    monkeypatch.setenv(threads.ENV_THREADS, "3")
    assert threads.default_num_threads() == 3
    monkeypatch.setenv(threads.ENV_THREADS, "0")
    assert threads.default_num_threads() == 1
    monkeypatch.setenv(threads.ENV_THREADS, "many")
    with pytest.raises(ValueError):
        threads.default_num_threads()
    monkeypatch.delenv(threads.ENV_THREADS)
    assert threads.default_num_threads() >= 1
