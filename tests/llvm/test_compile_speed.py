"""Behaviours behind fast first calls (no timings here): the native ELF loader, the MCJIT
fallback, the host record that lets a new process compute cache keys without LLVM, and a
new process that runs from the disk cache without ever importing llvmlite."""

from __future__ import annotations

import ctypes
import json
import os
import struct
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
from _engine_util import disk_cache_off, object_code, table_ir, uniq  # noqa: E402

from tracegrad.llvm.machine import cache, capi, elf, engine, host, loader, target

ROOT = Path(__file__).resolve().parents[2]
SQUARE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)


@pytest.fixture(autouse=True)
def _no_disk_cache():
    with disk_cache_off():
        yield


def square_ir(name: str) -> str:
    return f"define double @{name}(double %x) {{\n  %r = fmul double %x, %x\n  ret double %r\n}}\n"


def caller_ir(name: str, callee: str) -> str:
    """name(x) = callee(x) + 1, with callee defined by another object."""
    return (
        f"declare double @{callee}(double)\n"
        f"define double @{name}(double %x) {{\n  %c = call double @{callee}(double %x)\n"
        "  %r = fadd double %c, 1.0\n  ret double %r\n}\n"
    )


def resolver(extra: dict[str, int] | None = None):
    def resolve(name: str) -> int | None:
        if extra and name in extra:
            return extra[name]
        return loader._process_symbol(name)

    return resolve


# ---------------------------------------------------------------------------------------
# The native loader
# ---------------------------------------------------------------------------------------


def test_native_loader_runs_code_with_constant_tables():
    name = uniq("table")
    image = elf.load_native(object_code(table_ir(name)), resolver())
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64)(image.symbols[name])
    assert [f(i) for i in range(4)] == [1.5, 2.5, 3.5, 4.5]
    assert f"{name}.t" not in image.symbols  # private symbols are not exported


@pytest.mark.skipif(not os.path.exists("/proc/self/maps"), reason="needs /proc")
def test_native_code_pages_are_never_writable():
    name = uniq("sq")
    image = elf.load_native(object_code(square_ir(name)), resolver())
    address = image.symbols[name]
    for line in Path("/proc/self/maps").read_text().splitlines():
        span, perms = line.split()[:2]
        lo, hi = (int(x, 16) for x in span.split("-"))
        if lo <= address < hi:
            assert perms.startswith("r-x"), perms
            break
    else:
        pytest.fail("code address not mapped")
    assert SQUARE(address)(3.0) == 9.0


def test_native_loader_names_every_missing_symbol():
    name, a, b = uniq("calls"), uniq("missing_a"), uniq("missing_b")
    ir = (
        f"declare double @{a}(double)\ndeclare double @{b}(double)\n"
        f"define double @{name}(double %x) {{\n  %p = call double @{a}(double %x)\n"
        f"  %q = call double @{b}(double %p)\n  ret double %q\n}}\n"
    )
    with pytest.raises(LookupError) as info:
        elf.load_native(object_code(ir), resolver())
    assert info.value.args[0] == sorted([a, b])


def _patch_first_relocation(obj: bytes, kind: int) -> bytes:
    parsed = elf._parse(obj)
    rela = next(sh for sh in parsed.sections if sh.type == elf.SHT_RELA and sh.size)
    r_offset, r_info, addend = struct.unpack_from("<QQq", obj, rela.offset)
    patched = bytearray(obj)
    struct.pack_into("<QQq", patched, rela.offset, r_offset, (r_info >> 32 << 32) | kind, addend)
    return bytes(patched)


def test_unknown_relocation_is_unsupported_not_guessed():
    obj = _patch_first_relocation(object_code(table_ir(uniq("table"))), 42)  # REX_GOTPCRELX
    with pytest.raises(elf.UnsupportedObjectError, match="relocation type 42"):
        elf.load_native(obj, resolver())


def test_damaged_objects_are_value_errors():
    obj = object_code(square_ir(uniq("sq")))
    for bad in (obj[:40], obj[: len(obj) // 2], b"\x7fELF\x02\x01" + b"\xff" * 100):
        with pytest.raises(ValueError):
            elf.load_native(bad, resolver())


# ---------------------------------------------------------------------------------------
# The engine: native by default, MCJIT as the fallback, one symbol namespace
# ---------------------------------------------------------------------------------------


def test_engine_loads_natively_by_default(monkeypatch):
    monkeypatch.delenv(loader.ENV_NATIVE_LOADER, raising=False)
    name = uniq("sq")
    before = loader.get_engine().native_objects
    mod = engine.compile_module(square_ir(name), name_hint=name, exports=[name])
    assert loader.get_engine().native_objects == before + 1
    assert SQUARE(mod.address(name))(1.5) == 2.25


def test_mcjit_fallback_and_native_code_call_each_other(monkeypatch):
    monkeypatch.delenv(loader.ENV_NATIVE_LOADER, raising=False)
    base, mid, top = uniq("base"), uniq("mid"), uniq("top")
    native = engine.compile_module(square_ir(base), name_hint=base)  # native loader
    monkeypatch.setenv(loader.ENV_NATIVE_LOADER, "0")
    before = loader.get_engine().native_objects
    jitted = engine.compile_module(caller_ir(mid, base), name_hint=mid)  # MCJIT, calls native
    monkeypatch.delenv(loader.ENV_NATIVE_LOADER)
    back = engine.compile_module(caller_ir(top, mid), name_hint=top)  # native, calls MCJIT
    assert loader.get_engine().native_objects == before + 1
    assert SQUARE(native.address(base))(3.0) == 9.0
    assert SQUARE(jitted.address(mid))(3.0) == 10.0
    assert SQUARE(back.address(top))(3.0) == 11.0


def test_unsupported_object_falls_back_to_mcjit(monkeypatch):
    def refuse(obj: bytes, resolve, parsed=None):
        raise elf.UnsupportedObjectError("not this one")

    monkeypatch.setattr(elf, "load_native", refuse)
    name = uniq("sq")
    before = loader.get_engine().native_objects
    mod = engine.compile_module(square_ir(name), name_hint=name, exports=[name])
    assert loader.get_engine().native_objects == before
    assert SQUARE(mod.address(name))(4.0) == 16.0


# ---------------------------------------------------------------------------------------
# Host records
# ---------------------------------------------------------------------------------------


def test_host_record_roundtrip_and_damage(tmp_path):
    disk = cache.DiskCache(tmp_path)
    record = {"cpu": "znver4", "features": "+avx,+sse2", "data_layout": "e-m:e-p270:32:32"}
    assert disk.load_host("ab" * 32) is None
    assert disk.store_host("ab" * 32, record)
    assert disk.load_host("ab" * 32) == record
    path = disk.host_path("ab" * 32)
    path.write_bytes(path.read_bytes()[:-3])
    assert disk.load_host("ab" * 32) is None
    assert not path.exists()  # deleted, rewritten by the next process that loads LLVM
    with pytest.raises(ValueError):
        disk.store_host("cd" * 32, {"cpu": "a\tb"})


def test_record_of_another_llvmlite_is_not_used(tmp_path):
    disk = cache.DiskCache(tmp_path)
    info = engine.host_info()
    files = host.llvmlite_files()
    disk.store_host("fp", {**info._asdict(), "llvmlite_files": files})
    assert host.read_host_record(disk, "fp") == info
    path, size, mtime = files.split(";")[-1].rsplit("|", 2)
    moved = files.replace(f"{path}|{size}|{mtime}", f"{path}|{size}|{int(mtime) + 1}")
    disk.store_host("fp", {**info._asdict(), "llvmlite_files": moved})
    assert host.read_host_record(disk, "fp") is None
    disk.store_host("fp", {**info._asdict()})  # no llvmlite identity at all
    assert host.read_host_record(disk, "fp") is None


def test_fingerprint_is_stable_and_ignores_the_clock():
    first = host.host_fingerprint()
    host._fingerprint = None  # recompute from /proc/cpuinfo (cpu MHz changes)
    assert host.host_fingerprint() == first


# ---------------------------------------------------------------------------------------
# New processes: keys agree, and a warm cache never loads LLVM
# ---------------------------------------------------------------------------------------

CHILD = textwrap.dedent(
    """
    import ctypes, json, sys
    import numpy as np
    mode, ir, name = sys.argv[1:4]
    out = {}
    if mode == "module":
        from tracegrad.llvm.machine import cache
        from tracegrad.llvm.machine import engine
        mod = engine.compile_module(ir, name_hint=name, exports=[name])
        f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(mod.address(name))
        out.update(value=f(1.5), source=mod.stats.source, key=mod.key)
    else:
        import tracegrad, tracegrad.numpy as tnp
        from tracegrad.llvm.machine import cache
        g = tracegrad.jit(tracegrad.grad(lambda v: tnp.sum(1.0 / (1.0 + tnp.exp(-v)))))
        x = np.linspace(-3.0, 3.0, 1001)
        results = [g(x) for _ in range(5)]  # past the tier-up of the call path
        s = 1.0 / (1.0 + np.exp(-x))
        out.update(value=float(np.abs(results[-1] - s * (1 - s)).max()))
    info = cache.cache_info()
    out.update(llvm="llvmlite" in sys.modules, binding="llvmlite.binding" in sys.modules,
               hits=info.disk_hits, misses=info.misses, errors=info.disk_errors)
    print(json.dumps(out))
    """
)


def run_child(cache_dir: Path, mode: str, ir: str = "", name: str = "") -> dict:
    env = {**os.environ, cache.ENV_DIR: str(cache_dir), "PYTHONPATH": str(ROOT)}
    env.pop(cache.ENV_ENABLE, None)
    env.pop(loader.ENV_NATIVE_LOADER, None)
    env.pop(capi.ENV_CAPI, None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, mode, ir, name],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def test_warm_process_computes_the_same_key_without_llvm(tmp_path):
    name = uniq("sq")
    ir = square_ir(name)
    cold = run_child(tmp_path, "module", ir, name)
    assert cold == {**cold, "source": "compiled", "llvm": True, "value": 2.25}
    warm = run_child(tmp_path, "module", ir, name)
    assert warm == {**warm, "source": "disk", "llvm": False, "value": 2.25, "key": cold["key"]}
    engine.host_info()  # this process has LLVM loaded: its own host description
    assert engine.module_key(ir) == cold["key"]
    # A damaged host record costs one LLVM load, never a wrong key; it is then rewritten.
    (record,) = (tmp_path / "hosts-v1").iterdir()
    record.write_bytes(b"garbage")
    damaged = run_child(tmp_path, "module", ir, name)
    assert damaged == {**damaged, "source": "disk", "llvm": True, "key": cold["key"]}
    assert cache.DiskCache(tmp_path).load_host(record.name) is not None


def test_jit_from_a_warm_cache_never_imports_llvmlite(tmp_path):
    cold = run_child(tmp_path, "jit")
    assert cold["llvm"] and cold["misses"] >= 2 and cold["value"] < 1e-15
    # compiling needs LLVM, but not llvmlite.binding's 50-90 ms import (see capi)
    import llvmlite

    assert cold["binding"] is not llvmlite.__version__.startswith(capi.CHECKED_VERSIONS)
    warm = run_child(tmp_path, "jit")
    assert warm == {**warm, "llvm": False, "misses": 0, "errors": 0}
    assert warm["hits"] == cold["misses"] and warm["value"] == cold["value"]


def test_results_are_bitwise_equal_between_loaders(monkeypatch):
    name = uniq("table")
    ir = table_ir(name)
    native = elf.load_native(object_code(ir), resolver())
    monkeypatch.setenv(loader.ENV_NATIVE_LOADER, "0")
    mod = engine.compile_module(ir, opt_level=2, name_hint=name, exports=[name])
    sig = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64)
    got = [sig(mod.address(name))(i) for i in range(4)]
    assert got == [sig(native.symbols[name])(i) for i in range(4)]
    assert np.array_equal(got, [1.5, 2.5, 3.5, 4.5])


# ---------------------------------------------------------------------------------------
# The direct C binding (capi) against llvmlite.binding
# ---------------------------------------------------------------------------------------

needs_capi = pytest.mark.skipif(capi.library() is None, reason="llvmlite version not checked")


@needs_capi
def test_capi_describes_the_host_like_llvmlite():
    llvm = target.llvm_binding()
    triple, cpu, features, layout = capi.library().initialize()
    assert triple == llvm.get_process_triple()
    assert cpu == llvm.get_host_cpu_name()
    assert features == llvm.get_host_cpu_features().flatten()
    assert layout == str(engine.emit_target_machine(3).target_data)
    assert capi.library().llvm_version() == ".".join(map(str, llvm.llvm_version_info))


@needs_capi
@pytest.mark.parametrize("level", [0, 1, 3])
def test_capi_object_code_is_llvmlites_byte_for_byte(level):
    name = uniq("axpy")
    ir = table_ir(name) + caller_ir(uniq("call"), name.replace("axpy", "ext"))
    got = capi.library().compile(ir, level, level).object
    assert got == object_code(ir, level)


@needs_capi
def test_llvmlite_compile_path_still_works(monkeypatch):
    monkeypatch.setattr(capi, "_library", None)  # as for an llvmlite version not checked
    name = uniq("sq")
    mod = engine.compile_module(square_ir(name), name_hint=name, exports=[name])
    assert SQUARE(mod.address(name))(5.0) == 25.0
    with pytest.raises(engine.LLVMCompileError, match="does not parse"):
        engine.compile_module("define void @f( {", name_hint="broken")
