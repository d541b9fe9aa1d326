"""Helpers shared by the engine-level tests: unique JIT symbol names (the engine is
process-wide and refuses to redefine a symbol) and running with the disk cache off."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from tracegrad.llvm import cache


def uniq(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def disk_cache_off() -> Iterator[None]:
    previous = cache.set_disk_cache(False)
    try:
        yield
    finally:
        cache.set_disk_cache(*previous)
