"""Optional imports of the peers (and of tracegrad itself).

Every loader either returns the module or raises :class:`UnavailableError` with a reason that the
report prints, so a missing or half-built package turns into a skipped row, never a crash.
"""

from __future__ import annotations

import functools
import importlib
import importlib.metadata
import os
from types import ModuleType


class UnavailableError(Exception):
    """The implementation cannot run here (package missing, API not built yet, ...)."""


def _import(name: str) -> ModuleType:
    try:
        return importlib.import_module(name)
    except ImportError as exc:
        raise UnavailableError(f"{name} not installed ({exc})") from exc
    except Exception as exc:  # a broken install or a half-written package
        raise UnavailableError(f"import {name} failed: {type(exc).__name__}: {exc}") from exc


@functools.cache
def jax() -> ModuleType:
    """JAX with 64-bit types enabled (must happen before any JAX array exists)."""
    mod = _import("jax")
    mod.config.update("jax_enable_x64", True)
    return mod


@functools.cache
def numba() -> ModuleType:
    return _import("numba")


@functools.cache
def pytensor() -> ModuleType:
    mod = _import("pytensor")
    _import("pytensor.tensor")
    return mod


@functools.cache
def autograd() -> ModuleType:
    mod = _import("autograd")
    _import("autograd.numpy")
    return mod


@functools.cache
def tracegrad() -> ModuleType:
    return _import("tracegrad")


def tracegrad_attr(name: str) -> object:
    """``tracegrad.<name>``, or UnavailableError when that part of the API is not there yet."""
    tg = tracegrad()
    obj: object = tg
    for part in name.split("."):
        try:
            obj = getattr(obj, part)
        except AttributeError as exc:
            raise UnavailableError(f"tracegrad.{name} does not exist yet") from exc
    return obj


def tracegrad_numpy() -> ModuleType:
    tracegrad()
    return _import("tracegrad.numpy")


DISTRIBUTIONS = (
    "numpy",
    "jax",
    "jaxlib",
    "numba",
    "llvmlite",
    "pytensor",
    "autograd",
    "matplotlib",
    "tracegrad",
)


def versions() -> dict[str, str]:
    """Installed versions of the packages the suite can use (absent ones are left out)."""
    found: dict[str, str] = {}
    for dist in DISTRIBUTIONS:
        try:
            found[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            continue
    return found


def cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown CPU"


def cpu_count() -> int:
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
