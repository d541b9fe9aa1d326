"""Tests of the JIT engine: compile, load, symbol checks, levels, memory cache, threads."""

from __future__ import annotations

import ctypes
import threading
import uuid

import numpy as np
import pytest

from tracegrad.llvm import cache, engine

ENTRY = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)


@pytest.fixture(autouse=True)
def _no_disk_cache():
    cache.set_disk_cache(False)
    yield
    cache.set_disk_cache(None)


def uniq(prefix: str) -> str:
    # The engine is process-wide and refuses to redefine a symbol: every test needs its
    # own names.
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


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
    # A different level is a different module, and redefines the symbol: refused.
    with pytest.raises(engine.DuplicateSymbolError, match=name):
        engine.compile_module(ir, opt_level=1, name_hint=name)


def test_duplicate_symbol_from_other_ir_is_refused_and_old_code_survives():
    name = uniq("axpy")
    mod = engine.compile_module(axpy_ir(name, 2.0), name_hint=name)
    with pytest.raises(engine.DuplicateSymbolError):
        engine.compile_module(axpy_ir(name, 3.0), name_hint=name)
    a = b = np.ones(5)
    np.testing.assert_array_equal(call_axpy(mod.address(name), a, b), 3.0 * a)


def test_verifier_message_is_shown():
    name = uniq("bad")
    ir = f"define i32 @{name}() {{\nentry:\n  %x = add i32 %y, 1\n  %y = add i32 1, 1\n  ret i32 %x\n}}\n"
    with pytest.raises(engine.LLVMCompileError, match="does not verify") as info:
        engine.compile_module(ir, name_hint=name)
    assert "dominate" in str(info.value)


def test_parse_error_is_a_python_error():
    with pytest.raises(engine.LLVMCompileError, match="does not parse"):
        engine.compile_module("define void @f( {", name_hint="broken")


def test_unresolved_external_symbol_is_refused_before_loading():
    name, missing = uniq("calls"), uniq("no_such_function")
    ir = f"declare void @{missing}()\ndefine void @{name}() {{\n  call void @{missing}()\n  ret void\n}}\n"
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
        obj = engine._emit_tm(0).emit_object(mod)
    syms = engine.elf_symbols(obj)
    assert syms.defined == {name, "keep"}
    assert syms.undefined == {callee}
    # A truncated object is rejected instead of crashing MCJIT.
    with pytest.raises(ValueError):
        engine.elf_symbols(obj[: len(obj) // 2])
