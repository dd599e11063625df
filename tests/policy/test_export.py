"""ONNX export: the graph acts like `Agent.predict`, checks itself, and runs without torch."""

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np
import pytest
import torch

import fake_envs  # noqa: F401  registers ShiftedActions-v0 and FakePixels-v0
import landers
from conftest import landers_cli
from landers.algos.random import RandomPolicy
from landers.envs.spaces import space_from_json
from landers.errors import LandersError
from landers.policy.agent import Agent
from landers.policy.export import DiscreteAction, export
from landers.policy.networks import ActorCritic, CNNActorCritic
from landers.policy.normalize import ObsNormalizer
from test_cli import assert_one_sentence_error

ort = pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'landers[export]'")
README = Path(__file__).resolve().parents[2] / "README.md"


def normalizer(dim: int, seed: int) -> ObsNormalizer:
    rng = np.random.default_rng(seed)
    norm = ObsNormalizer((dim,))
    norm.rms.mean, norm.rms.var = rng.normal(size=dim), rng.uniform(0.05, 3.0, dim)
    return norm


def make_agent(kind: str) -> Agent:
    """Agents with untrained but non-trivial networks for each kind of policy landers builds."""
    torch.manual_seed(0)
    if kind == "discrete":  # Discrete(3, start=-1), shared trunk, observation normalization
        env = gym.make("ShiftedActions-v0")
        model = ActorCritic(2, env.action_space, (16, 16), shared=True)
        with torch.no_grad():
            model.actor_head.weight.mul_(100)  # spread the logits so that all three actions occur
        return Agent(model, "ShiftedActions-v0", env.observation_space, env.action_space, normalizer(2, 1))
    if kind == "continuous":  # Box(-1, 1, (2,)), separate trunks, normalization, clipping
        env = gym.make("LunarLanderContinuous-v3")
        model = ActorCritic(8, env.action_space, (32, 32))
        with torch.no_grad():
            model.actor_head.weight.mul_(200)  # means inside and outside the bounds
        return Agent(model, "LunarLanderContinuous-v3", env.observation_space, env.action_space, normalizer(8, 2))
    env = gym.make("FakePixels-v0")  # Atari-shaped uint8 frames into the Nature CNN
    model = CNNActorCritic(env.observation_space.shape, env.action_space)
    with torch.no_grad():
        model.actor_head.weight.mul_(100)
    return Agent(model, "FakePixels-v0", env.observation_space, env.action_space)


@pytest.mark.parametrize("kind", ["discrete", "continuous", "pixels"])
def test_onnx_actions_equal_predict(kind, tmp_path):
    agent = make_agent(kind)
    result = export(agent, tmp_path / "policy.onnx", samples=128)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    # observations from gymnasium's own sampler, not the exporter's
    agent.observation_space.seed(5)
    obs = np.stack([agent.observation_space.sample() for _ in range(300)])
    for batch in (obs[:1], obs):  # the batch axis is dynamic
        (actions,) = session.run(None, {"obs": batch})
        expected = agent.predict(batch)
        assert actions.dtype == (np.int64 if kind != "continuous" else np.float32)
        if kind == "continuous":
            np.testing.assert_allclose(actions, expected, rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(actions, expected)
    if kind == "continuous":  # the clipping was exercised: some actions at a bound, some inside
        assert (np.abs(actions) == 1.0).any() and (np.abs(actions) < 1.0).any()
    else:
        assert len(np.unique(actions)) >= 3
        assert actions.min() >= agent.action_space.start
    meta = session.get_modelmeta().custom_metadata_map
    assert meta["env_id"] == agent.env_id
    assert space_from_json(json.loads(meta["action_space"])) == agent.action_space
    assert meta["landers_version"] == landers.__version__


@pytest.mark.parametrize("kind", ["discrete", "continuous"])
def test_stochastic_params_equal_the_networks(kind, tmp_path):
    agent = make_agent(kind)
    result = export(agent, tmp_path / "params.onnx", stochastic_params=True, samples=64)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    agent.observation_space.seed(6)
    obs = np.stack([agent.observation_space.sample() for _ in range(200)])
    got = session.run(None, {"obs": obs})
    want = agent.policy_params(obs)
    want = [w.detach().numpy() for w in (want if isinstance(want, tuple) else (want,))]
    assert [o.name for o in session.get_outputs()] == (["logits"] if kind == "discrete" else ["mean", "log_std"])
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("algo, env_id, settings", [
    ("a2c", "LunarLanderContinuous-v3", dict(num_envs=4, num_steps=5, shared_network=True, norm_obs=True)),
    ("trpo", "CartPole-v1", dict(num_envs=4, num_steps=32, vf_epochs=2, norm_obs=True)),
    ("reinforce", "LunarLanderContinuous-v3", dict(num_envs=4, num_steps=16, norm_obs=False)),
])
def test_every_algorithms_saved_policy_exports(algo, env_id, settings, tmp_path):
    run = landers.train(algo, env_id, steps=256, seed=1, run_dir=tmp_path / "run", backend="gymnasium",
                        eval_every=10_000, final_eval_episodes=1, **settings)
    agent = landers.load(run.run_dir)
    assert (agent.obs_norm is not None) == settings.get("norm_obs", False)
    result = export(agent, tmp_path / "policy.onnx", samples=128)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    obs = np.random.default_rng(0).normal(size=(64, *agent.observation_space.shape)).astype(np.float32)
    np.testing.assert_allclose(session.run(None, {"obs": obs})[0], agent.predict(obs), rtol=1e-5, atol=1e-5)


class ShiftedNormalizer(ObsNormalizer):
    """A normalization the graph does not reproduce: the check must notice."""

    def __call__(self, obs):
        return super().__call__(obs) + 0.5


def test_a_graph_that_disagrees_is_an_error_and_writes_nothing(tmp_path):
    agent = make_agent("continuous")
    norm = ShiftedNormalizer((8,))
    norm.rms = agent.obs_norm.rms
    agent.obs_norm = norm
    with pytest.raises(LandersError, match="disagrees with the agent on .*no file was written"):
        export(agent, tmp_path / "policy.onnx", samples=64)
    assert list(tmp_path.iterdir()) == []


def test_a_tie_between_logits_may_break_either_way_but_nothing_else_may():
    space = gym.spaces.Discrete(3, start=-1)
    model = ActorCritic(2, space, (4,))
    with torch.no_grad():
        model.actor_head.weight.zero_()
        model.actor_head.bias.copy_(torch.tensor([1.0, 1.0, 0.0]))  # actions -1 and 0 tie
    agent = Agent(model, "ShiftedActions-v0", gym.spaces.Box(-1, 1, (2,), np.float32), space)
    obs = np.zeros((3, 2), np.float32)
    want = (np.array([-1, -1, -1]),)
    got = (np.array([-1, 0, 1]),)
    assert DiscreteAction(space).mismatched(agent, obs, want, got).tolist() == [False, False, True]


def test_the_random_policy_is_refused_in_one_sentence(tmp_path):
    space = gym.spaces.Discrete(2)
    agent = Agent(RandomPolicy(space), "CartPole-v1", gym.spaces.Box(-1, 1, (4,), np.float32), space)
    with pytest.raises(LandersError, match="random policy has nothing to export"):
        export(agent, tmp_path / "policy.onnx")
    assert not (tmp_path / "policy.onnx").exists()


def blocking_site(tmp_path: Path, modules: list[str]) -> dict:
    """An environment whose Python cannot import `modules`, for real: a sitecustomize on
    PYTHONPATH installs an import hook that fails as a missing package does."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(f"""
import sys
BLOCKED = {modules!r}

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in BLOCKED:
            raise ModuleNotFoundError(f"No module named {{name!r}}", name=name)
        return None

sys.meta_path.insert(0, Block())
""")
    return {**os.environ, "PYTHONPATH": str(site), "OMP_NUM_THREADS": "1"}


def readme_snippet() -> str:
    """The README's example that plays an episode with gymnasium and onnxruntime only."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (snippet,) = [b for b in blocks if "onnxruntime" in b]
    return snippet


def test_the_readme_example_plays_cartpole_like_predict_without_torch(cartpole_run, tmp_path):
    result = landers_cli("export", str(cartpole_run), "--out", str(tmp_path / "policy.onnx"))
    assert result.returncode == 0, result.stderr
    assert "matched the agent on 4,096 observations" in result.stdout
    session = ort.InferenceSession(str(tmp_path / "policy.onnx"), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    final = json.loads((cartpole_run / "eval.json").read_text())
    assert json.loads(meta["final_eval"])["mean"] == final["mean"]
    assert meta["training_steps"] == str(final["step"]) and meta["algo"] == "ppo"
    json.loads(meta["observation_space"], parse_constant=lambda c: pytest.fail(f"non-strict JSON {c}"))

    env = {**blocking_site(tmp_path, ["torch", "landers"]), "SDL_VIDEODRIVER": "dummy"}
    played = subprocess.run([sys.executable, "-c", readme_snippet()], cwd=tmp_path, env=env,
                            capture_output=True, text=True, timeout=120)
    assert played.returncode == 0, played.stderr

    agent = landers.load(cartpole_run)
    game = gym.make("CartPole-v1")
    obs, _ = game.reset(seed=0)
    total, done = 0.0, False
    while not done:
        obs, reward, terminated, truncated, _ = game.step(agent.predict(obs))
        total, done = total + reward, terminated or truncated
    assert played.stdout.strip() == f"return {total:.1f}"


def test_export_problems_are_one_sentence(cartpole_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run, ignore=shutil.ignore_patterns("tb"))
    blocked = subprocess.run([sys.executable, "-m", "landers", "export", str(run), "--out", str(tmp_path / "a.onnx")],
                             env=blocking_site(tmp_path, ["onnx", "onnxruntime", "onnxscript"]),
                             capture_output=True, text=True, timeout=120)
    assert_one_sentence_error(blocked, "pip install 'landers[export]'")

    (tmp_path / "file").write_text("")
    assert_one_sentence_error(landers_cli("export", str(run), "--out", str(tmp_path / "file" / "policy.onnx")),
                              "Cannot write", "not a directory")
    assert_one_sentence_error(landers_cli("export", str(run), "--out", str(tmp_path)), "is a directory")

    foreign = tmp_path / "sb3_model"
    foreign.mkdir()
    (foreign / "policy.pth").write_bytes(b"\x80\x04 not ours")
    assert_one_sentence_error(landers_cli("export", str(foreign), "--out", str(tmp_path / "b.onnx")),
                              "No complete checkpoint")

    for ckpt in ("last", "best"):  # corrupt both copies: nothing usable is left
        tensors = run / "checkpoints" / ckpt / "tensors.safetensors"
        tensors.write_bytes(tensors.read_bytes()[:-100])
    assert_one_sentence_error(landers_cli("export", str(run), "--out", str(tmp_path / "c.onnx")), "corrupt")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*partial"))


def test_commands_start_without_the_heavy_imports():
    code = ("import sys, landers.cli, landers.policy.agent; "
            "print([m for m in ('onnx', 'onnxruntime', 'onnxscript', 'pygame') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
