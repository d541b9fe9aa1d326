"""The house law, checked mechanically by parsing every module's imports (issue #13 item 6).

1. Layers: ``tracegrad/ir`` imports only the standard library, numpy and ``tracegrad.ir``
   (the error types live there too, ``tracegrad.ir.errors``); ``tracegrad/llvm`` imports
   nothing above ``ir`` and is the only place llvmlite appears; the transforms (``autodiff``) and
   the front ends do not import ``jit``'s internals.
2. No module imports another module's ``_private`` names, nor a ``_private`` module from
   outside the package that owns it.
3. No import cycle among module-level imports. Imports inside functions that exist only to
   break a cycle are listed in ``KNOWN_DEFERRED_CYCLES``: that list must only shrink (the
   test fails when an entry disappears, so the list is always exact).
"""

from __future__ import annotations

import ast
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1] / "tracegrad"


@dataclass(frozen=True)
class Import:
    importer: str  # dotted module name
    module: str  # dotted module imported (``from m import n``: m.n if m.n is a module)
    name: str | None  # the name imported by ``from m import name``, else None
    deferred: bool  # inside a function (run at call time, not at import time)


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT.parent).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in ROOT.rglob("*.py")}


def _resolve(node: ast.ImportFrom, importer: str, is_package: bool) -> str:
    if not node.level:
        return node.module or ""
    base = importer.split(".")
    base = base if is_package else base[:-1]
    base = base[: len(base) - (node.level - 1)]
    return ".".join(base + ([node.module] if node.module else []))


def imports_of(path: Path, importer: str) -> list[Import]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: list[Import] = []

    def visit(node: ast.AST, deferred: bool) -> None:
        for child in ast.iter_child_nodes(node):
            if _type_checking_only(child):
                continue  # never runs: annotations only
            inner = deferred or isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef)
            if isinstance(child, ast.Import):
                found.extend(Import(importer, a.name, None, deferred) for a in child.names)
            elif isinstance(child, ast.ImportFrom):
                base = _resolve(child, importer, path.name == "__init__.py")
                for alias in child.names:
                    full = f"{base}.{alias.name}"
                    module = full if full in MODULES else base
                    found.append(Import(importer, module, alias.name, deferred))
            visit(child, inner)

    visit(tree, False)
    return found


def _type_checking_only(node: ast.AST) -> bool:
    if not isinstance(node, ast.If):
        return False
    test = node.test
    name = test.id if isinstance(test, ast.Name) else getattr(test, "attr", None)
    return name == "TYPE_CHECKING"


ALL_IMPORTS = [i for m, p in MODULES.items() for i in imports_of(p, m)]


def _in(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


# --- 1. layers ---------------------------------------------------------------------------


def test_only_tracegrad_llvm_imports_llvmlite() -> None:
    offenders = [
        f"{i.importer} imports {i.module}"
        for i in ALL_IMPORTS
        if _in(i.module, "llvmlite") and not _in(i.importer, "tracegrad.llvm")
    ]
    assert offenders == []


def _layer_offenders(package: str, allowed: tuple[str, ...]) -> list[str]:
    return [
        f"{i.importer} imports {i.module}"
        for i in ALL_IMPORTS
        if _in(i.importer, package)
        and _in(i.module, "tracegrad")
        and not any(_in(i.module, a) for a in allowed)
    ]


def test_ir_imports_only_stdlib_numpy_and_ir() -> None:
    assert _layer_offenders("tracegrad.ir", ("tracegrad.ir",)) == []


def test_llvm_imports_nothing_above_ir() -> None:
    assert _layer_offenders("tracegrad.llvm", ("tracegrad.llvm", "tracegrad.ir")) == []


def test_transforms_and_front_ends_do_not_reach_into_jit_internals() -> None:
    offenders = [
        f"{i.importer} imports {i.module}.{i.name}"
        for i in ALL_IMPORTS
        if i.module == "tracegrad.jit" and i.name and i.name.startswith("_")
    ]
    assert offenders == []


# --- 2. private names --------------------------------------------------------------------

# Private names still shared between files of one package; each entry is (importer, module).
KNOWN_PRIVATE_SHARING: frozenset[tuple[str, str]] = frozenset(
    {
        ("tracegrad.tensor.variables", "tracegrad.numpy._core"),
    }
)


def _owner(module: str) -> str:
    """The package that owns ``module`` (a module's private names belong to the module)."""
    return module.rsplit(".", 1)[0]


def private_crossings() -> set[tuple[str, str, str]]:
    crossings = set()
    for i in ALL_IMPORTS:
        if not _in(i.module, "tracegrad") or i.importer == i.module:
            continue
        if i.name and i.name.startswith("_") and not i.name.startswith("__"):
            if f"{i.module}.{i.name}" not in MODULES:  # a private name, not a module
                crossings.add((i.importer, i.module, i.name))
        private_module = next((p for p in i.module.split(".") if p.startswith("_")), None)
        if private_module and not i.module.endswith("__main__"):
            owner = _owner(i.module[: i.module.index(private_module) + len(private_module)])
            if not _in(i.importer, owner):
                crossings.add((i.importer, i.module, "<module>"))
    return crossings


def test_no_private_names_cross_modules() -> None:
    found = private_crossings()
    new = sorted(c for c in found if (c[0], c[1]) not in KNOWN_PRIVATE_SHARING)
    assert new == [], "import a public name, or make the shared helper public:\n" + "\n".join(
        f"  {importer} imports {name} from {module}" for importer, module, name in new
    )
    gone = sorted(KNOWN_PRIVATE_SHARING - {(c[0], c[1]) for c in found})
    assert gone == [], f"fixed, remove from KNOWN_PRIVATE_SHARING: {gone}"


# --- 3. cycles ---------------------------------------------------------------------------


def _graph(include_deferred: bool) -> dict[str, set[str]]:
    graph: dict[str, set[str]] = {m: set() for m in MODULES}
    for i in ALL_IMPORTS:
        if i.module in MODULES and i.module != i.importer and (include_deferred or not i.deferred):
            graph[i.importer].add(i.module)
            # importing a submodule runs its packages' __init__ first
    return graph


def strongly_connected(graph: dict[str, set[str]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative; components of more than one module, sorted."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    components: list[list[str]] = []
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(sorted(graph[root])))]
        index[root] = low[root] = len(index)
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    top = stack.pop()
                    on_stack.discard(top)
                    component.append(top)
                    if top == node:
                        break
                if len(component) > 1:
                    components.append(sorted(component))
    return sorted(components)


# Modules tied into one cycle only through imports deferred into functions (each such
# import is a patched cycle). Fixing one means moving the shared code down a layer.
KNOWN_DEFERRED_CYCLES: frozenset[frozenset[str]] = frozenset(
    {
        frozenset(
            {
                "tracegrad.ir.build",
                "tracegrad.ir.build_shape",
                "tracegrad.ir.prims",
                "tracegrad.ir.prims.elementwise",
                "tracegrad.ir.prims.elementwise_vjp",  # the VJP rules' lazy_build, split out
                "tracegrad.ir.prims.sorting",  # a row file: its VJP rule builds lazily too
                # the linear-algebra rows, their VJP rules and the matrix helpers those
                # rules share with tracegrad.numpy.linalg (lazy_build, as every row module)
                "tracegrad.ir.prims.linalg",
                "tracegrad.ir.prims.linalg_ops",
                "tracegrad.ir.prims.linalg_vjp",
                "tracegrad.ir.prims.structural",
                "tracegrad.ir.prims.structural_vjp",
                "tracegrad.ir.prims.table",
                # the higher-order rows run their bodies (the interpreter) and their VJP rules
                # inline bodies (substitute, rebuild): the same knot as the builders'
                "tracegrad.ir.prims.control",
                "tracegrad.ir.prims.control_vjp",
                "tracegrad.ir.interpreter",
                "tracegrad.ir.rebuild",
                "tracegrad.ir.substitute",
            }
        ),
        frozenset(
            {
                "tracegrad.ir.printer",
                "tracegrad.ir.value",
            }
        ),
    }
)


def test_no_import_cycle_at_module_level() -> None:
    assert strongly_connected(_graph(include_deferred=False)) == []


def test_deferred_imports_patch_no_new_cycle() -> None:
    found = {frozenset(c) for c in strongly_connected(_graph(include_deferred=True))}
    new = [sorted(c) for c in found - KNOWN_DEFERRED_CYCLES]
    assert new == [], f"a new import cycle (hidden by an import inside a function): {new}"
    gone = [sorted(c) for c in KNOWN_DEFERRED_CYCLES - found]
    assert gone == [], f"cycle fixed or changed, update KNOWN_DEFERRED_CYCLES: {gone}"


# --- the checker itself ------------------------------------------------------------------


def test_the_checker_sees_imports_cycles_and_private_names(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text(
        "import llvmlite.binding as llvm\n"
        "from tracegrad.jit import _leaf_key\n"
        "def f():\n    from tracegrad.ir import value\n"
        "if TYPE_CHECKING:\n    from tracegrad.jit import Jitted\n"
    )
    found = imports_of(bad, "tracegrad.bad")
    assert Import("tracegrad.bad", "llvmlite.binding", None, False) in found
    assert Import("tracegrad.bad", "tracegrad.jit", "_leaf_key", False) in found
    assert Import("tracegrad.bad", "tracegrad.ir.value", "value", True) in found
    assert not any(i.name == "Jitted" for i in found)
    cyclic = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert strongly_connected(cyclic) == [["a", "b", "c"]]
    assert strongly_connected({"a": {"b"}, "b": set()}) == []


# The backend's rooms, in dependency order: a room imports only rooms before it. (The
# package's public face, tracegrad/llvm/backend.py, comes after all of them.) ``text`` is
# the LLVM IR text builder every emitter extends (codegen, mathlib, callpath, plan).
LLVM_ROOMS = ("text", "runtime", "machine", "mathlib", "codegen", "callpath", "plan")


def test_llvm_rooms_import_only_earlier_rooms() -> None:
    offenders = []
    for i in ALL_IMPORTS:
        if not (_in(i.importer, "tracegrad.llvm") and _in(i.module, "tracegrad.llvm")):
            continue
        mine, theirs = i.importer.split(".")[2], i.module.split(".")[2:3]
        if mine not in LLVM_ROOMS or not theirs or theirs[0] == mine:
            continue
        if theirs[0] not in LLVM_ROOMS or LLVM_ROOMS.index(theirs[0]) > LLVM_ROOMS.index(mine):
            offenders.append(f"{i.importer} imports {i.module}")
    assert offenders == []
    flat = [p.name for p in (ROOT / "llvm").glob("*.py")]
    assert sorted(flat) == ["__init__.py", "backend.py"], "a new backend file belongs in a room"


# Each room's public face (stated in its __init__ docstring): the modules that other rooms,
# tracegrad/llvm/backend.py and the rest of tracegrad may import from it. An empty face: the
# room's package itself is its one entry (its __init__ re-exports what the others use).
LLVM_ROOM_FACES: dict[str, frozenset[str]] = {
    "text": frozenset({"builder"}),
    "runtime": frozenset({"threads", "pool", "blas"}),
    "machine": frozenset({"engine", "cache"}),  # cache: the `python -m tracegrad cache` CLI
    "mathlib": frozenset({"library"}),
    "codegen": frozenset(),  # tracegrad.llvm.codegen
    "callpath": frozenset({"wrapper"}),
    "plan": frozenset({"executable", "tierup"}),
}


def _room_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[2] if len(parts) > 2 and parts[2] in LLVM_ROOMS else None


def test_llvm_rooms_are_entered_only_through_their_faces() -> None:
    assert set(LLVM_ROOM_FACES) == set(LLVM_ROOMS)
    offenders = []
    for i in ALL_IMPORTS:
        room = _room_of(i.module)
        if room is None or _room_of(i.importer) == room:
            continue
        face = LLVM_ROOM_FACES[room]
        module = i.module.split(".")[3:4]
        if (module and module[0] in face) or (not module and not face):
            continue
        offenders.append(f"{i.importer} imports {i.module} ({i.name})")
    assert offenders == [], "import a room's public module (see its __init__ docstring)"
    for room, face in LLVM_ROOM_FACES.items():
        doc = ast.get_docstring(ast.parse((ROOT / "llvm" / room / "__init__.py").read_text()))
        assert "Public face" in (doc or ""), f"{room}'s docstring states its face"
        stated = (doc or "").split("Public face", 1)[-1]
        names = face or {f"tracegrad.llvm.{room}"}
        assert all(f"``{m}``" in stated for m in names), f"{room}'s docstring states its face"


def _private_attributes(path: Path, importer: str) -> list[str]:
    """``module._name`` where ``module`` is a name bound to another tracegrad module."""
    tree = ast.parse(path.read_text(), filename=str(path))
    aliases = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            base = _resolve(node, importer, path.name == "__init__.py")
            for a in node.names:
                if f"{base}.{a.name}" in MODULES:
                    aliases[a.asname or a.name] = f"{base}.{a.name}"
        elif isinstance(node, ast.Import):
            aliases.update({a.asname: a.name for a in node.names if a.asname})
    return [
        f"{importer} uses {aliases[node.value.id]}.{node.attr}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Attribute)
        and isinstance(node.value, ast.Name)
        and aliases.get(node.value.id, importer) not in (importer, None)
        and _in(aliases[node.value.id], "tracegrad")
        and node.attr.startswith("_")
        and not node.attr.startswith("__")
        and f"{aliases[node.value.id]}.{node.attr}" not in MODULES
    ]


def test_llvm_uses_no_private_attribute_of_another_module() -> None:
    found = [
        hit
        for module, path in MODULES.items()
        if _in(module, "tracegrad.llvm")
        for hit in _private_attributes(path, module)
    ]
    assert found == []
