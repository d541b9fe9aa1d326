"""The files of the disk cache: private folders and files, atomic writes, the MAC key and
the size limit. Policy (keys, entry format, counters) lives in :mod:`tracegrad.llvm.machine.cache`.

Why so strict: an entry is machine code that tracegrad maps executable and calls, so
whoever can write the cache can run code in every process of this user. Hence:

* folders are created with mode 0700; a folder or file not owned by the effective user, or
  writable by group or others, is refused (:class:`UnsafeCacheError`, reported by one
  :class:`CacheWarning` per process). Mode bits are compared, never ``os.access``, so the
  check also holds for root, whom ``os.access`` always allows.
* entries are opened with ``O_NOFOLLOW`` and checked with ``fstat`` on the open file, so a
  file swapped in after the check is never read.
* the HMAC key is 32 random bytes in ``<root>/hmac-key``, mode 0600, created atomically
  (``os.link`` of a complete temp file: a reader never sees a partial key).

Standard library only and cheap to import (no pathlib, tempfile or json).
"""

from __future__ import annotations

import os
import stat
import time
import warnings

__all__ = [
    "KEY_NAME",
    "CacheWarning",
    "UnsafeCacheError",
    "atomic_write",
    "clear",
    "dir_problem",
    "load_key",
    "private_dir",
    "read_private",
    "trim",
    "unlink",
    "usage",
    "warn_once",
]

KEY_NAME = "hmac-key"
_KEY_BYTES = 32
_ENTRY_SUFFIX = ".o"
_TMP_SUFFIX = ".tmp"
_STALE_TMP_S = 3600.0  # temp files this old were left by a process that died mid-write
_NOT_WRITABLE = 0o022  # group/other write bits
_NOT_ACCESSIBLE = 0o077  # the key must not even be readable by others


class CacheWarning(UserWarning):
    """The disk cache refused a folder or file (issued once per process)."""


class UnsafeCacheError(OSError):
    """A cache folder or file that is not private to this user (the message says why)."""


_warned = False


def warn_once(reason: str) -> None:
    """One :class:`CacheWarning` per process: a refused cache is refused on every compile,
    and repeating the reason each time would bury the user's own output."""
    global _warned
    if not _warned:
        _warned = True
        warnings.warn(f"tracegrad: disk cache not used: {reason}", CacheWarning, stacklevel=4)


def _problem(st: os.stat_result, what: str, path: str, mask: int = _NOT_WRITABLE) -> str | None:
    geteuid = getattr(os, "geteuid", None)  # not on Windows
    if geteuid is None:
        return None
    if st.st_uid != geteuid():
        return f"{what} {path} is owned by uid {st.st_uid}, not by this user (uid {geteuid()})"
    if st.st_mode & mask:
        mode = stat.S_IMODE(st.st_mode)
        return f"{what} {path} has mode {mode:o}: group or others may change it"
    return None


def dir_problem(path: str) -> str | None:
    """Why the existing folder ``path`` must not be used, or None (also for no folder)."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    except OSError as exc:
        return f"folder {path} is unusable ({exc.strerror or exc})"
    if not stat.S_ISDIR(st.st_mode):
        return f"{path} is not a folder"
    return _problem(st, "folder", path)


def private_dir(path: str) -> str | None:
    """Create ``path`` with mode 0700 if missing; then as :func:`dir_problem`."""
    try:
        os.makedirs(path, mode=0o700, exist_ok=True)
    except OSError as exc:
        return f"folder {path} cannot be created ({exc.strerror or exc})"
    return dir_problem(path)


def read_private(path: str, *, touch: bool = False, mask: int = _NOT_WRITABLE) -> bytes | None:
    """The bytes of the file ``path``, None if it does not exist; :class:`UnsafeCacheError` if it is
    a symbolic link, not a regular file, not ours, or has a bit of ``mask`` set.
    ``touch`` sets its mtime to now (the size limit evicts by mtime: least recently used)."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_CLOEXEC", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None
    except OSError:
        if os.path.islink(path):  # O_NOFOLLOW fails with ELOOP
            raise UnsafeCacheError(f"file {path} is a symbolic link") from None
        raise
    try:
        st = os.fstat(fd)
        reason = None if stat.S_ISREG(st.st_mode) else f"{path} is not a regular file"
        reason = reason or _problem(st, "file", path, mask)
        if reason is not None:
            raise UnsafeCacheError(reason)
        with os.fdopen(fd, "rb", closefd=False) as f:
            data = f.read()
        if touch and os.utime in os.supports_fd:
            try:
                os.utime(fd)
            except OSError:
                pass  # eviction order only
        return data
    finally:
        os.close(fd)


def atomic_write(path: str, data: bytes) -> bool:
    """Write ``data`` to a fresh 0600 temp file next to ``path``, then rename it into place:
    readers in other processes see the old file, no file or the whole new one."""
    tmp = _tmp_name(path)
    try:
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(data)
            os.replace(tmp, path)
        except BaseException:
            unlink(tmp)
            raise
    except OSError:
        return False
    return True


def _tmp_name(path: str) -> str:
    folder, name = os.path.split(path)
    return os.path.join(folder, f".{name[:16]}.{os.getpid()}.{os.urandom(6).hex()}{_TMP_SUFFIX}")


def load_key(root: str, *, create: bool) -> bytes | None:
    """The MAC key of the cache at ``root``; None if there is none (and ``create`` is
    false). :class:`UnsafeCacheError` if the key file is not ours, readable by others or damaged."""
    path = os.path.join(root, KEY_NAME)
    key = read_private(path, mask=_NOT_ACCESSIBLE)
    if key is None and create:
        _create_key(path)
        key = read_private(path, mask=_NOT_ACCESSIBLE)
    if key is not None and len(key) != _KEY_BYTES:
        raise UnsafeCacheError(f"key file {path} is damaged (delete it to start a new cache)")
    return key


def _create_key(path: str) -> None:
    tmp = _tmp_name(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(os.urandom(_KEY_BYTES))
        try:
            os.link(tmp, path)  # fails if another process made the key first: use theirs
        except FileExistsError:
            pass
        except OSError:  # no hard links on this file system
            os.replace(tmp, path)
    finally:
        unlink(tmp)


def _entries(folder: str) -> list[tuple[int, int, str]]:
    """(mtime_ns, size, path) of each entry in ``folder``; stale temp files are deleted."""
    found = []
    now = time.time()
    try:
        with os.scandir(folder) as it:
            for entry in it:
                try:
                    st = entry.stat(follow_symlinks=False)
                except OSError:
                    continue
                if entry.name.endswith(_TMP_SUFFIX) and now - st.st_mtime > _STALE_TMP_S:
                    unlink(entry.path)
                elif entry.name.endswith(_ENTRY_SUFFIX) and stat.S_ISREG(st.st_mode):
                    found.append((st.st_mtime_ns, st.st_size, entry.path))
    except OSError:
        return []
    return found


def usage(folder: str) -> tuple[int, int]:
    """(number of entries, total bytes) in ``folder``."""
    entries = _entries(folder)
    return len(entries), sum(size for _, size, _ in entries)


def trim(folder: str, limit: int) -> int:
    """Delete the least recently used entries until ``folder`` holds at most ``limit``
    bytes; returns how many were deleted. One ``scandir`` when under the limit."""
    entries = _entries(folder)
    total = sum(size for _, size, _ in entries)
    removed = 0
    for _, size, path in sorted(entries):
        if total <= limit:
            break
        unlink(path)
        total -= size
        removed += 1
    return removed


def clear(folders: list[str]) -> int:
    """Delete every file in ``folders`` (never the folders or anything outside them);
    returns how many. Symbolic links are removed, not followed."""
    removed = 0
    for folder in folders:
        try:
            with os.scandir(folder) as it:
                names = [e.path for e in it if not e.is_dir(follow_symlinks=False)]
        except OSError:
            continue
        for path in names:
            removed += unlink(path)
    return removed


def unlink(path: str) -> bool:
    try:
        os.unlink(path)
    except OSError:
        return False
    return True
