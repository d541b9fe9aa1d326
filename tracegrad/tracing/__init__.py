"""Tracing: running a user's Python function on stand-in arrays to record it as IR.

The public face of the subpackage (other packages import these names from here or from the
modules that define them):

- ``trace(fn, args)`` -> ``Traced`` (the Function, its input and output pytrees, closures),
  ``call(traced, leaves, run)``, ``is_leaf``, ``abstract_type``            (``trace.py``)
- ``Tracer``: the stand-in array; ``install_numpy`` wires in the numpy namespace (``tracer.py``)
- ``Trace``, ``push_trace``/``pop_trace``/``current_trace``/``is_active``: the stack of
  active traces, so nested transformations see outer values as inputs    (``context.py``)
- ``user_location``/``user_line_text``: the user's source line for errors (``location.py``)
- ``note``/``take_needed``: which traced values were asked for a concrete value, and which
  Python int arguments that makes necessary to know (``concrete.py``, for ``specialize``)
- ``Alias``, ``link``, ``write``: numpy's views replayed, so a write through a view reaches
  its base and the other views (``views.py``)
- ``Implicit``, ``Captured``: inputs produced at call time (random draws, arrays read from
  globals and closures), and the hooks the numpy layer uses to record draws (``implicit.py``)

>>> import numpy as np
>>> from tracegrad.tracing import trace
>>> traced = trace(lambda x: np.sin(x) * 2.0, (np.zeros(3),))
>>> [v.op.value for v in traced.function.order][1:]
['sin', 'const', 'broadcast', 'mul']
"""

from tracegrad.tracing.context import Trace, current_trace, is_active, pop_trace, push_trace
from tracegrad.tracing.location import user_line_text, user_location
from tracegrad.tracing.trace import Traced, abstract_type, call, is_leaf, trace
from tracegrad.tracing.tracer import Tracer, install_numpy

__all__ = [
    "Trace", "Traced", "Tracer", "abstract_type", "call", "current_trace", "install_numpy",
    "is_active", "is_leaf", "pop_trace", "push_trace", "trace", "user_line_text",
    "user_location",
]  # fmt: skip
