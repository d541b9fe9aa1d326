"""Command line tools: ``python -m tracegrad cache --info`` and ``python -m tracegrad cache
--clear`` show and empty the disk cache of compiled code (see docs/backend.md, "Disk
cache"). Both honour ``TRACEGRAD_CACHE_DIR`` and ``TRACEGRAD_CACHE_MAX_MB``.

>>> from tracegrad.__main__ import main
>>> main(["cache", "--info"])  # doctest: +ELLIPSIS
location: ...
limit: ... MiB (TRACEGRAD_CACHE_MAX_MB)
0
"""

from __future__ import annotations

import argparse
import sys

from tracegrad.llvm.machine import cache

__all__ = ["main"]


def main(argv: list[str] | None = None) -> int:
    """Run the command line ``argv`` (default: ``sys.argv[1:]``); returns the exit code."""
    parser = argparse.ArgumentParser(prog="python -m tracegrad", description="tracegrad tools")
    commands = parser.add_subparsers(dest="command", required=True)
    cache_cmd = commands.add_parser("cache", help="the disk cache of compiled code")
    action = cache_cmd.add_mutually_exclusive_group(required=True)
    action.add_argument("--info", action="store_true", help="location, entries, size, limit")
    action.add_argument("--clear", action="store_true", help="delete every cached entry")
    args = parser.parse_args(argv)
    store = cache.DiskCache(cache.default_cache_dir())
    if args.clear:
        print(f"removed {store.clear()} files from {store.root}")
        return 0
    for line in info_lines(store):
        print(line)
    return 0


def info_lines(store: cache.DiskCache) -> list[str]:
    """What ``cache --info`` prints: one ``name: value`` line each."""
    count, size = store.usage()
    problem = store.problem()
    if not cache.disk_cache_enabled():
        status = f"off ({cache.ENV_ENABLE}=0 or set_disk_cache)"
    else:
        status = "on" if problem is None else f"refused: {problem}"
    return [
        f"location: {store.root}",
        f"status: {status}",
        f"entries: {count}",
        f"size: {size / (1 << 20):.1f} MiB ({size} bytes)",
        f"limit: {cache.max_bytes() / (1 << 20):g} MiB ({cache.ENV_MAX_MB})",
    ]


if __name__ == "__main__":
    sys.exit(main())
