"""Issue #12 items 3, 7 and 8: the disk cache runs only code this user's tracegrad wrote
(HMAC, private folders and files), survives damaged entries without letting MCJIT abort
the process, keys on tracegrad's version, stays under a size limit and has a CLI."""

from __future__ import annotations

import ctypes
import hashlib
import json
import os
import stat
import struct
import subprocess
import sys
import textwrap
import warnings
from pathlib import Path

import pytest
from _engine_util import object_code, table_ir, uniq  # noqa: E402

import tracegrad
from tracegrad.llvm.machine import cache, cache_files, engine

ROOT = Path(__file__).resolve().parents[2]
SQUARE = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_double)
is_root = pytest.mark.skipif(os.geteuid() != 0, reason="chown to another user needs root")


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    """A cache under tmp_path chosen by the environment, and a fresh once-per-process
    warning."""
    previous = cache.set_disk_cache(None)
    root = tmp_path / "cache"
    monkeypatch.setenv(cache.ENV_DIR, str(root))
    monkeypatch.delenv(cache.ENV_ENABLE, raising=False)
    monkeypatch.delenv(cache.ENV_MAX_MB, raising=False)
    monkeypatch.setattr(cache_files, "_warned", False)
    yield root
    cache.set_disk_cache(*previous)


def square_ir(name: str, plus: float = 0.0) -> str:
    return (
        f"define double @{name}(double %x) {{\n  %r = fmul double %x, %x\n"
        f"  %s = fadd double %r, {plus:e}\n  ret double %s\n}}\n"
    )


def cache_warnings(record: list[warnings.WarningMessage]) -> list[str]:
    return [str(w.message) for w in record if issubclass(w.category, cache.CacheWarning)]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


# ---------------------------------------------------------------------------------------
# Item 3: forged entries, foreign or shared folders and files
# ---------------------------------------------------------------------------------------


def plant(path: Path, payload: bytes) -> None:
    """What an attacker with write access does: keep the header's magic and key, put in
    another payload, fix the length and recompute the plain sha256."""
    blob = path.read_bytes()
    digest = hashlib.sha256(payload).digest()
    path.write_bytes(blob[:40] + struct.pack("<Q", len(payload)) + digest + payload)


def test_planted_entry_with_recomputed_sha256_is_not_run(cache_dir):
    name = uniq("sq")
    ir = square_ir(name)
    key = engine.module_key(ir)
    disk = cache.DiskCache(cache_dir)
    assert disk.store(key, object_code(ir))  # the entry an earlier process wrote
    evil = object_code(square_ir(name, plus=1000.0))
    plant(disk.path(key), evil)
    mod = engine.compile_module(ir, name_hint=name, exports=[name])
    assert SQUARE(mod.address(name))(3.0) == 9.0  # not 1009: the planted code never ran
    assert mod.stats.source == "compiled"
    assert disk.load(key) not in (None, evil)  # replaced by this process's object


def test_host_record_is_authenticated(cache_dir):
    disk = cache.DiskCache(cache_dir)
    assert disk.store_host("fp", {"cpu": "znver3", "features": "+avx"})
    path = disk.host_path("fp")
    plant(path, b"cpu\tskylake-avx512\nfeatures\t+avx512f\n")
    assert disk.load_host("fp") is None
    assert not path.exists()


def test_group_writable_cache_folder_is_refused_with_one_warning(cache_dir):
    cache_dir.mkdir()
    cache_dir.chmod(0o770)
    with warnings.catch_warnings(record=True) as record:
        warnings.simplefilter("always")
        for _ in range(2):
            name = uniq("sq")
            mod = engine.compile_module(square_ir(name), name_hint=name, exports=[name])
            assert SQUARE(mod.address(name))(3.0) == 9.0
    (message,) = cache_warnings(record)
    assert str(cache_dir) in message and "mode 770" in message
    assert not list(cache_dir.rglob("*.o"))  # nothing stored in a folder others may change


def test_new_cache_is_private(cache_dir):
    name = uniq("sq")
    engine.compile_module(square_ir(name), name_hint=name, disk_cache=True)
    (entry,) = cache_dir.rglob("*.o")
    assert mode(cache_dir) == mode(entry.parent) == 0o700
    assert mode(entry) == 0o600
    assert mode(cache_dir / cache_files.KEY_NAME) == 0o600


def _group_writable(path: Path) -> None:
    path.chmod(0o664)


def _foreign(path: Path) -> None:
    os.chown(path, 65534, 65534)


@pytest.mark.parametrize(
    "change", [_group_writable, pytest.param(_foreign, marks=is_root)], ids=["mode", "owner"]
)
def test_entry_file_that_is_not_private_is_refused(cache_dir, change):
    disk = cache.DiskCache(cache_dir)
    key = "ab" * 32
    assert disk.store(key, b"payload")
    change(disk.path(key))
    with pytest.warns(cache.CacheWarning, match="file"):
        assert disk.load(key) is None


@is_root
def test_foreign_cache_folder_is_refused_even_for_root(cache_dir):
    disk = cache.DiskCache(cache_dir)
    assert disk.store("cd" * 32, b"payload")
    os.chown(cache_dir, 65534, 65534)
    with pytest.warns(cache.CacheWarning, match="owned by uid 65534"):
        assert disk.load("cd" * 32) is None
    assert not disk.store("cd" * 32, b"other")


def test_key_readable_by_others_is_refused(cache_dir):
    disk = cache.DiskCache(cache_dir)
    assert disk.store("ef" * 32, b"payload")
    (cache_dir / cache_files.KEY_NAME).chmod(0o644)
    with pytest.warns(cache.CacheWarning, match="key|hmac"):
        assert disk.load("ef" * 32) is None


# ---------------------------------------------------------------------------------------
# Item 7: damaged entries whose MAC is right
# ---------------------------------------------------------------------------------------

DAMAGED_CHILD = textwrap.dedent(
    """
    import ctypes, json, struct, sys
    from tracegrad.llvm.machine import elf
    from tracegrad.llvm.machine import cache
    from tracegrad.llvm.machine import engine
    ir, name = sys.argv[1], sys.argv[2]
    key = engine.module_key(ir)
    with engine.LLVM_LOCK:
        obj = bytearray(engine.emit_target_machine(3).emit_object(engine.optimize_ir(ir, 3)))
    rela = next(s for s in elf.parse_object(bytes(obj)).sections if s.type == elf.SHT_RELA)
    r_info = struct.unpack_from("<Q", obj, rela.offset + 8)[0]
    struct.pack_into("<Q", obj, rela.offset + 8, r_info & ~0xFFFFFFFF | 37)  # no such type
    disk = cache.disk_cache()
    assert disk.store(key, bytes(obj)) and disk.load(key) == bytes(obj)  # authenticated
    mod = engine.compile_module(ir, name_hint=name, exports=[name])
    value = ctypes.CFUNCTYPE(ctypes.c_double, ctypes.c_int64)(mod.address(name))(2)
    print(json.dumps(dict(value=value, source=mod.stats.source,
                          damaged_left=disk.load(key) == bytes(obj))))
    """
)


@pytest.mark.parametrize("native", ["1", "0"])
def test_damaged_authenticated_entry_is_compiled_instead(tmp_path, native):
    # MCJIT used to get this object (directly, or after the native loader refused it) and
    # abort the process; the entry stayed, so every later process aborted as well.
    name = uniq("table")
    env = {**os.environ, "PYTHONPATH": str(ROOT), cache.ENV_DIR: str(tmp_path)}
    env.pop(cache.ENV_ENABLE, None)
    env["TRACEGRAD_NATIVE_LOADER"] = native
    done = subprocess.run(
        [sys.executable, "-c", DAMAGED_CHILD, table_ir(name), name],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    out = json.loads(done.stdout.strip().splitlines()[-1])
    assert out == {"value": 3.5, "source": "compiled", "damaged_left": False}


# ---------------------------------------------------------------------------------------
# Item 8: version in the key, size limit, command line
# ---------------------------------------------------------------------------------------


def test_key_includes_tracegrads_version(monkeypatch):
    ir = square_ir("version_probe")
    before = engine.module_key(ir)
    monkeypatch.setattr(tracegrad, "__version__", tracegrad.__version__ + ".post1")
    assert engine.module_key(ir) != before


def test_size_limit_evicts_least_recently_used(cache_dir, monkeypatch):
    disk = cache.DiskCache(cache_dir)
    keys = [f"{i:02x}" * 32 for i in range(4)]
    payload = bytes(100_000)
    for age, key in enumerate(keys[:3]):
        assert disk.store(key, payload)
        os.utime(disk.path(key), (1000.0 + age, 1000.0 + age))  # stored long ago, in order
    assert disk.load(keys[0]) == payload  # now the most recently used
    monkeypatch.setenv(cache.ENV_MAX_MB, "0.3")  # room for three entries, not four
    assert disk.store(keys[3], payload)
    assert [disk.path(k).exists() for k in keys] == [True, False, True, True]


def test_size_limit_setting(monkeypatch):
    for raw, mib in [("", 512), ("64", 64), ("0.5", 0.5), ("0", 512), ("x", 512), ("inf", 512)]:
        monkeypatch.setenv(cache.ENV_MAX_MB, raw)
        assert cache.max_bytes() == int(mib * (1 << 20)), raw


def run_cli(root: Path, *args: str) -> str:
    env = {**os.environ, "PYTHONPATH": str(ROOT), cache.ENV_DIR: str(root)}
    env.pop(cache.ENV_ENABLE, None)
    env[cache.ENV_MAX_MB] = "64"
    done = subprocess.run(
        [sys.executable, "-m", "tracegrad", "cache", *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_cli_info_and_clear(cache_dir):
    disk = cache.DiskCache(cache_dir)
    for key in ("12" * 32, "34" * 32):
        assert disk.store(key, bytes(1000))
    assert disk.store_host("fp", {"cpu": "x"})
    info = run_cli(cache_dir, "--info")
    assert f"location: {cache_dir}\n" in info
    assert "status: on\n" in info and "entries: 2\n" in info
    assert f"({2 * (1000 + 80)} bytes)" in info and "limit: 64 MiB" in info
    assert "removed 3 files" in run_cli(cache_dir, "--clear")
    assert "entries: 0\n" in run_cli(cache_dir, "--info")
    assert disk.load_host("fp") is None
    assert (cache_dir / cache_files.KEY_NAME).exists()  # entries go, the key stays
    cache_dir.chmod(0o777)
    assert "status: refused: " in run_cli(cache_dir, "--info")
