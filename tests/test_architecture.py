"""Package boundaries of ``supervisor_core``, read from its imports with :mod:`ast`.

What counts as a dependency
    Every ``import`` and ``from ... import`` statement of a module of ``supervisor_core``
    that names a module of ``supervisor_core``, wherever it stands: at module level, inside a
    function or method (a lazy import is still a dependency), inside ``try``, and inside
    ``if TYPE_CHECKING:``. Imports of anything else (anyio, httpx, the standard library) are
    not looked at. Relative imports are resolved.

    ``from P import name`` is a dependency on ``P.name`` when that is a module, else on ``P``.
    ``import a.b.c`` (or ``from a.b.c import x``) also runs ``a/b/__init__.py``: it is a
    dependency on every package above the target too, except the packages that contain the
    importer (their ``__init__`` is already running when the importer runs). So a package's
    ``__init__`` importing its own submodules is fine, while a submodule importing from its
    own package's ``__init__`` makes a cycle.

    Dynamic imports (``importlib.import_module``) are not seen. They are the lazy tables of
    ``supervisor_core/__init__.py``, ``drivers/__init__.py`` and ``cli/_main.py``, each loading
    a module on first use; the first two also import every name of their table under
    ``if TYPE_CHECKING:``, and those statements are checked like any other.

Rule (a): private modules stay inside their package
    A module whose dotted name has a part starting with one underscore (``config/_specs.py``,
    ``_supervisor.py``) is private to the package that holds it: only modules inside that
    package, subpackages included, may import it. So ``supervisor_core._info`` may be used
    anywhere in ``supervisor_core``, ``supervisor_core.config._specs`` only inside
    ``supervisor_core.config``; other packages use what ``supervisor_core.config`` exports.
    A name starting with one underscore imported from a module (``from m import _helper``)
    is private the same way, to the package that holds ``m``. Dunder names (``__version__``,
    ``__main__``) are public. ``if TYPE_CHECKING:`` imports count: a type is part of a
    boundary too.

Rule (b): no import cycles
    The graph of dependencies between modules has no cycle, ``if TYPE_CHECKING:`` imports
    included: a cycle that only type hints close still means two modules each need the other
    to be understood (``drivers`` ↔ ``_supervisor`` was one; drivers now see the supervisor
    through :class:`supervisor_core.drivers.AppControl`).

The checker is tested on a small synthetic tree first, so a green run means something.
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import supervisor_core

PACKAGE = "supervisor_core"
PACKAGE_DIR = Path(supervisor_core.__file__).resolve().parent


# ---------------------------------------------------------------------------------------------
# The checker


@dataclass(frozen=True)
class Module:
    name: str
    path: Path
    is_package: bool


@dataclass(frozen=True)
class Dependency:
    importer: str
    target: str
    """The module imported (or whose name is imported)."""
    line: int
    type_checking: bool
    name: str | None = None
    """For ``from target import name`` where ``name`` is not a module: that name."""


def find_modules(package_dir: Path, package: str) -> dict[str, Module]:
    """Every ``.py`` file under ``package_dir``, by dotted module name."""
    modules: dict[str, Module] = {}
    for path in sorted(package_dir.rglob("*.py")):
        parts = [package, *path.relative_to(package_dir).with_suffix("").parts]
        is_package = parts[-1] == "__init__"
        if is_package:
            parts.pop()
        name = ".".join(parts)
        modules[name] = Module(name, path, is_package)
    return modules


def _is_type_checking(test: ast.expr) -> bool:
    if isinstance(test, ast.Name):
        return test.id == "TYPE_CHECKING"
    return isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"


def _statements(body: Iterable[ast.AST], type_checking: bool) -> Iterator[tuple[ast.AST, bool]]:
    """Every node under ``body``, with whether it is inside an ``if TYPE_CHECKING:`` body."""
    for node in body:
        yield node, type_checking
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            yield from _statements(node.body, True)
            yield from _statements(node.orelse, type_checking)
        else:
            yield from _statements(ast.iter_child_nodes(node), type_checking)


def _base(module: Module, node: ast.ImportFrom) -> str:
    if node.level == 0:
        return node.module or ""
    package = module.name if module.is_package else module.name.rpartition(".")[0]
    for _ in range(node.level - 1):
        package = package.rpartition(".")[0]
    return f"{package}.{node.module}" if node.module else package


def dependencies(modules: Mapping[str, Module], package: str) -> list[Dependency]:
    """Every import of a module of ``package`` by a module of ``package``."""
    found: list[Dependency] = []

    def ours(name: str) -> bool:
        return name == package or name.startswith(package + ".")

    for module in modules.values():
        tree = ast.parse(module.path.read_text(encoding="utf-8"), str(module.path))
        for node, tc in _statements(tree.body, False):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    if ours(alias.name):
                        found.append(Dependency(module.name, alias.name, node.lineno, tc))
            elif isinstance(node, ast.ImportFrom):
                base = _base(module, node)
                if not ours(base):
                    continue
                for alias in node.names:
                    sub = f"{base}.{alias.name}"
                    if sub in modules:
                        found.append(Dependency(module.name, sub, node.lineno, tc))
                    else:
                        found.append(Dependency(module.name, base, node.lineno, tc, alias.name))
    return found


def _private(part: str) -> bool:
    return part.startswith("_") and not (part.startswith("__") and part.endswith("__"))


def _inside(module: str, package: str) -> bool:
    return module == package or module.startswith(package + ".")


def privacy_violations(modules: Mapping[str, Module], deps: Iterable[Dependency]) -> list[str]:
    """Rule (a): imports of a private module or name from outside the package holding it."""
    problems: set[str] = set()
    for dep in deps:
        parts = dep.target.split(".") + ([dep.name] if dep.name else [])
        for index, part in enumerate(parts):
            if not _private(part):
                continue
            holder = ".".join(parts[:index])
            if holder in modules and not modules[holder].is_package:
                holder = holder.rpartition(".")[0]  # a module's private name: its package's
            if not _inside(dep.importer, holder):
                problems.add(
                    f"{dep.importer}:{dep.line} imports {'.'.join(parts[: index + 1])}, "
                    f"private to {holder}"
                )
            break
    return sorted(problems)


Graph = Mapping[str, Mapping[str, str]]
"""importer → {module it needs loaded: where (``line 12``, ``line 12, TYPE_CHECKING``)}."""


def dependency_graph(modules: Mapping[str, Module], deps: Iterable[Dependency]) -> Graph:
    """The dependencies between modules, packages above targets included (see the module
    docstring)."""
    graph: dict[str, dict[str, str]] = {name: {} for name in modules}
    for dep in deps:
        parts = dep.target.split(".")
        above = [".".join(parts[:n]) for n in range(1, len(parts))]
        # a package that contains the importer is already running when the importer runs
        needed = [p for p in above if not _inside(dep.importer, p)] + [dep.target]
        for target in needed:
            if target in modules and target != dep.importer:
                where = f"line {dep.line}" + (", TYPE_CHECKING" if dep.type_checking else "")
                graph[dep.importer].setdefault(target, where)
    return graph


def import_cycles(graph: Graph) -> list[list[str]]:
    """One cycle (``[a, b, ..., a]``) per strongly connected group of modules (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in graph.get(node, {}):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group: list[str] = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.append(member)
                if member == node:
                    break
            if len(group) > 1 or node in graph.get(node, {}):
                groups.append(sorted(group))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return sorted(_one_cycle(graph, group) for group in groups)


def _one_cycle(graph: Graph, group: Sequence[str]) -> list[str]:
    """A shortest cycle through the first module of a strongly connected ``group``."""
    start = group[0]
    members = set(group)
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        following: list[str] = []
        for node in frontier:
            for nxt in sorted(graph.get(node, {})):
                if nxt not in members:
                    continue
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [start, *reversed(path[:-1]), start] if node != start else [start, start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    following.append(nxt)
        frontier = following
    raise AssertionError(f"no cycle through {start} in {group}")  # pragma: no cover


def describe_cycle(graph: Graph, cycle: Sequence[str]) -> str:
    steps = [f"{a} ({graph[a][b]})" for a, b in itertools.pairwise(cycle)]
    return " -> ".join([*steps, cycle[-1]])


def check(package_dir: Path, package: str) -> tuple[list[str], list[str]]:
    """(privacy violations, cycles) of the package at ``package_dir``."""
    modules = find_modules(package_dir, package)
    deps = dependencies(modules, package)
    graph = dependency_graph(modules, deps)
    cycles = [describe_cycle(graph, cycle) for cycle in import_cycles(graph)]
    return privacy_violations(modules, deps), cycles


# ---------------------------------------------------------------------------------------------
# The checker can fail


def _write(root: Path, files: Mapping[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return root / "pkg"


CLEAN = {
    "pkg/__init__.py": "from pkg._version import VERSION\n",
    "pkg/_version.py": "VERSION = '1'\n",
    "pkg/a/__init__.py": "from pkg.a._impl import thing\n\n__all__ = ['thing']\n",
    "pkg/a/_impl.py": "from pkg._version import VERSION\n\nthing = VERSION\n",
    "pkg/b/__init__.py": "",
    "pkg/b/_user.py": (
        "from typing import TYPE_CHECKING\n"
        "from pkg.a import thing\n"
        "from . import _helper\n"
        "from ._helper import _private_but_same_package\n"
        "if TYPE_CHECKING:\n"
        "    from pkg.a import thing as again\n"
        "def later():\n"
        "    import pkg.a\n"
    ),
    "pkg/b/_helper.py": "_private_but_same_package = 1\n",
}


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    assert check(_write(tmp_path, CLEAN), "pkg") == ([], [])


def test_a_private_module_of_another_package_is_reported(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "pkg/b/_user.py": "def f():\n    from pkg.a._impl import thing\n",
        "pkg/b/_typed.py": (
            "import typing\nif typing.TYPE_CHECKING:\n    from pkg.a import _impl\n"
        ),
        "pkg/b/_named.py": "from pkg.a import _hidden\n",
        "pkg/b/_relative.py": "from ..a._impl import thing\n",
        "pkg/b/_plain.py": "import pkg.a._impl\n",
    }
    privacy, cycles = check(_write(tmp_path, files), "pkg")
    assert [line.split(":")[0] for line in privacy] == [
        "pkg.b._named",
        "pkg.b._plain",
        "pkg.b._relative",
        "pkg.b._typed",
        "pkg.b._user",
    ]
    assert all("private to pkg.a" in line for line in privacy)
    assert "imports pkg.a._impl, private to pkg.a" in privacy[-1]
    assert cycles == []


def test_a_cycle_is_reported_whatever_closes_it(tmp_path: Path) -> None:
    files = {
        **CLEAN,
        "pkg/c.py": "import pkg.d\n",
        "pkg/d.py": "def f():\n    from pkg import c\n",
        "pkg/e.py": (
            "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from pkg.f import x\n"
        ),
        "pkg/f.py": "from pkg.e import y\n",
        # a submodule importing its own package's __init__, which imports it
        "pkg/a/_impl.py": "from pkg.a import other\n",
    }
    privacy, cycles = check(_write(tmp_path, files), "pkg")
    assert privacy == []
    assert cycles == [
        "pkg.a (line 1) -> pkg.a._impl (line 1) -> pkg.a",
        "pkg.c (line 1) -> pkg.d (line 2) -> pkg.c",
        "pkg.e (line 3, TYPE_CHECKING) -> pkg.f (line 1) -> pkg.e",
    ]


def test_a_parent_package_is_a_dependency(tmp_path: Path) -> None:
    """Importing ``pkg.a.other`` runs ``pkg/a/__init__.py``: a cycle through it counts."""
    files = {
        **CLEAN,
        "pkg/a/__init__.py": "from pkg.b import user\n",
        "pkg/a/other.py": "",
        "pkg/b/user.py": "from pkg.a.other import nothing\n",
    }
    privacy, cycles = check(_write(tmp_path, files), "pkg")
    assert privacy == []
    assert cycles == ["pkg.a (line 1) -> pkg.b.user (line 1) -> pkg.a"]


# ---------------------------------------------------------------------------------------------
# supervisor_core itself


def test_no_module_imports_another_packages_private_module() -> None:
    privacy, _ = check(PACKAGE_DIR, PACKAGE)
    assert privacy == [], "\n".join(["import through the package's __init__:", *privacy])


def test_no_import_cycles() -> None:
    _, cycles = check(PACKAGE_DIR, PACKAGE)
    assert cycles == [], "\n".join(["import cycles:", *cycles])
