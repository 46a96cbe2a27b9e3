"""No import circles inside `openhmr`.

The graph is read from the source with `ast`, not by importing. Every import statement counts,
wherever it stands: at module level, inside a function (a lazy import), or under
`if TYPE_CHECKING:`; a circle through a lazy import still ties the two files together. An edge
goes to the module named (`from openhmr.a import b` names `openhmr.a.b` when that is a module,
else `openhmr.a`), not to the packages above it that Python also runs on the way.
"""

from __future__ import annotations

import ast
from pathlib import Path

SOURCE = Path(__file__).resolve().parents[1] / "src" / "openhmr"


def module_files(package: Path) -> dict[str, Path]:
    """Dotted module name -> file, for every .py under the package folder."""
    found = {}
    for path in sorted(package.rglob("*.py")):
        parts = list(path.relative_to(package.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        found[".".join(parts)] = path
    return found


def _imported(node: ast.AST, name: str, is_package: bool, modules: dict) -> set[str]:
    if isinstance(node, ast.Import):
        return {alias.name for alias in node.names if alias.name in modules}
    if not isinstance(node, ast.ImportFrom):
        return set()
    base = node.module or ""
    if node.level:  # relative: from . import x, from ..a import b
        package = name.split(".") if is_package else name.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join([*package, base] if base else package)
    targets = set()
    for alias in node.names:
        full = f"{base}.{alias.name}"
        if full in modules:
            targets.add(full)
        elif base in modules:
            targets.add(base)
    return targets


def import_graph(package: Path) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (any import statement in the file)."""
    modules = module_files(package)
    graph = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        is_package = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(tree):
            edges |= _imported(node, name, is_package, modules)
        graph[name] = edges - {name}
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import circle as [a, b, ..., a], or None (iterative depth-first search)."""
    state: dict[str, int] = {}  # 1: on the current path, 2: done
    for root in sorted(graph):
        if root in state:
            continue
        path, stack = [root], [iter(sorted(graph[root]))]
        state[root] = 1
        while stack:
            child = next(stack[-1], None)
            if child is None:
                state[path.pop()] = 2
                stack.pop()
            elif state.get(child) == 1:
                return [*path[path.index(child) :], child]
            elif child not in state:
                state[child] = 1
                path.append(child)
                stack.append(iter(sorted(graph[child])))
    return None


def test_openhmr_has_no_import_cycle():
    graph = import_graph(SOURCE)
    assert len(graph) > 100  # the whole package was read
    assert "openhmr.posenet.weights" in graph["openhmr.posenet.movenet"]
    cycle = find_cycle(graph)
    assert cycle is None, "import circle: " + " -> ".join(cycle)


def _write(root: Path, files: dict[str, str]) -> Path:
    for name, text in files.items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root / "pkg"


def test_finds_lazy_relative_and_type_checking_circles(tmp_path):
    package = _write(
        tmp_path,
        {
            "pkg/__init__.py": "",
            "pkg/a.py": "def f():\n    from pkg.b import g\n",
            "pkg/b.py": "import typing\nif typing.TYPE_CHECKING:\n    from . import c\n",
            "pkg/c.py": "import pkg.a\n",
            "pkg/sub/__init__.py": "from .d import x\n",
            "pkg/sub/d.py": "from ..a import f\n",
        },
    )
    graph = import_graph(package)
    assert graph["pkg.a"] == {"pkg.b"} and graph["pkg.b"] == {"pkg.c"}
    assert graph["pkg.c"] == {"pkg.a"} and graph["pkg.sub"] == {"pkg.sub.d"}
    assert graph["pkg.sub.d"] == {"pkg.a"}
    cycle = find_cycle(graph)
    assert cycle is not None and cycle[0] == cycle[-1]
    assert set(cycle) == {"pkg.a", "pkg.b", "pkg.c"}
    (tmp_path / "pkg/c.py").write_text("import os\n")
    assert find_cycle(import_graph(package)) is None
