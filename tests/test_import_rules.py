"""The grader's import rules, read from its source with ``ast`` (every ``import`` statement, at the top
of a module or inside a function; relative imports resolved):

- ``grader/sandbox/kernel_client.py`` imports only the standard library: it is the kernelspec's
  command, run as ``python -I -S kernel_client.py`` for every kernel, and must start in milliseconds;
- ``grader/sandbox/replay.py`` imports only the standard library and numpy: it is copied into the
  sandbox, where no other part of the grader exists;
- no grader module imports a private module of ``helpers`` (``helpers._cache``, ...): ``helpers`` is
  the students' package, and its ``_`` modules may change with it;
- the grader's modules import each other without a cycle.

The second test runs the same checker on a small package written for it, with a cycle (one import
inside a function), a kernel client that imports numpy, a replay that imports the grader and a
private helpers import, and checks that it reports each: the rules can fail. (A forked kernel
forgetting every grader module is checked where it happens: tests/test_zygote.py.)
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

from grader.course import REPO_ROOT

STANDARD_LIBRARY = frozenset(sys.stdlib_module_names)
STDLIB_ONLY = "sandbox/kernel_client.py"
STDLIB_AND_NUMPY = "sandbox/replay.py"


def module_name(path: Path, package_dir: Path) -> str:
    """``grader.sandbox.zygote`` for ``<package_dir>/sandbox/zygote.py``; a package is its ``__init__``."""
    parts = [package_dir.name, *path.relative_to(package_dir).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_names(path: Path, module: str) -> list[tuple[str, int, bool]]:
    """``(dotted name, line, for type checkers only)`` of every import in ``path``, wherever it stands:
    ``import a.b`` gives ``a.b``; ``from a import b`` gives ``a.b`` (a module or a name in ``a``);
    relative imports are resolved against ``module``. The last is True for an import under ``if
    TYPE_CHECKING:``, which never runs."""
    tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    typing_only = {id(inner) for node in ast.walk(tree) if isinstance(node, ast.If)
                   and "TYPE_CHECKING" in ast.unparse(node.test) for inner in ast.walk(node)}
    names = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [(alias.name, node.lineno, id(node) in typing_only) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[:len(package.split(".")) - (node.level - 1)]
                base = ".".join(base + ([node.module] if node.module else []))
            else:
                base = node.module
            names += [(f"{base}.{alias.name}", node.lineno, id(node) in typing_only) for alias in node.names]
    return names


def import_graph(package_dir: Path) -> tuple[dict, dict]:
    """``(imports, edges)``: each module's :func:`imported_names`, and ``{(module, module it imports):
    line}`` among the package's own modules (an imported name resolves to the longest module it names;
    imports for type checkers only are left out: they never run, so they make no cycle)."""
    files = {module_name(path, package_dir): path for path in sorted(package_dir.rglob("*.py"))}
    imports, edges = {}, {}
    for module, path in files.items():
        imports[module] = imported_names(path, module)
        for name, line, typing_only in imports[module]:
            if typing_only:
                continue
            parts = name.split(".")
            target = next((".".join(parts[:n]) for n in range(len(parts), 0, -1) if ".".join(parts[:n]) in files), None)
            if target is not None and target != module:
                edges.setdefault((module, target), line)
    return imports, edges


def cycles(edges: dict) -> list[list[str]]:
    """One cycle ``[a, b, ..., a]`` in each strongly connected component of more than one module
    (Tarjan's algorithm, then a path back to the component's first module inside it)."""
    graph = {}
    for source, target in edges:
        graph.setdefault(source, []).append(target)
        graph.setdefault(target, [])
    index, low, stack, on_stack, components = {}, {}, [], set(), []

    def connect(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for following in sorted(graph[node]):
            if following not in index:
                connect(following)
                low[node] = min(low[node], low[following])
            elif following in on_stack:
                low[node] = min(low[node], index[following])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                components.append(set(component))

    for node in sorted(graph):
        if node not in index:
            connect(node)
    found = []
    for component in components:
        start = min(component)
        path, seen = [start], {start}

        def walk(node):
            for following in sorted(graph[node]):
                if following == start and len(path) > 1:
                    return path + [start]
                if following in component and following not in seen:
                    seen.add(following)
                    path.append(following)
                    cycle = walk(following)
                    if cycle:
                        return cycle
                    path.pop()
            return None

        found.append(walk(start))
    return found


def problems(package_dir: Path) -> list[str]:
    """Every broken rule of the package at ``package_dir``, one line each (see the module's docstring)."""
    package_dir = Path(package_dir)
    imports, edges = import_graph(package_dir)
    found = []
    restricted = {module_name(package_dir / STDLIB_ONLY, package_dir): ("the standard library", set()),
                  module_name(package_dir / STDLIB_AND_NUMPY, package_dir): ("the standard library and numpy",
                                                                              {"numpy"})}
    for module, names in sorted(imports.items()):
        if module in restricted:
            allowed, extra = restricted[module]
            for name, line, _ in names:
                top = name.split(".")[0]
                if top not in STANDARD_LIBRARY and top not in extra:
                    found.append(f"{module} (line {line}) imports {name}: it may import only {allowed}")
        for name, line, _ in names:
            parts = name.split(".")
            if parts[0] == "helpers" and any(part.startswith("_") for part in parts[1:]):
                found.append(f"{module} (line {line}) imports {name}, a private module of helpers")
    for cycle in cycles(edges):
        steps = [f"{a} (line {edges[a, b]})" for a, b in zip(cycle, cycle[1:])]
        found.append(f"import cycle: {' -> '.join(steps)} -> {cycle[-1]}")
    return found


def test_the_grader_keeps_its_import_rules():
    package_dir = REPO_ROOT / "grader"
    imports, edges = import_graph(package_dir)
    assert len(imports) > 40 and len(edges) > 40   # the whole package was read
    assert ("grader.sandbox.zygote", "grader.sandbox.kernel_client") in edges
    assert ("grader.reference", "grader.sandbox.replay") in edges   # an import inside a function is read too
    assert problems(package_dir) == []


def test_the_checker_reports_each_broken_rule(tmp_path):
    """A package with one of each: a cycle through an import inside a function (and a relative one),
    numpy in the kernel client, the grader in replay, a private helpers module; and a cycle closed
    only by an import for type checkers, which is none."""
    package = tmp_path / "grader"
    (package / "sandbox").mkdir(parents=True)
    files = {
        "__init__.py": "",
        "a.py": "from grader import b\n",
        "d.py": "from typing import TYPE_CHECKING\n\nif TYPE_CHECKING:\n    from grader import e\n",
        "e.py": "from grader import d\n",
        "b.py": "import os\n\n\ndef later():\n    from . import a\n    return a, os\n",
        "c.py": "from helpers._cache import write_atomically\nfrom helpers import cache_dir\n",
        "sandbox/__init__.py": "",
        "sandbox/kernel_client.py": "import json\nimport socket\n\n\ndef main():\n    import numpy\n    return numpy\n",
        "sandbox/replay.py": "import numpy as np\n\nfrom ..a import b\n",
    }
    for name, text in files.items():
        (package / name).write_text(text, encoding="utf-8")
    assert problems(package) == [
        "grader.c (line 1) imports helpers._cache.write_atomically, a private module of helpers",
        "grader.sandbox.kernel_client (line 6) imports numpy: it may import only the standard library",
        "grader.sandbox.replay (line 3) imports grader.a.b: it may import only the standard library and numpy",
        "import cycle: grader.a (line 1) -> grader.b (line 5) -> grader.a",
    ]
