"""Disk cache of JIT object code, plus the hit/miss counters of all compile caches.

Loading cached object code costs about 2 ms against 165-190 ms to optimize and compile
the same module, so every compiled module's ELF object is kept on disk.

* Key: sha256 over the IR text, the optimization and codegen levels, the host CPU name
  and feature string, the LLVM and llvmlite versions and a caller-supplied version
  string (tracegrad's). Each part is length-prefixed, so no two tuples collide by
  concatenation. Addresses never enter the key: IR refers to process objects by symbol
  name and the loader relocates them in each process.
* Location: ``$TRACEGRAD_CACHE_DIR`` (default ``~/.cache/tracegrad``), sub-folder
  ``objects-v1``. ``TRACEGRAD_CACHE=0`` or :func:`set_disk_cache` turns the disk cache off;
  the environment is read at each use, so tests can change it.
* Entries are written to a temp file in the same folder, then ``os.replace``d: readers
  in other processes see either no entry or a complete one.
* Each entry starts with a header (magic, the key, payload length and sha256). A
  truncated, corrupt or foreign entry is deleted and reported as a miss; the engine also
  discards an entry that LLVM cannot load and rebuilds it. Cache I/O errors never fail
  a compile.

The in-memory cache lives in :mod:`tracegrad.llvm.engine` (it is the engine's table of
loaded objects, because MCJIT cannot unload code or load the same symbols twice); its
hits are counted here so :func:`cache_info` shows all levels.
"""

from __future__ import annotations

import hashlib
import os
import struct
import tempfile
import threading
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CacheInfo",
    "DiskCache",
    "cache_info",
    "cache_key",
    "default_cache_dir",
    "disk_cache",
    "disk_cache_enabled",
    "record",
    "reset_cache_info",
    "set_disk_cache",
]

ENV_DIR = "TRACEGRAD_CACHE_DIR"
ENV_ENABLE = "TRACEGRAD_CACHE"
_SUBDIR = "objects-v1"
_MAGIC = b"TGOBJ\x00\x01\x00"
# magic, key digest, payload length, payload sha256
_HEADER = struct.Struct("<8s32sQ32s")


@dataclass(frozen=True)
class CacheInfo:
    """Counters since start-up or the last :func:`reset_cache_info`."""

    memory_hits: int = 0
    disk_hits: int = 0
    misses: int = 0  # compiled from IR
    disk_writes: int = 0
    disk_errors: int = 0  # bad entries deleted, failed reads or writes

    @property
    def hits(self) -> int:
        return self.memory_hits + self.disk_hits


_counts_lock = threading.Lock()
_counts: dict[str, int] = dict.fromkeys(CacheInfo.__dataclass_fields__, 0)


def record(event: str) -> None:
    """Count one cache event; ``event`` is a field name of :class:`CacheInfo`."""
    with _counts_lock:
        _counts[event] += 1


def cache_info() -> CacheInfo:
    with _counts_lock:
        return CacheInfo(**_counts)


def reset_cache_info() -> None:
    with _counts_lock:
        for name in _counts:
            _counts[name] = 0


def cache_key(
    ir_text: str,
    *,
    opt_level: int,
    codegen_level: int,
    cpu: str,
    features: str,
    llvm_version: str,
    llvmlite_version: str,
    version: str,
) -> str:
    """Hex sha256 of everything that determines the object code."""
    h = hashlib.sha256()
    parts = (
        "tracegrad-object-v1",
        str(opt_level),
        str(codegen_level),
        cpu,
        features,
        llvm_version,
        llvmlite_version,
        version,
        ir_text,
    )
    for part in parts:
        data = part.encode()
        h.update(len(data).to_bytes(8, "little"))
        h.update(data)
    return h.hexdigest()


# ---------------------------------------------------------------------------------------
# Settings
# ---------------------------------------------------------------------------------------

_override_enabled: bool | None = None
_override_dir: Path | None = None


def set_disk_cache(
    enabled: bool | None = None, directory: str | os.PathLike | None = None
) -> tuple[bool | None, Path | None]:
    """Override the environment: ``enabled=None`` / ``directory=None`` restore it.

    Returns the previous overrides, so ``set_disk_cache(*previous)`` undoes the call.
    """
    global _override_enabled, _override_dir
    previous = (_override_enabled, _override_dir)
    _override_enabled = enabled
    _override_dir = None if directory is None else Path(directory)
    return previous


def default_cache_dir() -> Path:
    if _override_dir is not None:
        return _override_dir
    env = os.environ.get(ENV_DIR)
    return Path(env) if env else Path.home() / ".cache" / "tracegrad"


def disk_cache_enabled() -> bool:
    if _override_enabled is not None:
        return _override_enabled
    return os.environ.get(ENV_ENABLE, "1").strip().lower() not in (
        "0",
        "false",
        "no",
        "off",
    )


def disk_cache(enabled: bool | None = None) -> DiskCache | None:
    """The disk cache under the current settings, or None when it is off.

    ``enabled`` (a per-call flag) wins over the global settings.
    """
    if enabled is None:
        enabled = disk_cache_enabled()
    return DiskCache(default_cache_dir()) if enabled else None


# ---------------------------------------------------------------------------------------
# The cache itself
# ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DiskCache:
    """Object files named by key in ``root/objects-v1``."""

    root: Path

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))  # accept str too

    @property
    def folder(self) -> Path:
        return self.root / _SUBDIR

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.o"

    def load(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (bad entries are deleted)."""
        path = self.path(key)
        try:
            blob = path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError:
            record("disk_errors")
            return None
        payload = _unwrap(blob, key)
        if payload is None:
            self.discard(key)
        return payload

    def store(self, key: str, payload: bytes) -> bool:
        """Write atomically; returns False (and counts an error) if writing failed."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            fd, tmp = tempfile.mkstemp(prefix=f".{key[:16]}.", suffix=".tmp", dir=self.folder)
            try:
                with os.fdopen(fd, "wb") as f:
                    f.write(_wrap(payload, key))
                os.replace(tmp, self.path(key))
            except BaseException:
                _unlink(Path(tmp))
                raise
        except OSError:
            record("disk_errors")
            return False
        record("disk_writes")
        return True

    def discard(self, key: str) -> None:
        """Delete a bad entry (counted as a disk error)."""
        record("disk_errors")
        _unlink(self.path(key))


def _wrap(payload: bytes, key: str) -> bytes:
    digest = hashlib.sha256(payload).digest()
    return _HEADER.pack(_MAGIC, bytes.fromhex(key), len(payload), digest) + payload


def _unwrap(blob: bytes, key: str) -> bytes | None:
    if len(blob) < _HEADER.size:
        return None
    magic, key_digest, length, digest = _HEADER.unpack_from(blob)
    payload = blob[_HEADER.size :]
    if magic != _MAGIC or key_digest != bytes.fromhex(key) or length != len(payload):
        return None
    if hashlib.sha256(payload).digest() != digest:
        return None
    return payload


def _unlink(path: Path) -> None:
    try:
        path.unlink()
    except OSError:
        pass
