"""`Hooks` reach the loop at their named points: `on_eval` gets each evals.csv row once the
checkpoint holds it, and `stop` ends the run like Ctrl-C, with checkpoints/last saved."""

import csv
import json
import threading

import pytest

from conftest import TINY
from landers.run.hooks import Hooks
from landers.run.rundir import resume, start
from landers.run.spec import make_spec
from landers.run.trainer import Interrupted


def spec(steps):
    return make_spec("ppo", "CartPole-v1", overrides=dict(TINY), steps=steps, seed=2, backend="gymnasium",
                     eval_every=128, eval_episodes=1, final_eval_episodes=1, threads=1)


def test_on_eval_sees_each_evals_row_after_its_checkpoint(tmp_path):
    seen = []

    def on_eval(row):
        saved = json.loads((tmp_path / "run" / "checkpoints" / "last" / "state.json").read_text())
        seen.append((row, saved["global_step"]))

    start(spec(384), run_dir=tmp_path / "run", quiet=True, hooks=Hooks(on_eval=on_eval))
    with (tmp_path / "run" / "evals.csv").open() as f:
        rows = list(csv.DictReader(f))
    assert [int(r["step"]) for r in rows] == [row["step"] for row, _ in seen] == [128, 256, 384]
    assert [float(r["mean"]) for r in rows] == [row["mean"] for row, _ in seen]
    assert all(saved == row["step"] for row, saved in seen)


def test_stop_ends_the_run_with_last_saved_and_resume_finishes_it(tmp_path):
    stop = threading.Event()
    with pytest.raises(Interrupted, match="Interrupted at step 128"):
        start(spec(1024), run_dir=tmp_path / "run", quiet=True, hooks=Hooks(on_eval=lambda row: stop.set(), stop=stop))
    saved = json.loads((tmp_path / "run" / "checkpoints" / "last" / "state.json").read_text())
    assert saved["global_step"] == 128 and not (tmp_path / "run" / "eval.json").exists()
    assert resume(tmp_path / "run", quiet=True).global_step == 1024


def test_start_and_resume_take_their_options_by_keyword(tmp_path):
    with pytest.raises(TypeError):
        start(spec(128), tmp_path / "run")
    with pytest.raises(TypeError):
        resume(tmp_path / "run", 128)
