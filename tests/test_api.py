"""The Python API as a Stable-Baselines3 user meets it (issue 26): errors that name the
mistake, presets on request, env instances, discoverable names, and a caller's process left
as it was. Bad input is checked in-process; the CLI's commands through typer's runner, except
where the `landers` program's own start matters."""

import inspect
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import landers
from conftest import landers_in_process
from landers.algos import ALGOS
from landers.cli import app
from landers.core.config import all_presets, find_preset
from landers.errors import LandersError
from landers.run.spec import make_spec

TINY = dict(num_envs=2, num_steps=16, num_minibatches=2, update_epochs=1)
QUICK = dict(backend="gymnasium", final_eval_episodes=1, eval_episodes=1)


def cli(*args):
    return CliRunner().invoke(app, list(args))


def refusal(call, *fragments, absent=()):
    """The one-sentence LandersError `call` raises, checked to name `fragments` and not `absent`."""
    with pytest.raises(LandersError) as caught:
        call()
    message = str(caught.value)
    assert "\n" not in message
    for fragment in fragments:
        assert fragment in message, message
    for fragment in absent:
        assert fragment not in message, message
    return message


# ---------------------------------------------------------------- names and errors


def test_the_public_names_are_exported():
    from landers import Agent, EvalResult, Interrupted, LandersError, Run  # noqa: F401

    assert {"Run", "Agent", "EvalResult", "LandersError", "Interrupted", "train", "resume", "load",
            "evaluate"} <= set(landers.__all__)
    assert issubclass(landers.Interrupted, landers.LandersError)


def test_landers_error_is_also_a_value_error():
    with pytest.raises(ValueError, match="lr=-1.0 must be positive"):
        make_spec("ppo", "CartPole-v1", overrides={"lr": -1.0})


@pytest.mark.parametrize("overrides, named, not_named", [
    ({"lr": -1.0}, "lr=-1.0 must be positive", "max_grad_norm"),
    ({"max_grad_norm": 0.0}, "max_grad_norm=0.0 must be positive", "lr "),
    ({"gamma": 1.5}, "gamma=1.5 must be in (0, 1]", "lr"),
    ({"clip_coef": -0.1}, "clip_coef=-0.1 must be positive", "gae_lambda"),
    ({"eval_every": -1}, "eval_every=-1 must be >= 0", "record_every"),
    ({"checkpoint_every_s": 0.0}, "checkpoint_every_s=0.0 must be positive", "eval_every"),
])
def test_a_range_error_names_the_wrong_argument_only(overrides, named, not_named):
    refusal(lambda: make_spec("ppo", "CartPole-v1", overrides=overrides), named, absent=[not_named])


def test_python_errors_do_not_quote_command_line_flags():
    refusal(lambda: landers.train("ppo", "CartPole-v1", lr="fast"), "lr=fast", "float", absent=["--set"])
    if not torch.cuda.is_available():
        refusal(lambda: landers.train("ppo", "CartPole-v1", device="cuda"), "device=cuda", absent=["--device"])


@pytest.mark.parametrize("argument, fragment", [
    (dict(run_dir=5), "run_dir=5 should be a path"),
    (dict(env_kwargs="size=4"), "env_kwargs='size=4' should be a dict"),
    (dict(wrappers="mymodule:wrap"), "wrappers='mymodule:wrap' should be a list"),
    (dict(num_envs=2.5), "num_envs=2.5: expected a value of type int"),
    (dict(stop_return="high"), "stop_return=high"),
    (dict(callbacks=5), "callbacks=5"),
    (dict(preset=5), "preset=5"),
])
def test_arguments_of_the_wrong_type_are_one_sentence(argument, fragment, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # were one accepted, its run would land here
    refusal(lambda: landers.train("ppo", "CartPole-v1", steps=32, **argument), fragment)
    assert not (tmp_path / "runs").exists()


def test_algorithm_names_ignore_case():
    assert make_spec("PPO", "CartPole-v1").algo == "ppo"
    assert make_spec("Trpo", "CartPole-v1").preset == "trpo-cartpole"


def test_suggestions_are_only_close_names():
    refusal(lambda: make_spec("sac", "CartPole-v1"), "Unknown algorithm 'sac'", "Known algorithms: a2c, ppo",
            absent=["Did you mean"])
    refusal(lambda: make_spec("ppx", "CartPole-v1"), "Did you mean ppo?")
    refusal(lambda: make_spec("ppo", "CartPole-v1", overrides={"learning_rate": 1e-3}), absent=["Did you mean"])
    refusal(lambda: make_spec("ppo", "CartPole-v1", overrides={"clip_coeff": 0.1}), "Did you mean clip_coef?")


def test_env_ids_suggest_only_close_ids():
    refusal(lambda: make_spec("ppo", "Nope-v0"), "Unknown environment 'Nope-v0'.", absent=["Did you mean"])
    refusal(lambda: make_spec("ppo", "cartpole-v1"), "Did you mean CartPole-v1")
    refusal(lambda: make_spec("ppo", "LunarLandr-v3"), "Did you mean LunarLander-v3")


def test_the_known_keys_include_the_run_options_stop_return_too():
    refusal(lambda: make_spec("ppo", "CartPole-v1", overrides={"nonsense": 1}), "Known hyperparameters: ",
            "clip_coef", "run options: ", "stop_return")
    refusal(lambda: make_spec("ppo", "CartPole-v1", overrides={"stop_retrun": 1}), "Did you mean stop_return?")


def test_train_into_an_existing_run_points_at_resume_in_python_terms(cartpole_run):
    refusal(lambda: landers.train("ppo", "CartPole-v1", run_dir=cartpole_run), "landers.resume(",
            absent=["--resume"])


# ---------------------------------------------------------------- predict, evaluate, load


def test_predict_checks_the_observation_shape_and_dtype(cartpole_run):
    agent = landers.load(cartpole_run)
    refusal(lambda: agent.predict(np.zeros(3)), "Expected an observation of shape (4,) or (N, 4), got (3,)")
    refusal(lambda: agent.predict(np.zeros((2, 5))), "got (2, 5)")
    refusal(lambda: agent.predict(np.array(["a", "b", "c", "d"])), "dtype float32", "<U1")
    assert agent.predict([0, 0, 0, 0]) in (0, 1)  # a list of ints is an observation all the same
    assert agent.predict(np.zeros((3, 4), np.float64)).shape == (3,)


def test_evaluate_refuses_bad_arguments_in_one_sentence(cartpole_run):
    agent = landers.load(cartpole_run)
    refusal(lambda: landers.evaluate(agent, episodes=0), "episodes=0 must be positive")
    refusal(lambda: landers.evaluate(agent, episodes="10"), "episodes='10' should be an integer")
    refusal(lambda: landers.evaluate(agent, max_steps=-1), "max_steps=-1")
    refusal(lambda: landers.evaluate(42), "landers.load")
    refusal(lambda: landers.load(42), "path=42 should be a path")
    refusal(lambda: landers.resume(42, steps=10), "run_dir=42 should be a path")


def test_evaluate_takes_the_path_of_a_run(cartpole_run):
    by_path = landers.evaluate(str(cartpole_run), episodes=3, seed=5, backend="gymnasium")
    by_agent = landers.evaluate(landers.load(cartpole_run), episodes=3, seed=5, backend="gymnasium")
    assert by_path.returns == by_agent.returns


def test_evaluate_by_default_plays_the_episodes_landers_eval_plays(cartpole_run):
    """Without seed=, the run's own evaluation seeds (`eval_seed` of its training seed), as
    `landers eval` takes them: the same episodes, the same returns."""
    from landers.policy.evaluation import eval_seed

    cli = landers_in_process("eval", str(cartpole_run), "--episodes", "20", "--json", "--backend", "gymnasium")
    assert cli.returncode == 0, cli.stderr
    by_default = landers.evaluate(cartpole_run, episodes=20, backend="gymnasium")
    assert by_default.returns == json.loads(cli.stdout)["returns"]
    seed = eval_seed(json.loads((cartpole_run / "config.json").read_text())["seed"])
    assert by_default.returns == landers.evaluate(cartpole_run, episodes=20, seed=seed, backend="gymnasium").returns


@pytest.mark.skipif(torch.cuda.is_available(), reason="the refusal is for a machine without CUDA")
def test_load_on_a_missing_cuda_device_is_one_sentence(cartpole_run):
    refusal(lambda: landers.load(cartpole_run, device="cuda"), "device=cuda", "no CUDA device")


# ---------------------------------------------------------------- env instances


def test_evaluate_and_agents_take_an_env_instance(cartpole_run):
    agent = landers.load(cartpole_run)
    env = gym.make("CartPole-v1")
    result = landers.evaluate(agent, env, episodes=3, seed=7)
    assert len(result.returns) == 3 and min(result.returns) >= 8  # CartPole episodes last >= 8 steps
    env.reset(seed=0)  # the caller's env is still open
    same = landers.evaluate(agent, gym.make("CartPole-v1"), episodes=3, seed=7)
    assert same.returns == result.returns
    assert agent.with_env(env).make_env() is env
    refusal(lambda: landers.evaluate(agent, gym.make("Pendulum-v1"), episodes=1), "spaces differ")


def test_train_refuses_an_env_instance_and_says_what_to_pass(tmp_path):
    refusal(lambda: landers.train("ppo", gym.make("CartPole-v1"), run_dir=tmp_path / "r"),
            "env instance", "the class", "lambda: CartPoleEnv(...)")
    assert not (tmp_path / "r").exists()


# ---------------------------------------------------------------- presets on request


def test_preset_none_trains_with_the_general_defaults(tmp_path):
    defaults = landers.algos.get_algo("ppo").Config()
    run = landers.train("ppo", "CartPole-v1", preset=None, steps=64, run_dir=tmp_path / "r", num_envs=2,
                        num_steps=32, **QUICK)
    assert run.spec.preset is None
    assert run.spec.hparams.lr == defaults.lr and run.spec.hparams.update_epochs == defaults.update_epochs
    assert json.loads((tmp_path / "r" / "config.json").read_text())["preset"] is None
    result = cli("config", "ppo", "--env", "CartPole-v1", "--preset", "none")
    assert result.exit_code == 0, result.output
    assert defaults.num_steps != find_preset("ppo", "CartPole-v1", None).hparams["num_steps"]
    assert "preset none" in result.output and _row(result.output, "num_steps") == [str(defaults.num_steps), "default"]


def test_a_factory_gets_the_preset_of_the_id_it_makes():
    assert make_spec("ppo", lambda: gym.make("CartPole-v1")).preset == "ppo-cartpole"
    continuous = make_spec("ppo", lambda: gym.make("LunarLander-v3", continuous=True))
    assert continuous.preset == "ppo-lunarlandercontinuous"
    import fake_envs

    assert make_spec("ppo", fake_envs.NoRender).preset is None  # registered, but not a preset's env
    assert make_spec("ppo", lambda: gym.make("CartPole-v1"), preset="none").preset is None


def _row(output: str, key: str) -> list[str]:
    (line,) = [line for line in output.splitlines() if line.split()[:1] == [key]]
    return line.split()[1:]


def test_config_env_prints_a_runs_values_and_where_each_comes_from():
    result = cli("config", "ppo", "--env", "CartPole-v1", "--set", "lr=0.01", "--set", "steps=999")
    assert result.exit_code == 0, result.output
    preset = all_presets()["ppo-cartpole"]
    assert _row(result.output, "lr") == ["0.01", "--set"]
    assert _row(result.output, "steps") == ["999", "--set"]
    assert _row(result.output, "num_steps") == [str(preset.hparams["num_steps"]), "preset", "ppo-cartpole"]
    assert _row(result.output, "eval_every") == [str(preset.eval_every), "preset", "ppo-cartpole"]
    assert _row(result.output, "vf_coef") == ["0.5", "default"]
    assert _row(result.output, "stop_return") == ["None", "default"]
    bad = cli("config", "ppo", "--env", "CartPole-v1", "--set", "lr=-1")
    assert bad.exit_code == 2 and "lr=-1.0 must be positive" in bad.output


def test_presets_is_a_table_and_prints_one_in_full():
    result = cli("presets")
    assert result.exit_code == 0
    lines = result.output.splitlines()
    assert lines[0].split() == ["name", "algo", "env", "steps", "measured"]
    presets = all_presets()
    for name, preset in presets.items():
        (row,) = [line for line in lines if line.split()[:1] == [name]]
        assert row.split()[1] == preset.algo and f"{preset.steps:,}" in row.split()
    assert all(len(line) <= 150 for line in lines)  # a table of one short row per preset, not the prose
    one = cli("presets", "ppo-cartpole")
    assert json.loads(one.output)["hparams"] == presets["ppo-cartpole"].hparams
    everything = json.loads(cli("presets", "--json").output)
    assert set(everything) == set(presets) and everything["ppo-cartpole"]["results"]["summary"]
    unknown = cli("presets", "ppo-cartpol")
    assert unknown.exit_code == 2 and "Did you mean ppo-cartpole?" in unknown.output


# ---------------------------------------------------------------- discoverable


def test_train_help_lists_every_algorithm():
    result = cli("train", "--help")
    assert result.exit_code == 0
    for name in ALGOS:
        assert name in result.output, name
    assert "--stop-return" in result.output and "none" in result.output  # --preset none
    # Help text is not read as rich markup, which swallowed every "[default: ...]".
    assert "[default: the preset's budget]" in " ".join(result.output.split())


def test_run_options_are_typed_keyword_arguments():
    params = inspect.signature(landers.train).parameters
    for name in ("steps", "seed", "num_envs", "device", "run_dir", "preset", "quiet", "env_kwargs", "wrappers",
                 "config", "stop_return", "backend", "eval_every"):
        assert params[name].kind is inspect.Parameter.KEYWORD_ONLY, name
        assert params[name].annotation not in (inspect.Parameter.empty, "Any"), name
    assert "stop_return" in landers.train.__doc__


@pytest.mark.parametrize("name", ["train", "resume", "load", "evaluate", "Agent.predict"])
def test_the_api_has_docstrings_with_examples(name):
    function = landers
    for part in name.split("."):
        function = getattr(function, part)
    doc = inspect.getdoc(function)
    assert doc and any(line.startswith("    ") and "(" in line for line in doc.splitlines()), function


def test_config_takes_the_algorithms_dataclass_or_a_dict(tmp_path):
    from landers.algos.ppo import Config

    config = Config(lr=1e-3, **TINY)
    run = landers.train("ppo", "CartPole-v1", config=config, steps=32, run_dir=tmp_path / "a", **QUICK)
    assert run.spec.hparams == config and run.spec.preset is None  # used whole: no preset under it
    spec = make_spec("ppo", "CartPole-v1", config={"lr": 1e-3}, overrides={"num_envs": 4})
    assert (spec.hparams.lr, spec.hparams.num_envs, spec.preset) == (1e-3, 4, "ppo-cartpole")
    from landers.algos.a2c import Config as A2CConfig

    refusal(lambda: make_spec("ppo", "CartPole-v1", config=A2CConfig()), "A2CConfig", "landers.algos.ppo.Config")


def test_train_gives_back_the_callers_threads_and_random_states(tmp_path):
    before = torch.get_num_threads()
    try:
        torch.set_num_threads(2)
        torch.manual_seed(123), np.random.seed(123), random.seed(123)
        expected = (torch.rand(3), np.random.rand(3), random.random())
        torch.manual_seed(123), np.random.seed(123), random.seed(123)
        landers.train("ppo", "CartPole-v1", steps=32, seed=9, run_dir=tmp_path / "r", **TINY, **QUICK)
        assert torch.get_num_threads() == 2
        assert torch.equal(torch.rand(3), expected[0])
        assert np.array_equal(np.random.rand(3), expected[1]) and random.random() == expected[2]
    finally:
        torch.set_num_threads(before)


# ---------------------------------------------------------------- env paths on the command line


CWD_MODULE = '''
import gymnasium as gym
from gymnasium.envs.classic_control import CartPoleEnv

gym.register("CwdPole-v0", entry_point=CartPoleEnv, max_episode_steps=40)


def make_pole():
    return gym.make("CartPole-v1", max_episode_steps=40)
'''


@pytest.mark.slow  # two `landers` processes, ~15 s on the 2-core VM
def test_the_landers_program_imports_env_modules_from_the_current_directory(tmp_path):
    (tmp_path / "cwdenvs.py").write_text(CWD_MODULE)
    program = Path(sys.executable).with_name("landers")
    if not program.exists():
        pytest.skip("the landers program is not installed next to this Python")
    # The landers under test, wherever the run's current directory is (PYTHONPATH may be relative).
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONPATH=str(Path(landers.__file__).resolve().parents[1]))
    env.pop("PYTHONSAFEPATH", None)
    common = ["--steps", "64", "--envs", "2", "--set", "num_steps=32", "--set", "final_eval_episodes=1",
              "--backend", "gymnasium", "--quiet"]
    first = subprocess.run([str(program), "train", "ppo", "cwdenvs:CwdPole-v0", "--run-dir", "a", *common],
                           cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert first.returncode == 0, first.stderr
    factory = subprocess.run([str(program), "train", "ppo", "cwdenvs:make_pole", "--run-dir", "b", *common],
                             cwd=tmp_path, env=env, capture_output=True, text=True, timeout=120)
    assert factory.returncode == 0, factory.stderr
    recorded = json.loads((tmp_path / "b" / "config.json").read_text())
    assert recorded["env_factory"] == "cwdenvs:make_pole"
    assert recorded["preset"] == "ppo-cartpole"  # the factory's env is a CartPole


def test_the_cli_takes_every_env_path_landers_records(tmp_path, monkeypatch):
    import fake_envs

    spec = make_spec("ppo", fake_envs.NoRender)
    assert spec.env_factory == "fake_envs:NoRender"
    result = cli("config", "ppo", "--env", spec.env_factory)
    assert result.exit_code == 0, result.output
    assert result.output.startswith("ppo on NoRender")
    assert cli("config", "ppo", "--env", "fake_envs:NoRender-v0").exit_code == 0  # module:EnvId
    unknown = cli("config", "ppo", "--env", "fake_envs:NoSuch-v0")
    assert unknown.exit_code == 2 and "Unknown environment" in unknown.output


# ---------------------------------------------------------------- the shipped callbacks


def _progress(step, mean=None, elapsed=0.0):
    from landers.run.callbacks import Evaluation, Progress

    last = Evaluation(step=step, mean=mean, std=0.0, episodes=10) if mean is not None else None
    return Progress(step=step, updates=step // 100, seconds=elapsed, elapsed=elapsed, metrics={}, last_eval=last)


def test_stop_at_return_stops_at_the_first_evaluation_that_reaches_it():
    from landers.run.callbacks import Callbacks, StopAtReturn

    callbacks = Callbacks([StopAtReturn(100)])
    assert callbacks.on_update(_progress(100)) and callbacks.on_eval(_progress(100, 99.9))
    assert callbacks.on_eval(_progress(200, 100.0)) is False
    assert callbacks.reason == "evaluation 100.0 >= 100"


def test_stop_without_improvement_counts_evaluations_in_a_row():
    from landers.run.callbacks import Callbacks, StopWithoutImprovement

    callbacks = Callbacks(StopWithoutImprovement(2, min_delta=1.0))
    answers = [callbacks.on_eval(_progress(100 * i, mean)) for i, mean in enumerate([10, 20, 20.5, 25, 25, 24])]
    assert answers == [True, True, True, True, True, False]  # 20.5 is no improvement (min_delta), 25 is
    assert "2 evaluations without improving on 25.0" == callbacks.reason


def test_time_limit_and_plain_callables():
    from landers.run.callbacks import Callbacks, TimeLimit

    seen = []
    callbacks = Callbacks([TimeLimit(5), lambda p: seen.append(p.step)])
    assert callbacks.on_update(_progress(100, elapsed=4.9))
    assert callbacks.on_update(_progress(200, elapsed=5.0)) is False
    assert seen == [100, 200] and callbacks.reason == "time limit of 5 s reached"
    assert callbacks.on_eval(_progress(200, 1.0))  # a plain callable hears only of updates
    refusal(lambda: Callbacks([42]), "int", "on_update(progress)")
    refusal(lambda: TimeLimit(0), "seconds=0 must be positive")


# ---------------------------------------------------------------- continuing and stopping runs


RESUMABLE = dict(num_envs=2, num_steps=16, num_minibatches=2, update_epochs=2, eval_every=64,
                 final_eval_episodes=2, eval_episodes=2)
CLI_RESUMABLE = [arg for key, value in RESUMABLE.items() for arg in ("--set", f"{key}={value}")]


def _metrics(run_dir):
    """metrics.csv without its wall-clock columns, which differ between any two runs."""
    import csv

    with open(run_dir / "metrics.csv") as f:
        return [{k: v for k, v in row.items() if k not in ("time", "sps")} for row in csv.DictReader(f)]


def test_resume_from_python_continues_exactly_as_the_cli_does(tmp_path):
    landers.train("ppo", "CartPole-v1", steps=96, seed=4, run_dir=tmp_path / "py", backend="gymnasium", **RESUMABLE)
    run = landers.resume(tmp_path / "py", steps=192, lr=1e-3)
    assert run.global_step == 192 and isinstance(run, landers.Run)
    common = ["--backend", "gymnasium", "--quiet", *CLI_RESUMABLE]
    first = cli("train", "ppo", "CartPole-v1", "--steps", "96", "--seed", "4", "--run-dir", str(tmp_path / "cli"),
                *common)
    assert first.exit_code == 0, first.output
    second = cli("train", "--resume", str(tmp_path / "cli"), "--steps", "192", "--set", "lr=0.001", "--quiet")
    assert second.exit_code == 0, second.output
    assert len(_metrics(tmp_path / "py")) == 192 // 32
    assert _metrics(tmp_path / "py") == _metrics(tmp_path / "cli")
    py_config = json.loads((tmp_path / "py" / "config.json").read_text())
    cli_config = json.loads((tmp_path / "cli" / "config.json").read_text())
    assert py_config["resumed"] == cli_config["resumed"] and py_config["hparams"] == cli_config["hparams"]


def _tree(path):
    return {p.relative_to(path): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def test_a_total_at_or_below_the_steps_done_is_refused_and_writes_nothing(cartpole_run, tmp_path):
    import shutil

    run_dir = tmp_path / "run"
    shutil.copytree(cartpole_run, run_dir)
    before = _tree(run_dir)
    done = landers.load(run_dir).info["global_step"]
    for steps in (done, done - 1):
        refusal(lambda steps=steps: landers.resume(run_dir, steps=steps),
                f"steps={steps} is not more than the {done:,} steps")
        result = cli("train", "--resume", str(run_dir), "--steps", str(steps))
        assert result.exit_code == 2 and f"steps={steps} is not more than" in result.output
    refusal(lambda: landers.resume(run_dir, steps="lots"), "steps='lots' should be an integer")
    assert _tree(run_dir) == before


def test_a_callback_returning_false_stops_after_that_update_saved_as_at_the_end(tmp_path):
    seen = []

    def third_update_ends_it(progress):
        seen.append(progress)
        return progress.updates < 3

    run = landers.train("ppo", "CartPole-v1", steps=640, run_dir=tmp_path / "r", backend="gymnasium",
                        callbacks=[third_update_ends_it], **RESUMABLE)
    assert len(_metrics(tmp_path / "r")) == 3 and run.global_step == 3 * 32
    assert [p.updates for p in seen] == [1, 2, 3] and seen[-1].metrics["step"] == 96
    assert seen[-1].last_eval is not None and seen[-1].last_eval.step == 64  # the evaluation at step 64
    assert run.stopped == "callback third_update_ends_it returned False"
    assert landers.load(tmp_path / "r").info["global_step"] == 96  # checkpoints/last: the third update
    assert json.loads((tmp_path / "r" / "eval.json").read_text())["step"] == 96  # evaluated as at the end
    again = run.resume(steps=160)  # Run.resume goes on from there
    assert again.global_step == 160 and len(_metrics(tmp_path / "r")) == 5


def test_on_eval_callbacks_and_stop_at_return_end_a_real_run(tmp_path):
    calls = []

    class Watcher:
        def on_eval(self, progress):
            calls.append(progress.last_eval)

    run = landers.train("ppo", "CartPole-v1", steps=640, run_dir=tmp_path / "r", backend="gymnasium",
                        callbacks=[Watcher(), landers.StopAtReturn(1)], **RESUMABLE)
    assert [e.step for e in calls] == [64] and run.global_step == 64  # any episode returns >= 1
    assert run.stopped.startswith(f"evaluation {calls[0].mean:.1f} >= 1")


def test_stop_return_is_named_in_the_summary_line(tmp_path):
    result = cli("train", "ppo", "CartPole-v1", "--steps", "640", "--run-dir", str(tmp_path / "r"), "--quiet",
                 "--backend", "gymnasium", "--stop-return", "1", *CLI_RESUMABLE)
    assert result.exit_code == 0, result.output
    (line,) = [line for line in result.stdout.splitlines() if line.startswith("stopped")]
    assert line.startswith("stopped at step 64: evaluation ") and line.endswith(">= stop_return (1)")


def test_a_callbacks_own_error_reaches_the_caller_and_the_run_can_go_on(tmp_path):
    def broken(progress):
        if progress.updates == 3:
            raise RuntimeError("my callback's bug")

    with pytest.raises(RuntimeError, match="my callback's bug"):
        landers.train("ppo", "CartPole-v1", steps=640, run_dir=tmp_path / "r", backend="gymnasium",
                      callbacks=[broken], **RESUMABLE)
    assert landers.load(tmp_path / "r").info["global_step"] == 64  # saved with the evaluation at step 64
    assert landers.resume(tmp_path / "r", steps=128).global_step == 128


def test_the_default_norm_obs_applies_where_there_are_vector_observations(tmp_path):
    import fake_envs  # noqa: F401  (registers the fake envs)

    assert landers.algos.get_algo("ppo").Config().norm_obs  # the general default
    assert make_spec("ppo", "Pendulum-v1").hparams.norm_obs  # no preset: the default
    assert make_spec("ppo", "DictPixels-v0").hparams.norm_obs  # pixels beside a vector: on
    assert not make_spec("ppo", "BitFlip-v0").hparams.norm_obs  # bits only: nothing to normalize
    assert not make_spec("ppo", "FakePixels-v0").hparams.norm_obs
    # asked for where nothing can be normalized: refused in one sentence when the run starts
    spec = make_spec("ppo", "FakePixels-v0", overrides={"norm_obs": True})
    assert spec.hparams.norm_obs
    with pytest.raises(LandersError, match="norm_obs is for vector observations"):
        landers.train("ppo", "FakePixels-v0", steps=64, norm_obs=True, run_dir=tmp_path / "r", **TINY, **QUICK)


def test_a_default_num_minibatches_fits_the_batch_that_set_values_make(tmp_path):
    from landers.run.spec import value_sources

    # rnn with 4 envs: PPO's default of 8 minibatches is cut to 4 (whole env sequences)
    spec = make_spec("ppo", "CartPole-v1", preset="none", overrides={"rnn": "lstm", "num_envs": "4"})
    assert (spec.hparams.num_envs, spec.hparams.num_minibatches) == (4, 4)
    # a batch of 100 steps: 8 does not divide it, the largest divisor below does; `landers config` says so
    overrides = {"num_envs": 1, "num_steps": 100}
    spec = make_spec("ppo", "CartPole-v1", preset="none", overrides=overrides)
    assert spec.hparams.num_minibatches == 5
    assert value_sources(spec, overrides)["num_minibatches"] == "default (8, fitted to this run)"
    # the env's own preset's value is fitted too (LunarLander's 8 minibatches, to a batch of 4)
    overrides = {"num_envs": 1, "num_steps": 4}
    spec = make_spec("ppo", "LunarLander-v3", overrides=overrides)
    assert (spec.preset, spec.hparams.num_minibatches) == ("ppo-lunarlander", 4)
    assert value_sources(spec, overrides)["num_minibatches"] == "preset ppo-lunarlander (8, fitted to this run)"
    # a preset file the caller names that leaves num_minibatches unset gets it fitted; what it gives is kept
    named = tmp_path / "rnn.json"
    named.write_text(json.dumps({"algo": "ppo", "env_id": "CartPole-v1", "steps": 1000, "hparams": {"rnn": "gru", "num_envs": 2}}))
    assert make_spec("ppo", "CartPole-v1", preset=str(named)).hparams.num_minibatches == 2
    named.write_text(json.dumps({"algo": "ppo", "env_id": "CartPole-v1", "steps": 1000, "hparams": {"num_minibatches": 7}}))
    with pytest.raises(LandersError, match="does not divide"):
        make_spec("ppo", "CartPole-v1", preset=str(named))
    # values the user gives (--set, keyword arguments, a whole Config) are never changed, only refused
    with pytest.raises(LandersError, match="must be at most num_envs=4"):
        make_spec("ppo", "CartPole-v1", preset="none", overrides={"rnn": "lstm", "num_envs": 4, "num_minibatches": 8})
    with pytest.raises(LandersError, match="must be at most num_envs=4"):
        make_spec("ppo", "CartPole-v1", config=landers.algos.ppo.PPOConfig(rnn="lstm"), overrides={"num_envs": 4})
