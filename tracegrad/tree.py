"""Pytrees: nested tuples, lists, dicts and named tuples (numpy's ``EighResult``...) (and None)
of leaves, flattened in a fixed order.

>>> leaves, tree = flatten({"b": (1, 2), "a": [3]})
>>> leaves
[3, 1, 2]
>>> unflatten(tree, [30, 10, 20])
{'a': [30], 'b': (10, 20)}
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any


@dataclass(frozen=True)
class TreeDef:
    """The structure of a pytree: a node kind, its keys (dicts) and children."""

    kind: str  # "leaf", "none", "tuple", "list", "dict", "namedtuple"
    keys: tuple[Any, ...] = ()  # a dict's keys; a named tuple's class
    children: tuple[TreeDef, ...] = ()

    @property
    def num_leaves(self) -> int:
        if self.kind == "leaf":
            return 1
        return sum(c.num_leaves for c in self.children)


LEAF = TreeDef("leaf")


def flatten(tree: Any, is_leaf: Callable[[Any], bool] | None = None) -> tuple[list[Any], TreeDef]:
    leaves: list[Any] = []
    return leaves, _flatten(tree, leaves, is_leaf)


def _flatten(tree: Any, leaves: list[Any], is_leaf: Callable[[Any], bool] | None) -> TreeDef:
    if is_leaf is not None and is_leaf(tree):
        leaves.append(tree)
        return LEAF
    if tree is None:
        return TreeDef("none")
    if isinstance(tree, (tuple, list)):
        if isinstance(tree, tuple) and hasattr(tree, "_fields"):  # numpy's EighResult...
            children = tuple(_flatten(c, leaves, is_leaf) for c in tree)
            return TreeDef("namedtuple", (type(tree),), children)
        kind = "tuple" if isinstance(tree, tuple) else "list"
        return TreeDef(kind, (), tuple(_flatten(c, leaves, is_leaf) for c in tree))
    if isinstance(tree, dict):
        keys = tuple(sorted(tree, key=repr))
        return TreeDef("dict", keys, tuple(_flatten(tree[k], leaves, is_leaf) for k in keys))
    leaves.append(tree)
    return LEAF


def unflatten(tree: TreeDef, leaves: list[Any]) -> Any:
    iterator = iter(leaves)
    result = _unflatten(tree, iterator)
    if next(iterator, iterator) is not iterator:
        raise ValueError("too many leaves for the tree")
    return result


def _unflatten(tree: TreeDef, leaves: Any) -> Any:
    if tree.kind == "leaf":
        return next(leaves)
    if tree.kind == "none":
        return None
    children = [_unflatten(c, leaves) for c in tree.children]
    if tree.kind == "tuple":
        return tuple(children)
    if tree.kind == "list":
        return children
    if tree.kind == "namedtuple":
        return tree.keys[0](*children)
    return dict(zip(tree.keys, children, strict=True))


def tree_map(fn: Callable[..., Any], tree: Any, *rest: Any) -> Any:
    leaves, treedef = flatten(tree)
    others = [flatten(r)[0] for r in rest]
    return unflatten(treedef, [fn(x, *ys) for x, *ys in zip(leaves, *others, strict=True)])
