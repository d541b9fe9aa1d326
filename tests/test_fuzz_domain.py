"""The raw-mode fuzzer's gradient oracle (issue #12, the 30-minute raw run): finite
differences are compared only where the program is differentiable around the point."""

from __future__ import annotations

import numpy as np
import pytest

from tracegrad.ir.parser import parse_function
from tracegrad.testing.domain import outside_differentiable_domain
from tracegrad.testing.oracles import check_program
from tracegrad.testing.programs import Program

# a case the raw fuzzer reported: pow(x, x / x) is x, but d/dy x**y does not exist at x < 0
POW_SELF = """func @program(%0: f64[] "x0") -> (f64[]) {
  %1 = div %0, %0 : f64[]
  %2 = pow %0, %1 : f64[]
  return %2
}"""


def _program(text: str) -> Program:
    return Program(parse_function(text), safe=False)


def test_pow_of_a_negative_base_is_outside_the_domain() -> None:
    f = parse_function(POW_SELF)
    assert outside_differentiable_domain(f, [np.array(-0.8)]) == "pow with a base near or below 0"
    assert outside_differentiable_domain(f, [np.array(0.8)]) is None
    assert (
        outside_differentiable_domain(f, [np.array(np.nan)]) == "div is not finite or may overflow"
    )


@pytest.mark.parametrize("x", [-0.8, 0.8, np.nan, np.inf])
def test_check_program_skips_what_it_cannot_check_and_checks_the_rest(x: float) -> None:
    report = check_program(_program(POW_SELF), [np.array(x)])
    smooth = x == 0.8
    assert (
        report["finite_differences"] == "ok"
        if smooth
        else report["finite_differences"].startswith("skipped: ")
    )


@pytest.mark.parametrize(
    ("body", "point", "reason"),
    [
        ("%1 = log %0 : f64[2]", [1.0, 1e-9], "log near or below 0"),
        ("%1 = sqrt %0 : f64[2]", [1.0, -1.0], "sqrt near or below 0"),
        ("%1 = abs %0 : f64[2]", [1.0, 1e-5], "abs near its kink"),
        ("%1 = exp %0 : f64[2]", [1.0, 800.0], "exp is not finite or may overflow"),
    ],
)
def test_each_kink_and_pole_is_recognised(body: str, point: list, reason: str) -> None:
    text = f'func @p(%0: f64[2] "x") -> (f64[2]) {{\n  {body}\n  return %1\n}}'
    f = parse_function(text)
    assert outside_differentiable_domain(f, [np.array(point)]) == reason
    assert outside_differentiable_domain(f, [np.array([1.0, 2.0])]) is None


def test_maximum_of_a_value_with_itself_has_no_kink() -> None:
    text = 'func @p(%0: f64[2] "x") -> (f64[2]) {\n  %1 = maximum %0, %0 : f64[2]\n  return %1\n}'
    assert outside_differentiable_domain(parse_function(text), [np.array([0.0, 1.0])]) is None
