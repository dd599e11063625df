"""Learning curves for docs/algorithms.md, made by landers' own `landers compare`.

    PYTHONPATH=src python docs/gen_curves.py        # or: make docs-curves

Trains every algorithm on CartPole-v1 with two seeds and a small budget through Ray (a few
minutes on two cores), then copies the curves and the table into docs/assets/compare/ with a
note of the command, the machine and the date. The runs themselves stay in build/, which git
ignores. It is not part of `make docs-gen` because it trains; rerun it when an algorithm changes.
"""

from __future__ import annotations

import datetime
import json
import os
import platform
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ASSETS = ROOT / "docs" / "assets" / "compare"
ARGS = ["compare", "CartPole-v1", "--seeds", "2", "--steps", "30000"]


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def main() -> None:
    out = ROOT / "build" / "docs-compare"
    shutil.rmtree(out, ignore_errors=True)
    started = datetime.datetime.now(datetime.timezone.utc)
    subprocess.run([sys.executable, "-m", "landers", *ARGS, "--out", str(out)], cwd=ROOT, check=True)
    ASSETS.mkdir(parents=True, exist_ok=True)
    for name in ("curves_steps.png", "comparison.md", "comparison.csv"):  # what the pages show, and its data
        shutil.copyfile(out / name, ASSETS / name)
    note = {"command": "landers " + " ".join(ARGS), "date": started.strftime("%Y-%m-%d"),
            "machine": f"{cpu_name()}, {os.cpu_count()} CPUs", "python": platform.python_version()}
    (ASSETS / "made_by.json").write_text(json.dumps(note, indent=2) + "\n")


if __name__ == "__main__":
    main()
