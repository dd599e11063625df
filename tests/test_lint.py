"""ruff keeps the code's hygiene: pyflakes, bugbear, isort, pyupgrade and complexity, as
configured in pyproject.toml [tool.ruff]. Any finding fails the suite; `make lint-fix` applies
the fixes ruff can make itself (import order, pyupgrade's rewrites, unused imports)."""

import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


def test_ruff_finds_nothing():
    pytest.importorskip("ruff", reason="ruff is not installed (pip install -e '.[dev]')")
    from ruff.__main__ import find_ruff_bin

    result = subprocess.run([find_ruff_bin(), "check", "--no-cache", "src", "tests", "bench"], cwd=ROOT,
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, f"ruff check src tests bench found:\n{result.stdout}{result.stderr}"
