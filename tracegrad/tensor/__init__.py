"""``tracegrad.tensor``: the Theano-style symbolic front end (``import tracegrad.tensor as T``).

Declare symbolic inputs, build expressions with operators and ``T.*`` functions, differentiate
them symbolically, and compile with ``tracegrad.function``. Dims are symbolic, so one compiled
function accepts arrays of any length of the declared rank.

>>> import tracegrad.tensor as T
>>> from tracegrad import function
>>> x = T.dvector('x')
>>> f = function([x], T.grad(T.sum(x ** 2), x))
>>> f([1.0, 2.0, 3.0])
array([2., 4., 6.])
"""

from tracegrad.tensor import basic, constructors, gradient, shared_randomstreams, variables
from tracegrad.tensor.basic import *  # noqa: F403
from tracegrad.tensor.constructors import *  # noqa: F403
from tracegrad.tensor.gradient import *  # noqa: F403
from tracegrad.tensor.inputs import In
from tracegrad.tensor.printing import pp
from tracegrad.tensor.shared import SharedVariable, shared
from tracegrad.tensor.variables import *  # noqa: F403

__all__ = [
    *basic.__all__, *constructors.__all__, *gradient.__all__, *variables.__all__, "In",
    "SharedVariable", "pp", "shared", "shared_randomstreams",
]  # fmt: skip
