"""Small adapters shared by the workloads: calling JAX, PyTensor and tracegrad uniformly."""

from __future__ import annotations

from collections.abc import Callable
from types import ModuleType
from typing import Any

import numpy as np

from bench import peers

TRACEGRAD_NAME = "tracegrad"


def jax_numpy() -> ModuleType:
    peers.jax()
    import jax.numpy as jnp

    return jnp


def jax_call(fn: Callable[..., Any], *args: Any) -> Callable[[], Any]:
    """Call ``fn`` on the arguments moved to the device once, blocking until the (asynchronous)
    result is ready, so the timing covers the computation and not just its dispatch."""
    jax = peers.jax()
    device_args = [jax.device_put(a) if isinstance(a, np.ndarray) else a for a in args]
    return lambda: jax.block_until_ready(fn(*device_args))


def pytensor_tensor() -> ModuleType:
    peers.pytensor()
    import pytensor.tensor as pt

    return pt


def pytensor_vector(dtype: np.dtype | type, name: str = "x") -> Any:
    return pytensor_tensor().vector(name, dtype=np.dtype(dtype).name)


def pytensor_matrix(dtype: np.dtype | type, name: str) -> Any:
    return pytensor_tensor().matrix(name, dtype=np.dtype(dtype).name)


def autograd_numpy() -> ModuleType:
    peers.autograd()
    import autograd.numpy as anp

    return anp


def tg(name: str) -> Callable[..., Any]:
    """A tracegrad transform (``jit``, ``grad``, ``value_and_grad``), or UnavailableError."""
    fn = peers.tracegrad_attr(name)
    if not callable(fn):
        raise peers.UnavailableError(f"tracegrad.{name} is not callable")
    return fn


def tnp() -> ModuleType:
    return peers.tracegrad_numpy()


# PyTensor 3 compiles through Numba by default; its older C backend is still there. Both are
# measured, under these names and compile modes.
PYTENSOR_MODES = (("pytensor C", "CVM"), ("pytensor numba", "NUMBA"))


def pytensor_function(inputs: list[Any], outputs: Any, mode: str) -> Callable[..., Any]:
    return peers.pytensor().function(inputs, outputs, mode=mode)
