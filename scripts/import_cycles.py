#!/usr/bin/env python3
"""List the import cycles between the modules of a Python package, imports inside functions included.

    python scripts/import_cycles.py movie101v2_hf        # exit 1 when a cycle exists (`make quality` runs it)

An import placed inside a function still ties two modules together: it only hides the cycle from
Python's import machinery. This reads every `import` / `from ... import` statement of the package
(module level or not), resolves relative imports, and prints each strongly connected group of
modules with the statements that tie it, as `file:line`.
"""

from __future__ import annotations

import ast
import sys
from collections import defaultdict
from pathlib import Path


def _shown(path: Path) -> str:
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def module_name(root: Path, path: Path) -> str:
    parts = list(path.relative_to(root.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def edges(root: Path) -> tuple[set[str], dict[str, dict[str, list[str]]]]:
    modules = {module_name(root, p): p for p in root.rglob("*.py")}
    graph: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for name, path in modules.items():
        is_pkg = path.name == "__init__.py"
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            targets: list[str] = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = name.split(".") if is_pkg else name.split(".")[:-1]
                    base = base[: len(base) - (node.level - 1)] if node.level > 1 else base
                    prefix = ".".join(base + ([node.module] if node.module else []))
                else:
                    prefix = node.module or ""
                targets = [prefix] + [f"{prefix}.{a.name}" for a in node.names]
            for t in targets:
                # the longest known module that the target names
                while t and t not in modules:
                    t = t.rpartition(".")[0]
                if t and t != name and not name.startswith(t + "."):  # a module importing its own package is no cycle
                    where = f"{_shown(path)}:{node.lineno}"
                    if where not in graph[name][t]:
                        graph[name][t].append(where)
    return set(modules), graph


def cycles(nodes: set[str], graph: dict[str, dict[str, list[str]]]) -> list[list[str]]:
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on: set[str] = set()
    out: list[list[str]] = []
    counter = [0]

    def visit(v: str) -> None:
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in graph.get(v, {}):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                out.append(sorted(group))

    sys.setrecursionlimit(10000)
    for v in sorted(nodes):
        if v not in index:
            visit(v)
    return out


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print(__doc__)
        return 2
    root = Path(argv[0]).resolve()
    if not (root / "__init__.py").is_file():
        print(f"{argv[0]} is not a package folder (no __init__.py)")
        return 2
    nodes, graph = edges(root)
    found = cycles(nodes, graph)
    for group in found:
        print(f"cycle of {len(group)} modules: {', '.join(group)}")
        for a in group:
            for b, where in graph[a].items():
                if b in group:
                    print(f"  {a} -> {b}: {', '.join(where)}")
    print(f"{len(found)} import cycle(s) among {len(nodes)} modules of {root.name}")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
