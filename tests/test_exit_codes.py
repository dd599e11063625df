"""Every command ends with the exit code of landers.cli.EXIT_CODES: 2 for bad usage or input,
1 when the work itself failed, 3 for a diverged run, 130 when interrupted. Checked in-process
(typer's CliRunner) where no process of its own is needed; Ctrl-C, a diverged or crashed
training run and Ray's failures are checked by real processes in tests/run and tests/scale."""

import pytest
import torch

import landers
from conftest import TINY, landers_in_process
from landers.cli import EXIT_CODES


def test_help_tells_every_exit_code():
    result = landers_in_process("--help")
    assert result.returncode == 0
    text = " ".join(result.stdout.split())  # rich wraps the epilog
    for code in EXIT_CODES:
        assert f"{code}: " in text, code


@pytest.mark.parametrize("args, fragment", [
    (["nosuchcommand"], "No such command"),
    (["train", "ppx", "CartPole-v1"], "Unknown algorithm"),
    (["eval", "no/such/run"], "No run or checkpoint"),
    (["record", "no/such/run"], "No run or checkpoint"),
    (["export", "no/such/run"], "No run or checkpoint"),
    (["play", "no/such/run"], "No run or checkpoint"),
    (["plot", "no/such/run"], "no/such/run"),
    (["report", "no/such/run"], "no/such/run"),
    (["config", "ppx"], "Unknown algorithm"),
    (["tune", "ppo", "CartPole-v1", "--trials", "0"], "must be positive"),
    (["compare", "CartPole-v1", "--algos", ","], "names no algorithm"),
])
def test_bad_input_to_any_command_exits_2(args, fragment):
    result = landers_in_process(*args)
    assert result.returncode == 2, (result.returncode, result.stdout, result.stderr)
    assert fragment in result.stderr and "Traceback" not in result.stderr, result.stderr


def test_tune_refuses_set_on_what_its_space_file_searches_but_not_on_the_default_space(tmp_path):
    (tmp_path / "space.json").write_text('{"norm_obs": {"choice": [true, false]}}')
    result = landers_in_process("tune", "ppo", "CartPole-v1", "--env-kwargs", "nosuch=1",
                                "--space", str(tmp_path / "space.json"), "--set", "norm_obs=true")
    assert result.returncode == 2 and "--set norm_obs fixes a hyperparameter the space file searches" in result.stderr
    # Without the file naming it, --set fixes it: only the bad env argument (checked next) is left to refuse.
    result = landers_in_process("tune", "ppo", "CartPole-v1", "--env-kwargs", "nosuch=1", "--set", "norm_obs=true")
    assert result.returncode == 2 and "nosuch" in result.stderr and "--set" not in result.stderr, result.stderr


def test_an_export_whose_check_fails_exits_1_and_writes_nothing(cartpole_run, tmp_path, monkeypatch):
    from landers.export.inputs import ObservationInput

    forward = ObservationInput.forward
    # A graph that shifts every observation: onnxruntime then disagrees with the agent, as a
    # wrong translation of the policy would.
    monkeypatch.setattr(ObservationInput, "forward", lambda self, *leaves: forward(self, *leaves) + 3.0)
    result = landers_in_process("export", str(cartpole_run), "--out", str(tmp_path / "policy.onnx"))
    assert result.returncode == 1, (result.returncode, result.stderr)
    assert "disagrees with the agent" in result.stderr and "Traceback" not in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_an_env_that_crashes_in_play_exits_1_with_its_traceback(tmp_path, monkeypatch):
    run = landers.train("ppo", "fake_envs:CrashesInWindow-v0", steps=128, seed=0, run_dir=tmp_path / "run",
                        backend="gymnasium", eval_every=10_000, final_eval_episodes=1, **TINY)
    torch.set_num_threads(1)
    monkeypatch.setenv("DISPLAY", ":4093")  # the env opens no window: any display will do
    monkeypatch.setenv("SDL_VIDEODRIVER", "x11")  # play sets it for X; restored after the test
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    result = landers_in_process("play", str(run.run_dir), "--episodes", "1")
    assert result.returncode == 1, (result.returncode, result.stderr)
    *trace, last = result.stderr.strip().splitlines()
    assert "Traceback" in trace[0] and "fake_envs.py" in result.stderr  # where the fix is
    assert last == "error: fake_envs:CrashesInWindow-v0 raised RuntimeError (the viewer lost its GL context) in episode 1."
