"""The passes (each a plain ``Function -> Function`` function) and ``DEFAULT_PIPELINE``.

The passes rewrite the graph; none forms kernels. Which ops share a loop is decided once, by
the backend's planner (``tracegrad.llvm.plan.kernels``), on the graph these passes leave.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from tracegrad.ir.passes.control import control_flow, map_subfunctions
from tracegrad.ir.passes.slim_loops import slim_loops
from tracegrad.ir.rewrite import Rule, rewrite
from tracegrad.ir.rules import CANONICAL, EXACT, FOLD, INEXACT, STABILIZE
from tracegrad.ir.value import Function

Pass = Callable[[Function], Function]


def _rules_pass(name: str, rules: tuple[Rule, ...], doc: str) -> Pass:
    def one(function: Function) -> Function:
        return rewrite(function, rules)[0]

    def run(function: Function) -> Function:
        # loop bodies and branches first: stabilization and algebra apply inside them too
        return one(map_subfunctions(function, one))

    run.__name__ = run.__qualname__ = name
    run.__doc__ = doc
    run.rules = rules  # type: ignore[attr-defined]
    return run


canonicalize = _rules_pass("canonicalize", CANONICAL, "Canonical forms (all bit-exact).")
fold_constants = _rules_pass(
    "fold_constants", (*CANONICAL, FOLD), "Evaluate small constant subgraphs (interpreter)."
)
exact_algebra = _rules_pass(
    "exact_algebra", (*CANONICAL, FOLD, *EXACT), "Bit-exact algebraic identities."
)
inexact_algebra = _rules_pass(
    "inexact_algebra",
    (*CANONICAL, FOLD, *EXACT, *INEXACT),
    "Reassociation and identities that are not bit-exact (opt_level 3 only).",
)
stabilize = _rules_pass(
    "stabilize", (*CANONICAL, *STABILIZE), "Numerically stable forms (every opt_level)."
)
simplify = _rules_pass(
    "simplify",
    (*CANONICAL, FOLD, *EXACT, *STABILIZE),
    "Clean up after stabilization: everything exact plus stabilization, to a fixpoint.",
)


@dataclass(frozen=True)
class Stage:
    """One pass of the pipeline and the lowest opt_level that runs it."""

    name: str
    run: Pass
    min_level: int


# Level 0: canonical forms and stability only (stability is never left to an opt level).
# Levels 1 and 2 (the default): + constant folding, exact algebra, simplification. Level 3:
# + rules that are not bit-exact (reassociation, x*0, x+0...).
DEFAULT_PIPELINE: tuple[Stage, ...] = (
    Stage("canonicalize", canonicalize, 0),
    Stage("fold_constants", fold_constants, 1),
    Stage("exact_algebra", exact_algebra, 1),
    Stage("inexact_algebra", inexact_algebra, 3),
    Stage("stabilize", stabilize, 0),
    Stage("simplify", simplify, 1),
    Stage("control_flow", control_flow, 0),
    Stage("slim_loops", slim_loops, 1),
)
