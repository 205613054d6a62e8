"""The package's shape: imports one way (no cycle, counting imports inside functions), every package shipped."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_no_import_cycle():
    result = subprocess.run(
        [sys.executable, "scripts/import_cycles.py", "movie101v2_hf"], cwd=ROOT, capture_output=True, text=True
    )
    assert result.returncode == 0 and "0 import cycle(s)" in result.stdout, result.stdout


def test_every_subpackage_is_in_the_distribution():
    """A non-editable install ships only the packages pyproject.toml lists: each folder with an __init__.py."""
    import tomllib

    listed = set(tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"])
    found = {".".join(path.parent.relative_to(ROOT).parts) for path in (ROOT / "movie101v2_hf").rglob("__init__.py")}
    assert found - listed == set(), "add these to [tool.setuptools] packages"
