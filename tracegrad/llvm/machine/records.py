"""``Record``: a small immutable record class for the backend's modules that every process
imports (engine, loader, ELF reader).

Why not a dataclass or a NamedTuple: creating a frozen dataclass costs about 1 ms and a
NamedTuple about 0.3 ms at import time on the project's VM (both generate and compile
source code), against microseconds for this class; the first jit call pays for every
record type its imports define.

>>> class Point(Record):
...     __slots__ = ("x", "y")
...     _defaults = {"y": 0}
>>> Point(1), Point(1, y=2)._asdict()
(Point(x=1, y=0), {'x': 1, 'y': 2})
"""

from __future__ import annotations

from typing import Any, ClassVar

__all__ = ["Record"]


class Record:
    """Fields are named by ``__slots__``, given by position or keyword, with optional
    ``_defaults``; instances are immutable, compare and hash by value."""

    __slots__: ClassVar[tuple[str, ...]] = ()
    _defaults: ClassVar[dict[str, Any]] = {}

    def __init__(self, *values: Any, **named: Any) -> None:
        names = self.__slots__
        if len(values) > len(names):
            raise TypeError(f"{type(self).__name__} takes {len(names)} fields")
        given = dict(zip(names, values, strict=False))
        for key, value in named.items():
            if key not in names or key in given:
                raise TypeError(f"{type(self).__name__}: unexpected or repeated field {key!r}")
            given[key] = value
        for name in names:
            if name in given:
                value = given[name]
            elif name in self._defaults:
                value = self._defaults[name]
            else:
                raise TypeError(f"{type(self).__name__}: missing field {name!r}")
            object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"{type(self).__name__} is immutable")

    def _values(self) -> tuple[Any, ...]:
        return tuple(getattr(self, name) for name in self.__slots__)

    def _asdict(self) -> dict[str, Any]:
        return dict(zip(self.__slots__, self._values(), strict=True))

    def __eq__(self, other: object) -> bool:
        return type(other) is type(self) and self._values() == other._values()  # type: ignore[attr-defined]

    def __hash__(self) -> int:
        return hash(self._values())

    def __repr__(self) -> str:
        fields = ", ".join(f"{n}={getattr(self, n)!r}" for n in self.__slots__)
        return f"{type(self).__name__}({fields})"
