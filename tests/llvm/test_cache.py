"""Tests of the object cache: keys, entry format, damage handling, env settings, processes."""

from __future__ import annotations

import ctypes
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from _engine_util import uniq  # noqa: E402

from tracegrad.llvm.machine import cache, engine

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env_settings():
    """Let the environment decide (drop API overrides a conftest may have set)."""
    previous = cache.set_disk_cache(None)
    yield
    cache.set_disk_cache(*previous)


@pytest.fixture
def cache_dir(tmp_path, monkeypatch, env_settings):
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path))
    monkeypatch.delenv(cache.ENV_ENABLE, raising=False)
    return tmp_path


def square_ir(name: str) -> str:
    return f"define double @{name}(double %x) {{\n  %r = fmul double %x, %x\n  ret double %r\n}}\n"


KEY_ARGS = {
    "opt_level": 3,
    "codegen_level": 3,
    "cpu": "znver4",
    "features": "+avx",
    "llvm_version": "22.1.0",
    "llvmlite_version": "0.50.0",
    "version": "0.1",
}


def test_key_depends_on_every_component():
    base = cache.cache_key("ir", **KEY_ARGS)
    assert base == cache.cache_key("ir", **KEY_ARGS)
    assert len(base) == 64
    assert cache.cache_key("ir2", **KEY_ARGS) != base
    for field, other in [
        ("opt_level", 2),
        ("codegen_level", 0),
        ("cpu", "znver3"),
        ("features", "+avx,+avx2"),
        ("llvm_version", "22.1.1"),
        ("llvmlite_version", "0.51.0"),
        ("version", "0.2"),
    ]:
        assert cache.cache_key("ir", **{**KEY_ARGS, field: other}) != base, field
    # Parts are length-prefixed: moving text between parts changes the key.
    shifted = {**KEY_ARGS, "cpu": "znver4+", "features": "avx"}
    assert cache.cache_key("ir", **shifted) != base


def test_store_and_load_roundtrip(tmp_path):
    disk = cache.DiskCache(tmp_path)
    key = "ab" * 32
    assert disk.load(key) is None
    assert disk.store(key, b"payload bytes")
    assert disk.load(key) == b"payload bytes"
    # Only the final entry remains: the temp file was renamed into place.
    assert [p.name for p in disk.folder.iterdir()] == [f"{key}.o"]


@pytest.mark.parametrize(
    "damage",
    [
        lambda blob: blob[:-1],  # truncated payload
        lambda blob: blob[:20],  # truncated header
        lambda blob: blob[:-1] + bytes([blob[-1] ^ 1]),  # flipped bit
        lambda blob: b"XXXXXXXX" + blob[8:],  # wrong magic
        lambda blob: b"",
    ],
)
def test_damaged_entry_is_ignored_and_deleted(tmp_path, damage):
    disk = cache.DiskCache(tmp_path)
    key = "cd" * 32
    disk.store(key, b"some object code" * 10)
    path = disk.path(key)
    path.write_bytes(damage(path.read_bytes()))
    errors = cache.cache_info().disk_errors
    assert disk.load(key) is None
    assert not path.exists()
    assert cache.cache_info().disk_errors == errors + 1


def test_entry_under_the_wrong_key_is_rejected(tmp_path):
    disk = cache.DiskCache(tmp_path)
    disk.store("11" * 32, b"code")
    os.replace(disk.path("11" * 32), disk.path("22" * 32))
    assert disk.load("22" * 32) is None


def test_env_settings(monkeypatch, tmp_path, env_settings):
    monkeypatch.setenv(cache.ENV_DIR, str(tmp_path / "x"))
    monkeypatch.delenv(cache.ENV_ENABLE, raising=False)
    assert cache.disk_cache() == cache.DiskCache(tmp_path / "x")
    monkeypatch.setenv(cache.ENV_ENABLE, "0")
    assert cache.disk_cache() is None
    assert cache.disk_cache(True) is not None  # a per-call flag wins
    monkeypatch.delenv(cache.ENV_DIR)
    monkeypatch.delenv(cache.ENV_ENABLE)
    assert cache.default_cache_dir() == Path.home() / ".cache" / "tracegrad"
    cache.set_disk_cache(False)  # the API flag wins over the environment
    assert cache.disk_cache() is None
    assert cache.set_disk_cache(True, tmp_path / "y") == (False, None)
    assert cache.disk_cache() == cache.DiskCache(tmp_path / "y")


def test_unwritable_cache_does_not_fail_the_compile(tmp_path, monkeypatch, env_settings):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    monkeypatch.setenv(cache.ENV_DIR, str(blocker))
    name = uniq("sq")
    mod = engine.compile_module(square_ir(name), name_hint=name, disk_cache=True)
    assert mod.address(name)


def test_compile_writes_entry_and_unloadable_entry_is_rebuilt(cache_dir):
    name = uniq("sq")
    ir = square_ir(name)
    key = engine.module_key(ir)
    disk = cache.DiskCache(cache_dir)
    # A well-formed entry (checksum fine) whose payload LLVM cannot load.
    disk.store(key, b"\x7fELF not really an object")
    before = cache.cache_info()
    mod = engine.compile_module(ir, name_hint=name)
    after = cache.cache_info()
    assert after.misses == before.misses + 1
    assert after.disk_hits == before.disk_hits
    assert after.disk_errors > before.disk_errors
    assert mod.stats.source == "compiled"
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(mod.address(name))
    assert f(3.0) == 9.0
    # The bad entry was replaced by the real object code.
    assert disk.load(key)[:4] == b"\x7fELF"


def test_disabled_cache_writes_nothing(cache_dir, monkeypatch):
    monkeypatch.setenv(cache.ENV_ENABLE, "0")
    name = uniq("sq")
    engine.compile_module(square_ir(name), name_hint=name)
    assert not any(cache_dir.rglob("*.o"))


CHILD = textwrap.dedent(
    """
    import ctypes, json, sys
    from tracegrad.llvm.machine import cache
    from tracegrad.llvm.machine import engine
    ir, name = sys.argv[1], sys.argv[2]
    mod = engine.compile_module(ir, name_hint=name, exports=[name])
    f = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)(mod.address(name))
    info = cache.cache_info()
    print(json.dumps(dict(value=f(1.5), source=mod.stats.source, hits=info.disk_hits,
                          misses=info.misses, errors=info.disk_errors,
                          key=mod.key)))
    """
)


def run_child(cache_dir: Path, ir: str, name: str) -> dict:
    env = {**os.environ, cache.ENV_DIR: str(cache_dir), "PYTHONPATH": str(ROOT)}
    env.pop(cache.ENV_ENABLE, None)
    out = subprocess.run(
        [sys.executable, "-c", CHILD, ir, name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout)


def test_cache_hit_in_a_new_process_and_corrupt_entry_rebuilt(tmp_path):
    name = uniq("sq")
    ir = square_ir(name)
    first = run_child(tmp_path, ir, name)
    assert first == {**first, "value": 2.25, "source": "compiled", "hits": 0, "misses": 1}
    second = run_child(tmp_path, ir, name)
    assert second == {**second, "value": 2.25, "source": "disk", "hits": 1, "misses": 0}
    # Damage the entry: the next process ignores it, rebuilds and rewrites it.
    (entry,) = tmp_path.rglob("*.o")
    blob = entry.read_bytes()
    entry.write_bytes(blob[: len(blob) - 7])
    third = run_child(tmp_path, ir, name)
    assert third == {**third, "value": 2.25, "source": "compiled", "hits": 0, "misses": 1}
    assert third["errors"] == 1
    # ... and the rewritten entry is whole again.
    assert cache.DiskCache(tmp_path).load(third["key"])[:4] == b"\x7fELF"


WRITER = textwrap.dedent(
    """
    import importlib.util, sys
    # cache.py needs only the standard library: load it alone, not the whole package.
    spec = importlib.util.spec_from_file_location("tg_cache", sys.argv[3])
    cache = sys.modules["tg_cache"] = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(cache)
    disk = cache.DiskCache(sys.argv[1])
    payload = bytes([int(sys.argv[2])]) * 200_000
    for _ in range(30):
        assert disk.store("ef" * 32, payload)
        got = disk.load("ef" * 32)
        # Another writer may have replaced it, but never with a torn entry.
        assert got is not None and len(set(got)) == 1, "torn or missing entry"
    """
)


def test_concurrent_writers_never_expose_a_torn_entry(tmp_path):
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path), str(i), cache.__file__], env=env
        )
        for i in range(1, 5)
    ]
    assert [p.wait(timeout=120) for p in procs] == [0, 0, 0, 0]
    disk = cache.DiskCache(tmp_path)
    assert disk.load("ef" * 32) is not None
    assert [p.name for p in disk.folder.iterdir()] == ["ef" * 32 + ".o"]
