"""Helpers shared by the engine-level tests: unique JIT symbol names (the engine is
process-wide and refuses to redefine a symbol), running with the disk cache off, and small
object files for the loader tests."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator

from tracegrad.llvm.machine import cache, engine


def uniq(prefix: str) -> str:
    return f"{prefix}_{uuid.uuid4().hex[:12]}"


@contextlib.contextmanager
def disk_cache_off() -> Iterator[None]:
    previous = cache.set_disk_cache(False)
    try:
        yield
    finally:
        cache.set_disk_cache(*previous)


def object_code(ir: str, level: int = 2) -> bytes:
    """ELF object code of ``ir`` (optimized at ``level``), not loaded anywhere."""
    with engine.LLVM_LOCK:
        return engine.emit_target_machine(level).emit_object(engine.optimize_ir(ir, level))


def table_ir(name: str) -> str:
    """A function reading constants from a table: relocations into a data section."""
    return (
        f"@{name}.t = private unnamed_addr constant [4 x double] "
        "[double 1.5, double 2.5, double 3.5, double 4.5]\n"
        f"define double @{name}(i64 %i) {{\n"
        f"  %p = getelementptr [4 x double], ptr @{name}.t, i64 0, i64 %i\n"
        "  %v = load double, ptr %p\n  ret double %v\n}\n"
    )
