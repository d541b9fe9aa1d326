"""Session set-up for every test, doctest and docs page pytest collects.

Nothing a test writes outlives the run: one private temporary folder per session holds the
compiled-object cache, pytest's ``tmp_path`` folders and anything code under test puts in
the system temp directory (``TMPDIR`` is pointed at it, so subprocesses inherit it). The
folder is removed when pytest exits. Tests never read or fill the user's cache.
"""

from __future__ import annotations

import os
import shutil
import tempfile

import pytest
from hypothesis import HealthCheck, settings

_SESSION_TMP = tempfile.mkdtemp(prefix="tracegrad-tests-")
os.environ["TMPDIR"] = _SESSION_TMP
tempfile.tempdir = _SESSION_TMP
os.environ["TRACEGRAD_CACHE_DIR"] = os.path.join(_SESSION_TMP, "cache")

settings.register_profile(
    "ci",
    derandomize=True,
    database=None,
    deadline=None,
    max_examples=40,
    print_blob=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
settings.register_profile("dev", deadline=None, max_examples=60)
settings.register_profile("long", deadline=None, max_examples=5000)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


def pytest_configure(config: pytest.Config) -> None:
    if config.option.basetemp is None:  # an explicit --basetemp is the user's to keep
        config.option.basetemp = os.path.join(_SESSION_TMP, "pytest")


def pytest_unconfigure(config: pytest.Config) -> None:
    shutil.rmtree(_SESSION_TMP, ignore_errors=True)
