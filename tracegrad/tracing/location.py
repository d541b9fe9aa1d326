"""Finding the user's source line, so errors and IR point at the code the user wrote."""

from __future__ import annotations

import os
import sys

import numpy as np

_PACKAGE_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_INTERNAL = (_PACKAGE_DIR + os.sep, os.path.dirname(os.path.abspath(np.__file__)), "<frozen")
_cache: dict[str, bool] = {}


def _is_internal(filename: str) -> bool:
    found = _cache.get(filename)
    if found is None:
        found = _cache[filename] = filename.startswith(_INTERNAL)
    return found


def user_location() -> str | None:
    """``file:line`` of the innermost frame outside tracegrad and numpy."""
    frame = sys._getframe(1)
    while frame is not None:
        filename = frame.f_code.co_filename
        if not _is_internal(filename):
            return f"{filename}:{frame.f_lineno}"
        frame = frame.f_back  # type: ignore[assignment]
    return None


def user_line_text(location: str | None) -> str:
    """``file:line`` plus the source text of that line, for error messages."""
    if location is None:
        return "<unknown location>"
    import linecache

    filename, _, line = location.rpartition(":")
    text = linecache.getline(filename, int(line)).strip()
    return f"{location}: {text}" if text else location
