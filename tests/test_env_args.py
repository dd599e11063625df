"""Envs as users bring them: constructor kwargs and wrappers from the CLI, factories and
EnvSpecs from Python, and MuJoCo. What a run was trained on is rebuilt by every later use of
it (eval, record, resume, compare, load), in other processes too."""

import dataclasses
import importlib.util
import json

import gymnasium as gym
import numpy as np
import pytest

import fake_envs
import landers
from conftest import landers_cli, landers_in_process
from landers.run.spec import make_spec
from test_cli import assert_one_sentence_error

TINY_CLI = ["--envs", "4", "--set", "num_steps=32", "--set", "num_minibatches=4", "--set", "final_eval_episodes=2",
            "--set", "eval_max_steps=60", "--quiet"]
TIME_FEATURE = "gymnasium.wrappers:TimeAwareObservation"
CLIP = 'gymnasium.wrappers:ClipReward:{"min_reward": -1, "max_reward": 1}'


@pytest.mark.slow  # five landers processes: ~46 s at load 12
def test_env_kwargs_and_wrappers_survive_eval_record_and_resume(tmp_path):
    run = tmp_path / "run"
    result = landers_cli("train", "ppo", "LunarLander-v3", "--env-kwargs", "continuous=true",
                         "--env-kwargs", "gravity=-9.0", "--wrap", TIME_FEATURE, "--wrap", CLIP,
                         "--steps", "256", "--run-dir", str(run), *TINY_CLI)
    assert result.returncode == 0, result.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["env_kwargs"] == {"continuous": True, "gravity": -9.0}
    assert config["wrappers"] == [TIME_FEATURE, CLIP] and config["backend_resolved"] == "gymnasium"
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    assert state["run"]["env_kwargs"] == config["env_kwargs"] and state["run"]["wrappers"] == config["wrappers"]
    # The policy takes 9 numbers (8 + the time feature) and gives 2 (continuous): an eval or a
    # video without the kwargs and wrappers would fail on either.
    assert state["observation_space"]["shape"] == [9] and state["action_space"]["type"] == "Box"
    result = landers_cli("eval", str(run), "--episodes", "3", "--json")
    assert result.returncode == 0, result.stderr
    lengths = json.loads(result.stdout)
    assert lengths["episodes"] == 3 and all(abs(r) <= 60 for r in lengths["returns"])  # clipped rewards, 60 steps
    result = landers_cli("record", str(run), "--format", "gif", "--out", str(tmp_path / "v.gif"))
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "v.gif").stat().st_size > 0
    assert_one_sentence_error(landers_cli("train", "--resume", str(run), "--env-kwargs", "gravity=-5.0"),
                              "--env-kwargs", "cannot change when resuming")
    result = landers_cli("train", "--resume", str(run), "--steps", "512", "--quiet")
    assert result.returncode == 0, result.stderr
    assert "512 steps" in result.stdout
    again = json.loads((run / "config.json").read_text())
    assert again["env_kwargs"] == config["env_kwargs"] and again["wrappers"] == config["wrappers"]
    env = landers.load(run).make_env()
    assert env.unwrapped.continuous and env.unwrapped.gravity == -9.0 and env.observation_space.shape == (9,)
    env.close()


@pytest.mark.parametrize("args, fragments", [
    (["LunarLander-v3", "--env-kwargs", "gravityy=-9"], ["LunarLander-v3", "gravityy"]),
    (["LunarLander-v3", "--env-kwargs", "gravity=5.0"], ["gravity"]),  # out of its range
    (["LunarLander-v3", "--env-kwargs", "gravity=low"], ["gravity=low", "not JSON"]),
    (["LunarLander-v3", "--env-kwargs", "gravity"], ["KEY=VALUE"]),
    (["CartPole-v1", "--wrap", "no_such_module_xyz:wrap"], ["Cannot import the wrapper 'no_such_module_xyz:wrap'"]),
    (["CartPole-v1", "--wrap", "gymnasium.wrappers:NoSuchWrapper"], ["has no 'NoSuchWrapper'"]),
    (["CartPole-v1", "--wrap", "gymnasium.wrappers:TimeLimit:[3]"], ["JSON object"]),
    (["CartPole-v1", "--wrap", "gymnasium.wrappers:TimeLimit"], ["Wrapper 'gymnasium.wrappers:TimeLimit' failed"]),
    (["fake_envs:Configurable-v0", "--wrap", "fake_envs:grow_after_reset"], ["spaces changed mid-run"]),
    (["LunarLander-v3", "--env-kwargs", "continuous=true", "--backend", "envpool"], ["EnvPool cannot build"]),
])
def test_bad_env_arguments_are_one_sentence_and_create_nothing(args, fragments, tmp_path):
    if "envpool" in args and importlib.util.find_spec("envpool") is None:
        pytest.skip("EnvPool is not installed")
    result = landers_in_process("train", "ppo", *args, "--run-dir", str(tmp_path / "r"), *TINY_CLI)
    assert_one_sentence_error(result, *fragments)
    assert not (tmp_path / "r").exists()


@pytest.mark.slow  # two landers processes: ~14 s at load 12
def test_the_hint_for_an_unsupported_key_works(tmp_path):
    run = tmp_path / "run"
    keep_cue = 'gymnasium.wrappers:FilterObservation:{"filter_keys": ["cue"]}'
    result = landers_cli("train", "ppo", "fake_envs:WithText-v0", "--wrap", keep_cue, "--steps", "128",
                         "--run-dir", str(run), *TINY_CLI)
    assert result.returncode == 0, result.stderr
    assert landers_cli("eval", str(run), "--episodes", "2").returncode == 0


def test_a_factory_with_an_import_path_is_rebuilt_in_other_processes(tmp_path):
    run = landers.train("ppo", fake_envs.make_configurable, env_kwargs={"size": 4}, steps=128, run_dir=tmp_path / "r",
                        backend="gymnasium", final_eval_episodes=2, num_envs=2, num_steps=16)
    config = json.loads((run.run_dir / "config.json").read_text())
    assert config["env_factory"] == "fake_envs:make_configurable" and config["env_id"] == "make_configurable"
    assert run.eval.returns == [5.0, 5.0]  # 5 steps paying 1
    result = landers_cli("eval", str(run.run_dir), "--episodes", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["returns"] == [5.0, 5.0]
    assert landers.load(run.run_dir).make_env().observation_space.shape == (4,)


def test_a_factory_without_an_import_path_must_be_passed_in_again(tmp_path):
    def factory(bonus=1.0):
        return fake_envs.Configurable(size=5, bonus=bonus)

    run = landers.train("ppo", factory, steps=128, run_dir=tmp_path / "r", backend="gymnasium",
                        final_eval_episodes=2, num_envs=2, num_steps=16)
    assert run.eval.returns == [10.0, 10.0]  # 5 steps paying 1 + bonus
    assert json.loads((run.run_dir / "config.json").read_text())["env_factory"].startswith("<")
    assert landers.load(run.run_dir).make_env().observation_space.shape == (5,)  # this process still has it
    assert_one_sentence_error(landers_cli("eval", str(run.run_dir)), "without an import path", "pass the env in")
    agent = landers.load(run.run_dir, env=lambda: fake_envs.Configurable(size=5, bonus=2.0))
    assert landers.evaluate(agent, episodes=2).returns == [15.0, 15.0]
    with pytest.raises(landers.errors.LandersError, match="spaces differ"):
        landers.load(run.run_dir, env=lambda: fake_envs.Configurable(size=3))


def test_env_specs_registered_or_not(tmp_path):
    registered = dataclasses.replace(gym.spec("Configurable-v0"), kwargs={"size": 3})
    run = landers.train("ppo", registered, steps=64, run_dir=tmp_path / "a", backend="gymnasium",
                        final_eval_episodes=2, num_envs=2, num_steps=16)
    config = json.loads((run.run_dir / "config.json").read_text())
    assert (config["env_id"], config["env_kwargs"], config["env_factory"]) == ("Configurable-v0", {"size": 3}, None)
    mine = gym.envs.registration.EnvSpec("MyConfigurable-v0", entry_point="fake_envs:Configurable",
                                         kwargs={"size": 6}, max_episode_steps=3)
    run = landers.train("ppo", mine, steps=64, run_dir=tmp_path / "b", backend="gymnasium",
                        final_eval_episodes=2, num_envs=2, num_steps=16)
    assert run.eval.lengths == [3, 3]  # the spec's time limit cuts the 5-step episodes
    result = landers_cli("eval", str(run.run_dir), "--episodes", "2", "--json")
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["returns"] == [3.0, 3.0]


@pytest.mark.parametrize("kwargs, preset", [
    ({"continuous": True}, "ppo-lunarlandercontinuous"),
    ({"continuous": True, "gravity": -9.0}, "ppo-lunarlandercontinuous"),
    ({"gravity": -9.0}, "ppo-lunarlander"),
    ({"continuous": False}, "ppo-lunarlander"),
])
def test_env_kwargs_that_make_a_registered_variant_get_its_preset(kwargs, preset):
    """LunarLander-v3 with continuous=true is LunarLanderContinuous-v3: the continuous preset,
    not the discrete one, whose settings do not fit a Box action space."""
    spec = make_spec("ppo", "LunarLander-v3", env_kwargs=kwargs)
    assert spec.preset == preset and spec.env_id == "LunarLander-v3" and spec.env_kwargs == kwargs


def test_kwargs_that_undo_a_variant_get_the_plain_preset():
    spec = make_spec("ppo", "LunarLanderContinuous-v3", env_kwargs={"continuous": False})
    assert spec.preset == "ppo-lunarlander" and spec.env_id == "LunarLanderContinuous-v3"


@pytest.mark.ray
def test_compare_passes_env_arguments_to_its_runs(tmp_path):
    out = tmp_path / "cmp"
    result = landers_cli("compare", "fake_envs:Configurable-v0", "--algos", "random", "--seeds", "1", "--steps", "64",
                         "--env-kwargs", "size=5", "--wrap", CLIP, "--out", str(out))
    assert result.returncode == 0, result.stderr
    config = json.loads((out / "runs" / "random__s1" / "config.json").read_text())
    assert config["env_kwargs"] == {"size": 5} and config["wrappers"] == [CLIP]
    assert_one_sentence_error(landers_cli("compare", "CartPole-v1", "--wrap", "nope_xyz:w", "--out", str(tmp_path / "c2")),
                              "nope_xyz")
    assert not (tmp_path / "c2").exists()


@pytest.mark.skipif(importlib.util.find_spec("mujoco") is None, reason="MuJoCo is not installed: pip install 'landers[mujoco]'")
@pytest.mark.slow  # a landers process training MuJoCo: ~8 s at load 10
def test_mujoco_smoke_run_uses_the_ppo_mujoco_preset(tmp_path):
    run = tmp_path / "run"
    result = landers_cli("train", "ppo", "Swimmer-v4", "--steps", "128", "--set", "num_steps=64",
                         "--set", "num_minibatches=4", "--set", "final_eval_episodes=2", "--set", "eval_max_steps=100",
                         "--backend", "gymnasium", "--run-dir", str(run), "--quiet")
    assert result.returncode == 0, result.stderr
    config = json.loads((run / "config.json").read_text())
    assert config["preset"] == "ppo-mujoco" and config["hparams"]["num_envs"] == 1
    assert config["hparams"]["norm_obs"] and config["hparams"]["norm_reward"] and config["hparams"]["update_epochs"] == 10
    returns = json.loads((run / "eval.json").read_text())["returns"]
    assert len(returns) == 2 and all(np.isfinite(returns))
