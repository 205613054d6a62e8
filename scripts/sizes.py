"""Modules over 500 lines and functions over 80 in the given folders (the house limits): prints them, exits 1 if any.

python scripts/sizes.py movie101v2_hf recipes metrics benchmarks
"""

from __future__ import annotations

import ast
import sys
from pathlib import Path

MAX_MODULE_LINES, MAX_FUNCTION_LINES = 500, 80


def oversized(folders: list[str]) -> list[str]:
    found = []
    for folder in folders:
        for path in sorted(Path(folder).rglob("*.py")):
            text = path.read_text(encoding="utf-8")
            if text.count("\n") > MAX_MODULE_LINES:
                found.append(f"{path}: {text.count(chr(10))} lines (module limit {MAX_MODULE_LINES})")
            for node in ast.walk(ast.parse(text)):
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                    length = (node.end_lineno or node.lineno) - node.lineno + 1
                    if length > MAX_FUNCTION_LINES:
                        found.append(f"{path}:{node.lineno} {node.name}: {length} lines (limit {MAX_FUNCTION_LINES})")
    return found


if __name__ == "__main__":
    problems = oversized(sys.argv[1:] or ["movie101v2_hf"])
    print("\n".join(problems) or "no module over 500 lines, no function over 80")
    sys.exit(1 if problems else 0)
