"""Disk cache of JIT object code, plus the hit/miss counters of all compile caches.

Loading cached object code costs about 2 ms against 165-190 ms to optimize and compile
the same module, so every compiled module's ELF object is kept on disk.

* Key: sha256 over the IR text, the optimization and codegen levels, the host CPU name
  and feature string, the LLVM and llvmlite versions and a version string (tracegrad's
  ``__version__``, added by :func:`tracegrad.llvm.machine.engine.module_key`). Each part is
  length-prefixed, so no two tuples collide by concatenation. Addresses never enter the
  key: IR refers to process objects by symbol name and the loader relocates them in each
  process.
* Location: ``$TRACEGRAD_CACHE_DIR`` (default ``~/.cache/tracegrad``), sub-folder
  ``objects-v1``. Sub-folder ``hosts-v1`` maps a host fingerprint (CPU identification and
  flags from /proc/cpuinfo, llvmlite's version and library; see
  :func:`tracegrad.llvm.machine.host.host_fingerprint`) to the CPU name, features and versions
  LLVM reported, so that a new process computes the key of a cached object without
  loading LLVM. ``TRACEGRAD_CACHE=0`` or :func:`set_disk_cache` turns the disk cache off;
  the environment is read at each use, so tests can change it.
* Security: an entry is machine code this process will run, so whoever can write the
  cache must be this user. Folders are created with mode 0700, and a folder or file not
  owned by the effective user or writable by group/others is refused (one
  :class:`CacheWarning` per process says why; see :mod:`tracegrad.llvm.machine.cache_files`).
  Every entry and host record is authenticated with HMAC-SHA256 under a per-user random
  key (``<root>/hmac-key``, mode 0600): a plain checksum can be recomputed by anyone who
  changes the payload, a MAC cannot without the key.
* Size: at most ``$TRACEGRAD_CACHE_MAX_MB`` MiB of objects (default 512); each store
  evicts the least recently used entries beyond it (a hit sets the entry's mtime).
* Entries are written to a temp file in the same folder, then ``os.replace``d: readers
  in other processes see either no entry or a complete one.
* Cheap to import and use: no pathlib, tempfile, json or dataclasses (together about
  15-20 ms of import on the project's VM, paid by every new process); the public
  ``Path`` values are built on demand.
* Each entry starts with a header (magic, the key, payload length, MAC). A truncated,
  corrupt, forged or foreign entry is deleted and reported as a miss; the engine also
  deletes an entry the loader refuses (it validates the object before any native code or
  LLVM sees it) and compiles instead. Cache I/O errors never fail a compile.

The in-memory cache lives in :mod:`tracegrad.llvm.machine.engine` (it is the engine's table of
loaded objects, because MCJIT cannot unload code or load the same symbols twice); its
hits are counted here so :func:`cache_info` shows all levels. ``python -m tracegrad cache
--info`` / ``--clear`` show and empty the disk cache.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import struct
import threading
from typing import Any

from tracegrad.ir import forksafe
from tracegrad.llvm.machine import cache_files as _files
from tracegrad.llvm.machine.cache_files import CacheWarning

__all__ = [
    "CacheInfo",
    "CacheWarning",
    "DiskCache",
    "cache_info",
    "cache_key",
    "default_cache_dir",
    "disk_cache",
    "disk_cache_enabled",
    "max_bytes",
    "record",
    "reset_cache_info",
    "set_disk_cache",
]

ENV_DIR = "TRACEGRAD_CACHE_DIR"
ENV_ENABLE = "TRACEGRAD_CACHE"
ENV_MAX_MB = "TRACEGRAD_CACHE_MAX_MB"
DEFAULT_MAX_MB = 512
_SUBDIR = "objects-v1"
_HOSTS_SUBDIR = "hosts-v1"
# Format 2: the checksum became a MAC (a format-1 entry is deleted as foreign when read).
_MAGIC = b"TGOBJ\x00\x02\x00"
# magic, key digest, payload length; then the HMAC-SHA256 of all that and the payload
_PREFIX = struct.Struct("<8s32sQ")
_MAC_SIZE = 32
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


_counts_lock = forksafe.reset_in_child(threading.Lock())
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


def max_bytes() -> int:
    """The size limit of the object folder: ``$TRACEGRAD_CACHE_MAX_MB`` MiB (a positive
    number, fractions allowed), else :data:`DEFAULT_MAX_MB`."""
    raw = os.environ.get(ENV_MAX_MB, "").strip()
    try:
        mb = float(raw) if raw else DEFAULT_MAX_MB
    except ValueError:
        mb = DEFAULT_MAX_MB
    if not 0 < mb < 1 << 40:  # also refuses nan and inf
        mb = DEFAULT_MAX_MB
    return int(mb * (1 << 20))


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
        return self._load(self._object(key), key, touch=True)

    def store(self, key: str, payload: bytes) -> bool:
        """Write atomically, then evict the least recently used entries beyond
        :func:`max_bytes`; returns False (and counts an error) if writing failed."""
        if not self._store(self._object(key), key, payload):
            record("disk_errors")
            return False
        record("disk_writes")
        _files.trim(os.path.join(self._root, _SUBDIR), max_bytes())
        return True

    def discard(self, key: str) -> None:
        """Delete a bad entry (counted as a disk error)."""
        record("disk_errors")
        _files.unlink(self._object(key))

    def load_host(self, fingerprint: str) -> dict[str, str] | None:
        """The host record stored for ``fingerprint``, or None (a bad one is deleted).

        A record is ``name<TAB>value`` lines, stored like an object (header and MAC,
        under the key sha256(fingerprint)).
        """
        path = self._host(fingerprint)
        payload = self._load(path, _host_key(fingerprint), touch=False)
        fields = _parse_record(payload) if payload is not None else None
        if payload is not None and fields is None:
            record("disk_errors")
            _files.unlink(path)
        return fields

    def store_host(self, fingerprint: str, host: dict[str, str]) -> bool:
        """Write the host record atomically; False if writing failed."""
        if any("\t" in f"{k}{v}" or "\n" in f"{k}{v}" for k, v in host.items()):
            raise ValueError("host record fields may not contain tabs or newlines")
        text = "".join(f"{k}\t{v}\n" for k, v in sorted(host.items())).encode()
        return self._store(self._host(fingerprint), _host_key(fingerprint), text)

    def problem(self) -> str | None:
        """Why this cache is refused (owners and modes of its folders and key), or None."""
        try:
            self._check_folders(self._object("0" * 64), create=False)
            _files.load_key(self._root, create=False)
        except OSError as exc:  # UnsafeCacheError included
            return str(exc)
        return None

    def usage(self) -> tuple[int, int]:
        """(number of objects, their total bytes)."""
        return _files.usage(os.path.join(self._root, _SUBDIR))

    def clear(self) -> int:
        """Delete every object and host record (not the key); returns how many."""
        return _files.clear([os.path.join(self._root, d) for d in (_SUBDIR, _HOSTS_SUBDIR)])

    def _check_folders(self, path: str, *, create: bool) -> None:
        """UnsafeCacheError unless the root and the folder of ``path`` are private to this
        user; ``create`` makes missing ones (mode 0700)."""
        for folder in (self._root, os.path.dirname(path)):
            problem = _files.private_dir(folder) if create else _files.dir_problem(folder)
            if problem is not None:
                raise _files.UnsafeCacheError(problem)

    def _load(self, path: str, key: str, *, touch: bool) -> bytes | None:
        """The authenticated payload at ``path``; a bad entry is deleted. A refused folder
        or file is left alone (a store replaces the file), the reason warned about once."""
        try:
            self._check_folders(path, create=False)
            blob = _files.read_private(path, touch=touch)
            secret = _files.load_key(self._root, create=False) if blob is not None else None
        except _files.UnsafeCacheError as exc:
            _files.warn_once(str(exc))
            return None
        except OSError:
            record("disk_errors")
            return None
        if blob is None:
            return None
        payload = _unwrap(blob, key, secret)
        if payload is None:  # damaged, forged, foreign or made under another key
            record("disk_errors")
            _files.unlink(path)
        return payload

    def _store(self, path: str, key: str, payload: bytes) -> bool:
        try:
            self._check_folders(path, create=True)
            secret = _files.load_key(self._root, create=True)
        except _files.UnsafeCacheError as exc:
            _files.warn_once(str(exc))
            return False
        except OSError:
            return False
        return secret is not None and _files.atomic_write(path, _wrap(payload, key, secret))


def _host_key(fingerprint: str) -> str:
    return hashlib.sha256(fingerprint.encode()).hexdigest()


def _parse_record(payload: bytes) -> dict[str, str] | None:
    try:
        lines = payload.decode().splitlines()
    except UnicodeDecodeError:
        return None
    fields = dict(line.split("\t", 1) for line in lines if "\t" in line)
    return fields if len(fields) == len(lines) else None


def _mac(secret: bytes, prefix: bytes, payload: bytes) -> bytes:
    mac = hmac.new(secret, prefix, hashlib.sha256)
    mac.update(payload)
    return mac.digest()


def _wrap(payload: bytes, key: str, secret: bytes) -> bytes:
    prefix = _PREFIX.pack(_MAGIC, bytes.fromhex(key), len(payload))
    return prefix + _mac(secret, prefix, payload) + payload


def _unwrap(blob: bytes, key: str, secret: bytes | None) -> bytes | None:
    """The payload of an entry made under ``secret`` for ``key``, else None."""
    start = _PREFIX.size + _MAC_SIZE
    if secret is None or len(blob) < start:
        return None
    magic, key_digest, length = _PREFIX.unpack_from(blob)
    payload = blob[start:]
    if magic != _MAGIC or key_digest != bytes.fromhex(key) or length != len(payload):
        return None
    if not hmac.compare_digest(
        _mac(secret, blob[: _PREFIX.size], payload), blob[_PREFIX.size : start]
    ):
        return None
    return payload
