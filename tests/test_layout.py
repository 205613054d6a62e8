"""The package's shape: imports one way (no cycle, counting imports inside functions)."""

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
