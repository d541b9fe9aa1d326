"""The math library's routine registry: each routine module of ``tracegrad.llvm.mathlib``
registers its routines (name, arity, body emitter, dependencies) and constant tables here,
and :mod:`tracegrad.llvm.mathlib.library` assembles definitions from the registry, unary and
binary alike.

A routine that backs a primitive row takes its ulp bound from the row
(``tracegrad.ir.prims``, ``Scalar.routine``); one that does not (sigmoid, softplus: used by
fused patterns) declares its own here.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

# body(builder, *argument SSA names) -> the result's SSA name (float64 arithmetic)
Body = Callable[..., str]


@dataclass(frozen=True)
class Routine:
    name: str
    arity: int  # 1 or 2 double arguments
    body: Body
    deps: tuple[str, ...] = ()  # routines it calls and tables it reads (names starting "_")
    ulp_f64: float | None = None  # only for routines no primitive row declares


@dataclass(frozen=True)
class Table:
    name: str  # "_"-prefixed
    symbol: str  # the LLVM global
    values: Callable[[], list[float]]


ROUTINES: dict[str, Routine] = {}
TABLES: dict[str, Table] = {}


def register_routine(routine: Routine) -> Routine:
    if routine.name in ROUTINES or routine.arity not in (1, 2):
        raise ValueError(f"bad or duplicate math routine {routine.name!r}")
    ROUTINES[routine.name] = routine
    return routine


def register_table(table: Table) -> Table:
    if table.name in TABLES or not table.name.startswith("_"):
        raise ValueError(f"bad or duplicate math table {table.name!r}")
    TABLES[table.name] = table
    return table
