"""Every shipped preset trains exactly as it did when its fingerprint was recorded: a few
updates' metrics.csv (wall-clock columns aside) hashed and compared with
tests/run/preset_fingerprints.json. Refactors must leave these unchanged; a change that
means to alter a preset's learning regenerates the file on purpose:

    LANDERS_WRITE_FINGERPRINTS=1 pytest tests/run/test_preset_fingerprints.py
"""

from __future__ import annotations

import csv
import hashlib
import json
import os
from pathlib import Path

import pytest

import landers
from landers.core.config import all_presets
from landers.scale.references import mujoco_v4

FILE = Path(__file__).with_name("preset_fingerprints.json")
WALL_CLOCK = {"time", "sps"}
# A preset that names several envs is fingerprinted on its first; Atari and MuJoCo need their extras.
PRESETS = sorted(all_presets())


def extra_needed(name: str) -> str | None:
    preset = all_presets()[name]
    env_id = preset.env_ids[0]
    return "ale_py" if "NoFrameskip" in env_id else "mujoco" if mujoco_v4(env_id) else None


def fingerprint(run_dir: Path) -> tuple[int, str]:
    with (run_dir / "metrics.csv").open() as f:
        rows = [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in csv.DictReader(f)]
    return len(rows), hashlib.sha256(json.dumps(rows, sort_keys=True).encode()).hexdigest()


def train_preset(name: str, tmp_path: Path) -> tuple[int, str]:
    preset = all_presets()[name]
    env_id = preset.env_ids[0]
    hp = preset.hparams
    per_update = hp.get("num_envs", 8) * hp.get("num_steps", 128)
    if preset.algo == "reinforce":
        per_update = max(per_update, hp.get("min_steps", 512))
    run = landers.train(preset.algo, env_id, preset=name, steps=2 * per_update, seed=11, run_dir=tmp_path / name,
                        device="cpu", threads=1, eval_every=10**9, final_eval_episodes=1, eval_episodes=1)
    return fingerprint(run.run_dir)


# ppo-atari trains a CNN on Breakout: ~29 s at load 10, more than the other presets together.
@pytest.mark.parametrize("name", [pytest.param(n, marks=pytest.mark.slow) if n == "ppo-atari" else n for n in PRESETS])
def test_preset_trains_as_fingerprinted(name, tmp_path):
    if extra_needed(name):
        pytest.importorskip(extra_needed(name))
    got = train_preset(name, tmp_path)
    assert got[0] >= 2, f"{name} logged {got[0]} updates; the fingerprint needs at least two"
    recorded = json.loads(FILE.read_text()) if FILE.exists() else {}
    if os.environ.get("LANDERS_WRITE_FINGERPRINTS") == "1":
        recorded[name] = list(got)
        FILE.write_text(json.dumps(recorded, indent=1, sort_keys=True) + "\n")
    assert name in recorded, f"no fingerprint recorded for {name}: regenerate on purpose (see the module docstring)"
    assert tuple(recorded[name]) == got, f"{name}'s metrics.csv changed: a refactor must not change what a preset learns"
