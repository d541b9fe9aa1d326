"""autograd.test_util's checkers, done by tracegrad (tools/autograd_standin/mapping.py)."""

from tools.autograd_standin.mapping import check_grads, combo_check

__all__ = ["check_grads", "combo_check"]
