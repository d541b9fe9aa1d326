"""tracegrad.testing on itself: random programs through every oracle, the strategies, the
fuzzer's save/replay cycle, and the saved regression cases."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import tracegrad
from tracegrad.testing.fuzz import load_case, run, save_case
from tracegrad.testing.oracles import assert_close, assert_matches_numpy, check_program
from tracegrad.testing.programs import program_inputs, programs
from tracegrad.testing.strategies import LAYOUTS, arrays, relayout

REGRESSIONS = sorted((Path(__file__).parent / "regressions").glob("*.ssa"))


@settings(max_examples=60)
@given(st.data())
def test_safe_programs_pass_every_oracle(data: st.DataObject) -> None:
    program = data.draw(programs(max_ops=6))
    inputs = data.draw(program_inputs(program))
    report = check_program(program, inputs)
    required = ["compiled_vs_interpreter", "no_retrace", "inputs_unchanged",
                "optimized_vs_unoptimized", "llvm_O0_vs_O3_threads"]  # fmt: skip
    if hasattr(tracegrad, "grad"):
        required += ["grad_compositions", "finite_differences"]
    for oracle in required:
        assert report[oracle] == "ok", report
    for x in data.draw(program_inputs(program)):
        assert np.isfinite(x).all()


@settings(max_examples=40)
@given(st.data())
def test_raw_programs_match_the_interpreter(data: st.DataObject) -> None:
    """Raw mode: true partial ops (NaN and inf can appear) must agree exactly in NaN
    positions, infinities and values with the reference interpreter."""
    program = data.draw(programs(max_ops=5, safe=False))
    inputs = data.draw(program_inputs(program, domain="special"))
    report = check_program(program, inputs, grad=False)
    assert report["compiled_vs_interpreter"] == "ok"


@settings(max_examples=20)
@given(st.data())
def test_float32_programs(data: st.DataObject) -> None:
    program = data.draw(programs(max_ops=5, dtypes=("float32",)))
    inputs = data.draw(program_inputs(program))
    assert check_program(program, inputs, grad=False)["compiled_vs_interpreter"] == "ok"


def test_oracle_detects_a_wrong_answer() -> None:
    with pytest.raises(AssertionError, match="NaN positions"):
        assert_close([np.array([1.0, np.nan])], [np.array([1.0, 2.0])], "demo")
    with pytest.raises(AssertionError, match="dtype"):
        assert_close([np.ones(2, np.float32)], [np.ones(2)], "demo")
    with pytest.raises(AssertionError):
        assert_close([np.array([1.0, 2.0 + 1e-9])], [np.array([1.0, 2.0])], "demo")


def test_assert_matches_numpy_on_user_code() -> None:
    assert_matches_numpy(lambda x, y: np.tanh(x) @ y + 1.0, np.ones((2, 3)), np.ones(3))
    # a function that computes something else when traced must be caught
    with pytest.raises(AssertionError):
        assert_matches_numpy(
            lambda x: x * 2.0 if isinstance(x, np.ndarray) else x * 3.0, np.ones(2)
        )


@given(x=arrays("float64", (3, 4)), layout=st.sampled_from(LAYOUTS))
def test_relayout_keeps_values(x: np.ndarray, layout: str) -> None:
    y = relayout(x, layout)
    np.testing.assert_array_equal(np.asarray(y, dtype=np.float64), x)


def test_layouts_are_what_they_say() -> None:
    x = np.arange(12.0).reshape(3, 4)
    assert relayout(x, "F").flags.f_contiguous and not relayout(x, "F").flags.c_contiguous
    assert not relayout(x, "strided").flags.c_contiguous
    assert relayout(x, "reversed").strides[0] < 0
    assert not relayout(x, "readonly").flags.writeable
    assert relayout(x, "bigendian").dtype.byteorder == ">"
    assert relayout(x, "unaligned").ctypes.data % 8 != 0
    assert relayout(np.ones((3, 4)), "broadcast").strides[0] == 0


def test_fuzzer_runs_and_saves_replayable_cases(tmp_path: Path) -> None:
    stats = run(minutes=0.05, out_dir=tmp_path, derandomize=True)  # no randomness in CI
    assert stats["programs"] > 0 and stats["failures"] == 0, stats
    program = programs(max_ops=3).example()
    inputs = program_inputs(program).example()
    path = save_case(tmp_path, program, inputs, "demo")
    loaded, loaded_inputs = load_case(path)
    assert loaded.source == program.source
    for a, b in zip(loaded_inputs, inputs, strict=True):
        np.testing.assert_array_equal(a, b)


@pytest.mark.parametrize("path", REGRESSIONS, ids=[p.stem for p in REGRESSIONS])
def test_saved_regressions(path: Path) -> None:
    program, inputs = load_case(path)
    check_program(program, inputs)
