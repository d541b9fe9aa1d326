"""The executable contract: what every backend's ``compile(function)`` returns.

It lives with the IR (stdlib and numpy only) so that a backend (``tracegrad.llvm``) and its
callers (``tracegrad.jit``, ``tracegrad.function``, the derivative API) share it without
importing each other.

* ``exe(arrays)``: the full call: converts and checks the arguments, returns a list of fresh
  output arrays.
* ``exe.hot``: the direct calls it offers on top of that (:class:`HotPaths`). They start as
  plain calls of ``exe`` and are replaced as a whole, in one assignment, when the executable
  tiers up (:mod:`tracegrad.llvm.plan.tierup`); callers that keep a path register
  ``exe.on_tier_up(callback)`` to be told of the new one instead of polling for it.
* ``exe.plan``: the backend's plan, or None; ``exe.llvm_ir``, ``exe.asm``: what runs, as
  text (a note for backends without either).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np

__all__ = ["ArgKind", "Executable", "HotPaths", "fresh", "plain_paths"]

# How one argument reaches a native entry (``HotPaths.entry``): a Python scalar type (float,
# int or bool: an object of exactly that type, for a 0-d param of numpy's default dtype for
# it), or ``(dtype, shape)`` of an exact ndarray. Callers describe their arguments in these
# terms (tracegrad.jit's fast-path keys are built to be exactly this); backends know no
# caller's key format.
ArgKind = type | tuple[Any, tuple[int, ...]]


@dataclass(frozen=True)
class HotPaths:
    """An executable's direct calls.

    ``fast_call(*arrays)`` is ``exe(arrays)`` for arrays already of the params' dtypes,
    possibly without the Python conversions. ``entry`` (or None) builds native whole-call
    entries: ``entry(kinds, out, fallback)``, ``kinds`` an :data:`ArgKind` per argument
    (see :mod:`tracegrad.llvm.plan.entry`). ``symbolic``
    (or None) is ``arrays -> outputs or None`` for runtime-extent plans, None meaning "take
    ``exe(arrays)``" (see ``tracegrad.function``).
    """

    fast_call: Callable[..., list[np.ndarray]]
    entry: Callable[..., Any] | None = None
    symbolic: Callable[[list[Any]], list[np.ndarray] | None] | None = None


@runtime_checkable
class Executable(Protocol):
    """See the module docstring."""

    def __call__(self, arrays: Sequence[Any]) -> list[np.ndarray]: ...

    @property
    def hot(self) -> HotPaths: ...

    def on_tier_up(self, callback: Callable[[HotPaths], None]) -> None: ...

    @property
    def plan(self) -> Any:
        """The backend's plan of what runs, in order (for the LLVM backend a
        ``tracegrad.llvm.plan.kernels.Plan``), or None: no plan (the interpreter) or one per
        input shape (a Function specialized at each call)."""
        ...

    @property
    def llvm_ir(self) -> str: ...

    @property
    def asm(self) -> str: ...


def plain_paths(exe: Callable[[Sequence[Any]], list[np.ndarray]]) -> HotPaths:
    """HotPaths that only call ``exe`` (an executable that never tiers up, or not yet)."""

    def fast_call(*arrays: Any) -> list[np.ndarray]:
        return exe(arrays)

    return HotPaths(fast_call)


def fresh(out: np.ndarray, inputs: Sequence[Any]) -> np.ndarray:
    """``out`` itself if it owns writable memory no input shares, else a copy."""
    if out.flags.owndata and out.flags.writeable and not any(out is a for a in inputs):
        return out
    return np.array(out, copy=True)
