"""Theano's spellings of the primitive rows: ``tracegrad.tensor`` exports one function per
elementwise row that has numpy names, under the name Theano gives it, so adding a row adds
its ``T.<name>``.

A row printed with an infix operator (its ``infix``, what ``pp`` shows) takes Theano's name
for that operator (``**`` -> ``pow``, ``==`` -> ``eq``); any other row takes its first numpy
name, except the two Theano renames (``sgn``; ``abs_``, which does not shadow the builtin).

>>> from tracegrad.ir.ops import Op
>>> from tracegrad.ir.prims import PRIMS
>>> theano_name(PRIMS[Op.POW]), theano_name(PRIMS[Op.ATAN2]), theano_name(PRIMS[Op.SIGN])
('pow', 'arctan2', 'sgn')
"""

from __future__ import annotations

from tracegrad.ir.prims import PRIMS, Lowering, Prim

# Theano's names of Python's operators, by (infix, operand count). Not ``&``, ``|``, ``~``:
# Theano's and_/or_/invert are bitwise, the rows printed with them are logical (their numpy
# names, logical_and..., are the right spelling).
OPERATOR_NAMES: dict[tuple[str, int], str] = {
    ("+", 2): "add", ("-", 2): "sub", ("*", 2): "mul", ("/", 2): "true_div",
    ("//", 2): "int_div", ("%", 2): "mod", ("**", 2): "pow", ("-", 1): "neg",
    ("==", 2): "eq", ("!=", 2): "neq", ("<", 2): "lt", ("<=", 2): "le", (">", 2): "gt",
    (">=", 2): "ge",
}  # fmt: skip
# numpy names Theano spells otherwise
RENAMED: dict[str, str] = {"sign": "sgn", "abs": "abs_"}


def theano_name(prim: Prim) -> str | None:
    """The ``tracegrad.tensor`` name of an elementwise row (None: the row has no numpy name,
    so no function: cast and where have their own)."""
    if prim.lowering is not Lowering.ELEMENTWISE or not prim.numpy_names:
        return None
    operator = OPERATOR_NAMES.get((prim.infix, prim.arity)) if prim.infix else None
    return operator or RENAMED.get(prim.numpy_names[0], prim.numpy_names[0])


def row_spellings() -> dict[str, str]:
    """Theano name -> the ``tracegrad.numpy`` function (its first numpy name), per row."""
    found = {}
    for prim in PRIMS.values():
        name = theano_name(prim)
        if name is not None:
            found[name] = prim.numpy_names[0]
    return found
