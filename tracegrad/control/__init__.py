"""Loops that stay loops: ``cond``, ``while_loop``, ``fori_loop`` and ``scan``, with JAX's
calling conventions. Under ``jit``/``grad`` each becomes one higher-order op whose bodies are
traced once (compile time does not grow with the trip count) and which reverse mode
differentiates, ``while_loop`` included. Called on concrete arrays outside any trace they run
as plain Python loops, so they mean exactly what the eager code means.

Carries, operands and outputs are pytrees (tuples, lists, dicts, None) of arrays and scalars.
A loop body must give back carries of the types it received; a Python scalar in the initial
carry is weak (NEP 50): its dtype follows what the body makes of it (``0.0`` summed with
float32 arrays is a float32 carry).

>>> import numpy as np, tracegrad
>>> @tracegrad.jit
... def euler(x0, dt):
...     return tracegrad.fori_loop(0, 1000, lambda i, x: x + dt * np.cos(x), x0)
>>> round(float(euler(np.array(0.0), 0.001)), 3)  # x(1) = gd(1) = 0.8658 for x' = cos x
0.866
>>> g = tracegrad.grad(lambda x0: tracegrad.fori_loop(0, 3, lambda i, x: x * x, x0))
>>> float(g(1.5))  # d/dx x**8 = 8 x**7
136.6875
"""

from tracegrad.control.bodies import LoopTypeError
from tracegrad.control.branches import cond
from tracegrad.control.loops import fori_loop, scan, while_history, while_loop

__all__ = ["LoopTypeError", "cond", "fori_loop", "scan", "while_history", "while_loop"]
