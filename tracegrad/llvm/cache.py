"""Disk cache of JIT object code, plus the hit/miss counters of all compile caches.

Loading cached object code costs about 2 ms against 165-190 ms to optimize and compile
the same module, so every compiled module's ELF object is kept on disk.

* Key: sha256 over the IR text, the optimization and codegen levels, the host CPU name
  and feature string, the LLVM and llvmlite versions and a caller-supplied version
  string (tracegrad's). Each part is length-prefixed, so no two tuples collide by
  concatenation. Addresses never enter the key: IR refers to process objects by symbol
  name and the loader relocates them in each process.
* Location: ``$TRACEGRAD_CACHE_DIR`` (default ``~/.cache/tracegrad``), sub-folder
  ``objects-v1``. Sub-folder ``hosts-v1`` maps a host fingerprint (CPU identification and
  flags from /proc/cpuinfo, llvmlite's version and library; see
  :func:`tracegrad.llvm.target.host_fingerprint`) to the CPU name, features and versions
  LLVM reported, so that a new process computes the key of a cached object without
  loading LLVM. ``TRACEGRAD_CACHE=0`` or :func:`set_disk_cache` turns the disk cache off;
  the environment is read at each use, so tests can change it.
* Entries are written to a temp file in the same folder, then ``os.replace``d: readers
  in other processes see either no entry or a complete one.
* Cheap to import and use: no pathlib, tempfile, json or dataclasses (together about
  15-20 ms of import on the project's VM, paid by every new process); the public
  ``Path`` values are built on demand.
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
import threading
from typing import Any

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
_HOSTS_SUBDIR = "hosts-v1"
_MAGIC = b"TGOBJ\x00\x01\x00"
# magic, key digest, payload length, payload sha256
_HEADER = struct.Struct("<8s32sQ32s")
_FIELDS = ("memory_hits", "disk_hits", "misses", "disk_writes", "disk_errors")


class CacheInfo:
    """Counters since start-up or the last :func:`reset_cache_info`: ``memory_hits``,
    ``disk_hits``, ``misses`` (compiled from IR), ``disk_writes`` and ``disk_errors``
    (bad entries deleted, failed reads or writes)."""

    __slots__ = _FIELDS

    def __init__(
        self,
        memory_hits: int = 0,
        disk_hits: int = 0,
        misses: int = 0,
        disk_writes: int = 0,
        disk_errors: int = 0,
    ) -> None:
        self.memory_hits = memory_hits
        self.disk_hits = disk_hits
        self.misses = misses
        self.disk_writes = disk_writes
        self.disk_errors = disk_errors

    @property
    def hits(self) -> int:
        return self.memory_hits + self.disk_hits

    def _values(self) -> tuple[int, ...]:
        return tuple(getattr(self, name) for name in _FIELDS)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, CacheInfo) and self._values() == other._values()

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        inner = ", ".join(f"{name}={getattr(self, name)}" for name in _FIELDS)
        return f"CacheInfo({inner})"


_counts_lock = threading.Lock()
_counts: dict[str, int] = dict.fromkeys(_FIELDS, 0)


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
_override_dir: str | None = None


def set_disk_cache(
    enabled: bool | None = None, directory: str | os.PathLike | None = None
) -> tuple[bool | None, str | None]:
    """Override the environment: ``enabled=None`` / ``directory=None`` restore it.

    Returns the previous overrides, so ``set_disk_cache(*previous)`` undoes the call.
    """
    global _override_enabled, _override_dir
    previous = (_override_enabled, _override_dir)
    _override_enabled = enabled
    _override_dir = None if directory is None else os.fspath(directory)
    return previous


def default_cache_dir() -> Any:
    """The cache root (a ``pathlib.Path``) under the current settings."""
    from pathlib import Path

    return Path(_cache_root())


def _cache_root() -> str:
    if _override_dir is not None:
        return _override_dir
    env = os.environ.get(ENV_DIR)
    return env if env else os.path.join(os.path.expanduser("~"), ".cache", "tracegrad")


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
    return DiskCache(_cache_root()) if enabled else None


# ---------------------------------------------------------------------------------------
# The cache itself
# ---------------------------------------------------------------------------------------


class DiskCache:
    """Object files named by key in ``root/objects-v1``; host records in ``root/hosts-v1``.

    ``root``, ``folder``, ``path()`` and ``host_path()`` are ``pathlib.Path`` objects;
    the methods that run on every compile use plain strings.
    """

    __slots__ = ("_root",)

    def __init__(self, root: str | os.PathLike) -> None:
        self._root = os.fspath(root)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, DiskCache) and self._root == other._root

    def __hash__(self) -> int:
        return hash(self._root)

    def __repr__(self) -> str:
        return f"DiskCache({self._root!r})"

    @property
    def root(self) -> Any:
        from pathlib import Path

        return Path(self._root)

    @property
    def folder(self) -> Any:
        return self.root / _SUBDIR

    def path(self, key: str) -> Any:
        return self.folder / f"{key}.o"

    def host_path(self, fingerprint: str) -> Any:
        return self.root / _HOSTS_SUBDIR / fingerprint

    def _object(self, key: str) -> str:
        return os.path.join(self._root, _SUBDIR, f"{key}.o")

    def _host(self, fingerprint: str) -> str:
        return os.path.join(self._root, _HOSTS_SUBDIR, fingerprint)

    def load(self, key: str) -> bytes | None:
        """The payload stored under ``key``, or None (bad entries are deleted)."""
        blob = _read(self._object(key))
        if blob is None:
            return None
        payload = _unwrap(blob, key)
        if payload is None:
            self.discard(key)
        return payload

    def store(self, key: str, payload: bytes) -> bool:
        """Write atomically; returns False (and counts an error) if writing failed."""
        if not _atomic_write(self._object(key), _wrap(payload, key)):
            record("disk_errors")
            return False
        record("disk_writes")
        return True

    def discard(self, key: str) -> None:
        """Delete a bad entry (counted as a disk error)."""
        record("disk_errors")
        _unlink(self._object(key))

    def load_host(self, fingerprint: str) -> dict[str, str] | None:
        """The host record stored for ``fingerprint``, or None (a bad one is deleted).

        A record is ``name<TAB>value`` lines, stored like an object (header and checksum,
        under the key sha256(fingerprint)).
        """
        path = self._host(fingerprint)
        blob = _read(path)
        if blob is None:
            return None
        payload = _unwrap(blob, _host_key(fingerprint))
        fields = _parse_record(payload) if payload is not None else None
        if fields is None:
            record("disk_errors")
            _unlink(path)
        return fields

    def store_host(self, fingerprint: str, host: dict[str, str]) -> bool:
        """Write the host record atomically; False if writing failed."""
        if any("\t" in f"{k}{v}" or "\n" in f"{k}{v}" for k, v in host.items()):
            raise ValueError("host record fields may not contain tabs or newlines")
        text = "".join(f"{k}\t{v}\n" for k, v in sorted(host.items())).encode()
        return _atomic_write(self._host(fingerprint), _wrap(text, _host_key(fingerprint)))


def _host_key(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()


def _parse_record(payload: bytes) -> dict[str, str] | None:
    try:
        lines = payload.decode().splitlines()
    except UnicodeDecodeError:
        return None
    fields = dict(line.split("\t", 1) for line in lines if "\t" in line)
    return fields if len(fields) == len(lines) else None


def _read(path: str) -> bytes | None:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        return None
    except OSError:
        record("disk_errors")
        return None


def _atomic_write(path: str, data: bytes) -> bool:
    """Write ``data`` to a fresh temp file next to ``path``, then rename it into place:
    readers in other processes see the old file, no file or the whole new one."""
    folder, name = os.path.split(path)
    tmp = os.path.join(folder, f".{name[:16]}.{os.getpid()}.{os.urandom(6).hex()}.tmp")
    try:
        os.makedirs(folder, exist_ok=True)
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            _unlink(tmp)
            raise
    except OSError:
        return False
    return True


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


def _unlink(path: str) -> None:
    try:
        os.unlink(path)
    except OSError:
        pass
