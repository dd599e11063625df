import hashlib
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from conftest import landers_cli, landers_in_process


def assert_one_sentence_error(result, *fragments):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    assert "Traceback" not in result.stderr
    for fragment in fragments:
        assert fragment in lines[0]


def tree_digest(path):
    h = hashlib.sha256()
    for p in sorted(path.rglob("*")):
        if p.is_file():
            h.update(str(p.relative_to(path)).encode() + p.read_bytes())
    return h.hexdigest()


@pytest.mark.parametrize("args, fragments", [
    (["train", "ppo", "LunarLandr-v3"], ["Unknown environment", "Did you mean LunarLander-v3"]),
    (["train", "ppx", "CartPole-v1"], ["Unknown algorithm 'ppx'", "ppo"]),
    (["train", "ppo", "CartPole-v1", "--preset", "nope"], ["Unknown preset 'nope'"]),
    (["train", "ppo", "CartPole-v1", "--set", "learning_rate=0.1"], ["Unknown hyperparameter or run option 'learning_rate'"]),
    (["train", "ppo", "CartPole-v1", "--set", "num_envs=abc"], ["num_envs=abc", "int"]),
    (["train", "ppo", "CartPole-v1", "--set", "lr"], ["KEY=VALUE"]),
    (["train", "ppo", "CartPole-v1", "--steps", "0"], ["steps=0 must be positive"]),
    (["train", "ppo", "CartPole-v1", "--steps", "-5"], ["steps=-5 must be positive"]),
    (["train", "ppo", "CartPole-v1", "--set", "num_minibatches=7"], ["does not divide"]),
    (["train", "ppo", "CartPole-v1", "--backend", "fast"], ["Unknown backend"]),
    (["train", "ppo"], ["Give ALGO and ENV_ID"]),
    (["eval", "no/such/run"], ["No run or checkpoint"]),
])
def test_bad_input_is_one_sentence_and_exit_2(args, fragments, tmp_path):
    result = landers_in_process(*args, "--run-dir", str(tmp_path / "r")) if args[0] == "train" else landers_in_process(*args)
    assert_one_sentence_error(result, *fragments)
    assert not (tmp_path / "r").exists()


def test_bad_input_on_an_existing_run_modifies_nothing(cartpole_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    digest = tree_digest(run)
    assert_one_sentence_error(landers_in_process("train", "ppo", "LunarLander-v3", "--resume", str(run), "--steps", "9000"),
                              "cannot resume as env LunarLander-v3")
    assert_one_sentence_error(landers_in_process("train", "ppo", "CartPole-v1", "--run-dir", str(run)), "already holds a run")
    assert_one_sentence_error(landers_in_process("train", "--resume", str(run), "--set", "hidden_sizes=8"),
                              "hidden_sizes cannot change when resuming")
    assert_one_sentence_error(landers_in_process("train", "--resume", str(run), "--seed", "4"), "cannot change when resuming")
    assert_one_sentence_error(landers_in_process("eval", str(run), "--env", "LunarLander-v3"), "trained on CartPole-v1")
    assert_one_sentence_error(landers_in_process("eval", str(run), "--episodes", "0"), "must be positive")
    assert tree_digest(run) == digest
    (run / "checkpoints" / "last" / "state.json").write_text("{ truncated")
    shutil.rmtree(run / "checkpoints" / "best")
    digest = tree_digest(run)
    assert_one_sentence_error(landers_in_process("eval", str(run)), "corrupt")
    assert_one_sentence_error(landers_in_process("train", "--resume", str(run), "--steps", "9000"), "corrupt")
    assert tree_digest(run) == digest


def test_eval_json(cartpole_run):
    result = landers_in_process("eval", str(cartpole_run), "--episodes", "6", "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert set(data) == {"mean", "std", "episodes", "returns"} and data["episodes"] == 6
    assert len(data["returns"]) == 6 and min(data["returns"]) >= 8  # CartPole episodes last >= 8 steps
    again = json.loads(landers_in_process("eval", str(cartpole_run / "checkpoints" / "best"), "--episodes", "6", "--json").stdout)
    assert again["episodes"] == 6


def test_eval_max_steps_caps_each_episode(cartpole_run):
    full = json.loads(landers_in_process("eval", str(cartpole_run), "--episodes", "5", "--json").stdout)
    assert max(full["returns"]) > 12  # so that the cap below has something to cut
    capped = landers_in_process("eval", str(cartpole_run), "--episodes", "5", "--max-steps", "12", "--json")
    assert capped.returncode == 0, capped.stderr
    assert max(json.loads(capped.stdout)["returns"]) <= 12  # CartPole: return = steps
    assert_one_sentence_error(landers_in_process("eval", str(cartpole_run), "--max-steps", "-1"), "--max-steps")


def test_train_prints_run_dir_and_final_eval_last(tmp_path):
    run = tmp_path / "run"
    result = landers_cli("train", "ppo", "CartPole-v1", "--steps", "512", "--run-dir", str(run), "--quiet",
                         "--set", "final_eval_episodes=4", "--envs", "4", "--backend", "gymnasium")
    assert result.returncode == 0, result.stderr
    last = result.stdout.strip().splitlines()[-1]
    assert str(run) in last and "eval" in last and "over 4 episodes" in last
    assert json.loads((run / "eval.json").read_text())["episodes"] == 4
    assert "fitted" not in result.stdout  # the preset's values fit 4 envs: nothing to announce


def test_train_says_which_values_it_fitted_to_the_run(tmp_path):
    # a batch of 1 x 100 steps: PPO's default 8 minibatches do not divide it, 5 do
    result = landers_in_process("train", "ppo", "CartPole-v1", "--preset", "none", "--steps", "200", "--quiet",
                                "--set", "num_envs=1", "--set", "num_steps=100", "--set", "final_eval_episodes=1",
                                "--run-dir", str(tmp_path / "run"))
    assert result.returncode == 0, result.stderr
    assert result.stdout.splitlines()[0] == ("num_minibatches 5 (not 8: fitted to this run; "
                                             "--set num_minibatches=... to choose)")
    assert json.loads((tmp_path / "run" / "config.json").read_text())["hparams"]["num_minibatches"] == 5


def test_presets_lists_the_tuned_presets():
    result = landers_cli("presets")
    assert result.returncode == 0
    for env in ("CartPole-v1", "LunarLander-v3"):
        assert env in result.stdout


def test_config_lists_hyperparameters():
    result = landers_cli("config", "ppo")
    assert result.returncode == 0 and "clip_coef" in result.stdout and "target_kl" in result.stdout


@pytest.mark.parametrize("args, fragments", [
    (["train", "ppo", "CartPole-v1", "--set", "num_envs=1e999"], ["num_envs=1e999", "int"]),
    (["train", "ppo", "CartPole-v1", "--set", "lr=nan"], ["lr=nan"]),
    (["train", "ppo", "CartPole-v1", "--device", "cuda:7"], ["cuda:7"]),
    (["train", "ppo", "CartPole-v1", "--device", "tpu"], ["Unknown device"]),
    (["train", "ppo", "fake_envs:WithText-v0", "--envs", "1"], ["key 'mission' is a Text space", "FilterObservation"]),
    (["train", "ppo", "BreakoutNoFrameskip-v4", "--envs", "1", "--set", "norm_obs=true"], ["norm_obs"]),
    (["train", "trpo", "BreakoutNoFrameskip-v4", "--envs", "1"], ["TRPO needs separate"]),
    (["compare", "CartPole-v1", "--algos", ","], ["names no algorithm"]),
])
def test_more_bad_input(args, fragments, tmp_path):
    extra = ["--run-dir", str(tmp_path / "r")] if args[0] == "train" else []
    assert_one_sentence_error(landers_in_process(*args, *extra), *fragments)
    assert not (tmp_path / "r").exists()  # a run that never started leaves nothing behind


def test_run_dir_that_is_a_file(tmp_path):
    target = tmp_path / "file"
    target.write_text("mine")
    assert_one_sentence_error(landers_in_process("train", "ppo", "CartPole-v1", "--run-dir", str(target / "run")),
                              "Cannot create the run directory")
    assert target.read_text() == "mine"


def test_resume_of_a_run_killed_before_its_first_checkpoint_starts_it_again(cartpole_run, tmp_path):
    run = tmp_path / "run"
    run.mkdir()
    shutil.copy(cartpole_run / "config.json", run / "config.json")
    (run / "metrics.csv").write_text((cartpole_run / "metrics.csv").read_text())  # rows of the dead attempt
    result = landers_in_process("train", "--resume", str(run), "--steps", "512", "--quiet")
    assert result.returncode == 0, result.stderr
    steps = [line.split(",")[0] for line in (run / "metrics.csv").read_text().splitlines()[1:]]
    assert steps == [str(64 * (i + 1)) for i in range(8)]


def test_discrete_actions_numbered_from_start(tmp_path):
    import sys

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    import fake_envs  # noqa: F401  registers ShiftedActions-v0
    import landers

    run = landers.train("ppo", "ShiftedActions-v0", steps=512, run_dir=tmp_path / "run", num_envs=4, num_steps=16,
                        num_minibatches=2, final_eval_episodes=3, backend="gymnasium")
    assert len(run.eval.returns) == 3
    actions = run.agent.predict(np.zeros((5, 2), np.float32))
    assert set(actions.tolist()) <= {-1, 0, 1}
    assert run.agent.predict(np.zeros(2, np.float32)) in (-1, 0, 1)


def test_env_whose_dependency_is_missing(tmp_path):
    import importlib.util

    if importlib.util.find_spec("mujoco") is not None:
        pytest.skip("MuJoCo is installed here, so HalfCheetah-v5 can be created")
    assert_one_sentence_error(landers_in_process("train", "ppo", "HalfCheetah-v5", "--run-dir", str(tmp_path / "r")),
                              "Cannot create HalfCheetah-v5")
    assert not (tmp_path / "r").exists()


def test_train_ends_without_pythons_teardown_yet_leaves_every_output_whole(tmp_path):
    """The `landers` program leaves through os._exit (`cli._exit`, ~0.85 s sooner): no exit hook
    runs, yet every file is complete and every printed line is in the pipe."""
    import csv

    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    import landers

    run, marker = tmp_path / "r", tmp_path / "teardown-ran"
    program = ("import atexit, pathlib, sys; marker = pathlib.Path(sys.argv.pop(1)); "
               "atexit.register(marker.write_text, 'yes'); from landers.cli import run; run()")
    # Without PYTHONUNBUFFERED (which landers_cli sets), as a user's pipe gets it: block-buffered.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONUNBUFFERED"}
    result = subprocess.run([sys.executable, "-c", program, str(marker), "train", "ppo", "CartPole-v1",
                             "--steps", "1024", "--eval-every", "512", "--run-dir", str(run), "--backend", "gymnasium",
                             "--set", "num_envs=4", "--set", "num_steps=64", "--set", "final_eval_episodes=3"],
                            capture_output=True, text=True, env=env, timeout=300)
    assert result.returncode == 0, result.stderr
    assert not marker.exists()  # the exit skipped Python's teardown, hooks included
    assert result.stdout.strip().splitlines()[-1].startswith(f"{run}: eval")

    def rows(name):
        with (run / name).open() as f:
            return list(csv.DictReader(f))

    steps = [int(row["step"]) for row in rows("metrics.csv")]
    assert steps == list(range(256, 1025, 256))
    assert [int(row["step"]) for row in rows("evals.csv")] == [512, 1024]
    assert rows("episodes.csv") and all(int(row["step"]) <= 1024 for row in rows("episodes.csv"))
    tb = EventAccumulator(str(run / "tb"))
    tb.Reload()
    assert [e.step for e in tb.Scalars("train/lr")] == steps
    assert [e.step for e in tb.Scalars("eval/mean")] == [512, 1024]
    assert len(json.loads((run / "eval.json").read_text())["returns"]) == 3
    assert json.loads((run / "config.json").read_text())["steps"] == 1024
    assert landers.load(run).info["global_step"] == 1024  # checkpoints/last reads back whole
