"""The rule sets, as data: ``CANONICAL``, ``FOLD``, ``EXACT``, ``INEXACT``, ``STABILIZE``.

Every rule carries a bit-exactness flag and a one-line algebra comment; ``ALL_RULES`` lists
them all (tests check each one, see tests/test_rewrite_rules.py).

>>> sorted({r.exact for r in EXACT}), sorted({r.exact for r in INEXACT})
([True], [False])
"""

from tracegrad.ir.rules.algebra import EXACT, FOLD, INEXACT
from tracegrad.ir.rules.canonical import CANONICAL
from tracegrad.ir.rules.stabilize import STABILIZE

ALL_RULES = (*CANONICAL, FOLD, *EXACT, *INEXACT, *STABILIZE)

__all__ = ["ALL_RULES", "CANONICAL", "EXACT", "FOLD", "INEXACT", "STABILIZE"]
