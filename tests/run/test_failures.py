"""Runs that go wrong keep what they had: a divergence, an env that returns NaN, an env that
raises mid-rollout. Each ends with one sentence saying what was kept and how to go on."""

import csv
import json
import os
import re
from pathlib import Path

import pytest
import torch

import fake_envs
import landers
from conftest import landers_cli
from landers.algos import optimizer_step
from landers.core import checkpoint
from landers.errors import Diverged

TESTS = Path(__file__).resolve().parents[1]
SMALL = ["--quiet", "--backend", "gymnasium", "--envs", "4", "--set", "num_steps=16", "--set", "num_minibatches=2",
         "--set", "update_epochs=2", "--set", "final_eval_episodes=2"]


def steps_logged(run_dir: Path) -> list[int]:
    with (run_dir / "metrics.csv").open() as f:
        return [int(row["step"]) for row in csv.DictReader(f)]


def all_finite(tensors: dict) -> bool:
    return all(torch.isfinite(t.float()).all() for t in tensors.values())


def test_a_non_finite_loss_stops_before_the_optimizer_step():
    model = torch.nn.Linear(3, 1)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    optimizer_step(opt, model(torch.ones(2, 3)).sum(), model.parameters(), 0.5)  # a finite step: moments exist
    before = {k: v.clone() for k, v in model.state_dict().items()}
    moments = [s["exp_avg"].clone() for s in opt.state.values()]
    with pytest.raises(Diverged, match="loss became inf"):
        optimizer_step(opt, model(torch.full((2, 3), 1e38)).pow(2).sum(), model.parameters(), 0.5)
    for key, value in model.state_dict().items():
        assert torch.equal(value, before[key])
    assert all(torch.equal(s["exp_avg"], m) for s, m in zip(opt.state.values(), moments, strict=True))


@pytest.mark.slow  # two landers processes: ~14 s at load 12
def test_a_learning_rate_that_diverges_exits_3_keeps_the_finite_state_and_resume_with_a_lower_one_works(tmp_path):
    run = tmp_path / "run"
    result = landers_cli("train", "ppo", "CartPole-v1", "--steps", "256", "--run-dir", str(run), *SMALL,
                         "--set", "lr=1e30")
    assert result.returncode == 3, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    for fragment in ("diverged in update 1", "loss", "learning rate", "reward scale", f"--resume {run}", "--set lr=",
                     f"landers.resume('{run}', lr=1e+29)"):
        assert fragment in lines[0], lines[0]
    tensors, state = checkpoint.read(run / "checkpoints" / "last")
    assert state["global_step"] == 0 and all_finite(tensors)
    assert steps_logged(run) == []  # the diverged update logged nothing

    resumed = landers_cli("train", "--resume", str(run), "--set", "lr=3e-4", "--quiet")
    assert resumed.returncode == 0, resumed.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["hparams"]["lr"] == 3e-4
    assert config["resumed"] == [{"step": 0, "from": "checkpoints/last", "set": {"lr": "3e-4"}, "steps": 256}]
    assert steps_logged(run) == list(range(64, 257, 64))
    assert all_finite(checkpoint.read(run / "checkpoints" / "last")[0])


def crash_point(message: str, batch: int) -> tuple[int, int]:
    """(update, step) named in a failure message, checked against each other: the update is
    the one whose rollout held that step."""
    update = int(re.search(r"update (\d+)", message).group(1))
    step = int(re.search(r"after step ([\d,]+)", message).group(1).replace(",", ""))
    assert (update - 1) * batch <= step < update * batch, message
    return update, step


@pytest.mark.parametrize("fault, what", [("nan_obs", "an observation holding nan"),
                                         ("nan_reward", "a reward holding inf")])
def test_an_env_that_returns_non_finite_numbers_is_named_and_nothing_learns_from_it(tmp_path, fault, what):
    fake_envs.Faulty.steps = 0  # the fault comes at the 200th step of this process's copies
    run = tmp_path / "run"
    with pytest.raises(Diverged) as caught:
        landers.train("ppo", f"Faulty-{fault}-v0", steps=1024, run_dir=run, backend="gymnasium", num_envs=2,
                      num_steps=16, num_minibatches=2, update_epochs=2, norm_obs=True, norm_reward=True,
                      eval_every=10_000)
    message = str(caught.value)
    assert caught.value.exit_code == 3
    assert f"Faulty-{fault}-v0 returned {what} after step" in message, message
    update, _ = crash_point(message, 32)
    kept = (update - 1) * 32
    assert update > 1 and f"checkpoints/last keeps step {kept}" in message and "--resume" in message
    tensors, state = checkpoint.read(run / "checkpoints" / "last")
    assert state["global_step"] == kept == steps_logged(run)[-1]
    assert all_finite(tensors) and "obs_norm.mean" in tensors and "reward_rms.var" in tensors


def test_an_env_that_raises_mid_rollout_shows_its_traceback_then_what_was_kept(tmp_path, monkeypatch):
    run = tmp_path / "run"
    env_id = "fake_envs:Faulty-raise-v0"
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(filter(None, [str(TESTS), os.environ.get("PYTHONPATH")])))
    result = landers_cli("train", "ppo", env_id, "--steps", "1024", "--run-dir", str(run), "--quiet",
                         "--backend", "gymnasium", "--envs", "2", "--set", "num_steps=16", "--set", "num_minibatches=2",
                         "--set", "eval_every=100000")
    assert result.returncode == 1, result.stderr
    err = result.stderr.strip()
    # the env's own traceback first (it is the user's code), then one line
    assert err.startswith("Traceback") and "fake_envs.py" in err
    assert "ConnectionError: the simulator lost its connection" in err
    last = err.splitlines()[-1]
    assert last.startswith(f"error: {env_id} raised ConnectionError (the simulator lost its connection) in update")
    assert sum(line.startswith("error:") for line in err.splitlines()) == 1
    update, _ = crash_point(last, 32)
    kept = (update - 1) * 32
    assert f"checkpoints/last keeps step {kept}," in last and f"landers train --resume {run}" in last
    # the last completed update, not the partial rollout
    tensors, state = checkpoint.read(run / "checkpoints" / "last")
    assert state["global_step"] == kept == steps_logged(run)[-1] and state["updates"] == update - 1
    assert all_finite(tensors)


@pytest.mark.slow  # a landers process; its mid-rollout sibling keeps the env-crash exit code in the quick tier
def test_an_env_that_raises_in_its_first_reset_shows_its_traceback_then_one_line_and_leaves_nothing(tmp_path):
    run = tmp_path / "run"
    result = landers_cli("train", "ppo", "fake_envs:RefusesSeedOne-v0", "--seed", "1", "--steps", "256",
                         "--run-dir", str(run), "--quiet", "--backend", "gymnasium")
    assert result.returncode == 1, result.stderr
    err = result.stderr.strip().splitlines()
    assert err[0].startswith("Traceback") and "RuntimeError: this env refuses seed 1" in err
    assert err[-1] == "error: fake_envs:RefusesSeedOne-v0 raised RuntimeError (this env refuses seed 1)"
    assert not run.exists()
