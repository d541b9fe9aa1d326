"""The host description behind cache keys, without loading LLVM when the disk knows it.

A cache key includes the CPU name and feature string LLVM reports, and asking LLVM means
loading it (about 12 ms through :mod:`tracegrad.llvm.machine.capi`, 50-90 ms through
llvmlite.binding). So the disk cache keeps a *host record*: under a fingerprint of the
host computed without LLVM (:func:`host_fingerprint`), the :class:`~tracegrad.llvm.machine.target.
HostInfo` LLVM reported plus the identity of the llvmlite installation
(:func:`llvmlite_files`). :func:`key_host` uses it until LLVM is loaded anyway; a missing,
damaged or stale record costs one LLVM load, never a wrong key, and is rewritten.
"""

from __future__ import annotations

import hashlib
import os
import sys

from tracegrad.llvm.machine import cache
from tracegrad.llvm.machine.target import HostInfo, ensure_initialized, initialized_host

__all__ = [
    "check_host_record",
    "host_fingerprint",
    "key_host",
    "llvmlite_files",
    "llvmlite_files_unchanged",
    "read_host_record",
]


def host_fingerprint() -> str | None:
    """A digest of what identifies this host's code generation, computed without loading
    LLVM (or even importing llvmlite): the CPU identification and feature flags of
    /proc/cpuinfo (first processor), the machine, and the Python installation (prefix and
    version, which decide which llvmlite is imported). None where /proc/cpuinfo is missing
    (then the host description always comes from LLVM itself).

    The disk cache maps this digest to the :class:`HostInfo` LLVM reported the first
    time, plus :func:`llvmlite_files`, so that a process whose kernels all come from the
    cache never imports llvmlite.
    """
    global _fingerprint
    if _fingerprint is None:
        _fingerprint = _compute_fingerprint() or ""
    return _fingerprint or None


_fingerprint: str | None = None
_CPUINFO_KEYS = ("vendor_id", "cpu family", "model", "model name", "stepping", "flags")


def _compute_fingerprint() -> str | None:
    try:
        machine = os.uname().machine
        with open("/proc/cpuinfo", encoding="utf-8", errors="replace") as f:
            first = f.read(1 << 16).split("\n\n", 1)[0]
    except (OSError, AttributeError):  # AttributeError: no os.uname
        return None
    fields = {}
    for line in first.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in _CPUINFO_KEYS:
            fields[key.strip()] = " ".join(value.split())
    if "flags" not in fields:
        return None
    parts = ("tracegrad-host-v1", machine, sys.prefix, sys.version, repr(sorted(fields.items())))
    return hashlib.sha256("\0".join(parts).encode()).hexdigest()


def llvmlite_files() -> str:
    """Which llvmlite this process uses: path, size and mtime of its version file and of
    its LLVM library. Stored in the host record and checked there with ``os.stat`` only,
    so a reinstalled or upgraded llvmlite invalidates the record."""
    import llvmlite

    base = os.path.dirname(os.path.abspath(llvmlite.__file__))
    binding = os.path.join(base, "binding")
    paths = [os.path.join(base, "_version.py")] + sorted(
        os.path.join(binding, n) for n in os.listdir(binding) if n.startswith("libllvmlite")
    )
    return ";".join(_file_id(p) for p in paths)


def llvmlite_files_unchanged(identity: str) -> bool:
    """Whether every file named by a :func:`llvmlite_files` string is still the same."""
    try:
        return all(_file_id(item.rsplit("|", 2)[0]) == item for item in identity.split(";"))
    except OSError:
        return False


def _file_id(path: str) -> str:
    st = os.stat(path)
    return f"{path}|{st.st_size}|{st.st_mtime_ns}"


_recorded_host: HostInfo | None = None  # from the disk's host record, LLVM not loaded
_host_record_checked = False


def key_host() -> HostInfo:
    """The host description for cache keys: LLVM's own once LLVM is loaded; before that,
    the disk cache's record for this host's fingerprint, so that a process whose objects
    all come from the disk never loads LLVM. Without a usable record, LLVM is loaded and
    the record written for the next process."""
    global _recorded_host
    host = initialized_host()
    if host is None and _recorded_host is not None:
        return _recorded_host
    store = cache.disk_cache()
    fingerprint = host_fingerprint() if store is not None else None
    if host is None and store is not None and fingerprint is not None:
        _recorded_host = read_host_record(store, fingerprint)
        if _recorded_host is not None:
            return _recorded_host
    host = ensure_initialized()
    check_host_record(store, fingerprint, host)
    return host


def read_host_record(store: cache.DiskCache, fingerprint: str) -> HostInfo | None:
    record = store.load_host(fingerprint)
    if record is None:
        return None
    files = record.pop("llvmlite_files", "")
    if not files or not llvmlite_files_unchanged(files):
        return None  # another llvmlite: LLVM is loaded and the record rewritten
    try:
        return HostInfo(**record)
    except TypeError:  # the fields of another tracegrad version: rewritten likewise
        return None


def check_host_record(
    store: cache.DiskCache | None, fingerprint: str | None, host: HostInfo
) -> None:
    """Write (or correct) the host record once per process, after LLVM is loaded."""
    global _host_record_checked
    if _host_record_checked or store is None or fingerprint is None:
        return
    _host_record_checked = True
    wanted = {**host._asdict(), "llvmlite_files": llvmlite_files()}
    if store.load_host(fingerprint) != wanted:
        if _recorded_host is not None and _recorded_host != host:
            # keys of this process came from a record that does not describe this host
            cache.record("disk_errors")
        store.store_host(fingerprint, wanted)
