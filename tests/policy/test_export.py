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
from conftest import TINY, landers_cli, landers_in_process
from landers.algos.random import RandomPolicy
from landers.envs.spaces import space_from_json
from landers.errors import LandersError, WorkFailed
from landers.policy.agent import Agent
from landers.policy.export import DiscreteAction, ObservationInput, export
from landers.policy.networks import ActorCritic, CNNActorCritic
from landers.policy.normalize import ObsNormalizer
from landers.policy.spaces import ObsLayout
from test_cli import assert_one_sentence_error

ort = pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'landers[export]'")
README = Path(__file__).resolve().parents[2] / "docs" / "guides" / "export.md"  # where the README's examples went


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


# ---------------------------------------------------------------- every space landers trains on

SPACE_INPUTS = {  # env id -> the graph's inputs in order (fake_envs.py)
    "DictCue-v0": ["obs.cue", "obs.noise", "obs.position"],  # a Dict with a Discrete part
    "DictPixels-v0": ["obs.pixels", "obs.speed"],  # a Dict with a channels-last image; a (2, 2) Box action
    "TupleGrid-v0": ["obs.0", "obs.1"],  # a Tuple of a (5, 5) Box and a Discrete
    "MultiDiscreteMatch-v0": ["obs"],  # MultiDiscrete observations and actions (numbered from 1)
    "BitFlip-v0": ["obs"],  # MultiBinary observations and actions
    # a Dict nesting a Tuple, categories numbered from -1 and 1, a (1, 2) MultiDiscrete action from (-1, 5)
    "NestedStarts-v0": ["obs.cue", "obs.grid", "obs.parts.0", "obs.parts.1"],
}


@pytest.fixture(scope="module")
def space_agents(tmp_path_factory):
    """Agents trained briefly by PPO on each space's fake env (observation normalization where a
    Box part exists), their policy heads then redrawn with a large gain so that the actions vary
    with the observation (a fresh head's gain of 0.01 gives nearly one action everywhere) and
    Box means fall inside and outside the bounds; one per env id, trained on first use."""
    agents = {}

    def get(env_id: str) -> Agent:
        if env_id not in agents:
            norm = ObsLayout(gym.make(env_id).observation_space).has_vector
            run = landers.train("ppo", env_id, steps=128, seed=2, backend="gymnasium", final_eval_episodes=1,
                                run_dir=tmp_path_factory.mktemp("spaces") / env_id, norm_obs=norm, **TINY)
            agent = landers.load(run.run_dir)
            assert (agent.obs_norm is not None) == norm
            torch.manual_seed(0)
            with torch.no_grad():
                torch.nn.init.orthogonal_(agent.model.actor_head.weight, 3.0)
            agents[env_id] = agent
        return agents[env_id]

    return get


def sampled_batch(space: gym.Space, n: int, seed: int):
    """`n` observations from gymnasium's own sampler, batched as a vector env batches them."""
    space.seed(seed)
    return gym.vector.utils.concatenate(space, [space.sample() for _ in range(n)],
                                        gym.vector.utils.create_empty_array(space, n))


def onnx_feed(meta: dict, obs) -> dict:
    """The graph's inputs for a batch of observations, found by the paths the metadata lists."""
    feed = {}
    for entry in json.loads(meta["inputs"]):
        leaf = obs
        for key in entry["path"]:
            leaf = leaf[key]
        feed[entry["name"]] = np.asarray(leaf, entry["dtype"])
    return feed


# DictPixels exports a CNN: ~27 s at load 12, the others 3-4 s.
@pytest.mark.parametrize("env_id", [pytest.param(e, marks=pytest.mark.slow) if e == "DictPixels-v0" else e
                                    for e in SPACE_INPUTS])
def test_onnx_actions_equal_predict_on_every_space(env_id, space_agents, tmp_path):
    agent = space_agents(env_id)
    result = export(agent, tmp_path / "policy.onnx", samples=128)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    assert [i.name for i in session.get_inputs()] == SPACE_INPUTS[env_id]
    assert [i["name"] for i in json.loads(meta["inputs"])] == SPACE_INPUTS[env_id]
    obs = sampled_batch(agent.observation_space, 300, seed=7)
    feed = onnx_feed(meta, obs)
    for graph_input in session.get_inputs():  # each in its leaf's own dtype (uint8 pixels, int64 categories)
        value = feed[graph_input.name]
        onnx_type = {"float32": "float", "float64": "double"}.get(value.dtype.name, value.dtype.name)
        assert graph_input.type == f"tensor({onnx_type})" and graph_input.shape[1:] == list(value.shape[1:])
    expected = agent.predict(obs)
    for n in (1, 300):  # the batch axis is dynamic
        (actions,) = session.run(["action"], {k: v[:n] for k, v in feed.items()})
        assert actions.dtype == expected.dtype and actions.shape == expected[:n].shape
        if isinstance(agent.action_space, gym.spaces.Box):
            np.testing.assert_allclose(actions, expected[:n], rtol=1e-5, atol=1e-5)
        else:
            np.testing.assert_array_equal(actions, expected[:n])
    assert all(agent.action_space.contains(a) for a in actions)
    assert len(np.unique(actions.reshape(300, -1), axis=0)) > 2  # the actions depend on the observation
    if isinstance(agent.action_space, gym.spaces.Box):  # the clipping was exercised
        assert (np.abs(actions) == 1.0).any() and (np.abs(actions) < 1.0).any()


def test_the_readme_feeds_a_dict_observation(space_agents, tmp_path):
    agent = space_agents("DictCue-v0")
    session = ort.InferenceSession(str(export(agent, tmp_path / "policy.onnx", samples=64).path),
                                   providers=["CPUExecutionProvider"])
    snippet = readme_snippet("feed =")
    env = agent.make_env()
    obs, _ = env.reset(seed=3)
    actions = []
    for _ in range(30):
        scope = {"np": np, "policy": session, "obs": obs}
        exec(snippet, scope)
        assert scope["action"] == agent.predict(obs)
        actions.append(int(scope["action"]))
        obs, *_ = env.step(scope["action"])
    assert len(set(actions)) == 3


# DictPixels trains and exports a CNN: ~23 s at load 11, the others 3-5 s.
@pytest.mark.parametrize("env_id", ["MultiDiscreteMatch-v0", "BitFlip-v0", pytest.param("DictPixels-v0", marks=pytest.mark.slow),
                                    "NestedStarts-v0"])
def test_stochastic_params_of_every_space(env_id, space_agents, tmp_path):
    agent = space_agents(env_id)
    result = export(agent, tmp_path / "params.onnx", stochastic_params=True, samples=64)
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    obs = sampled_batch(agent.observation_space, 200, seed=8)
    got = dict(zip([o.name for o in session.get_outputs()],
                   session.run(None, onnx_feed(session.get_modelmeta().custom_metadata_map, obs)), strict=True))
    params = agent.policy_params(obs)
    params = [p.detach().numpy() for p in (params if isinstance(params, tuple) else (params,))]
    space = agent.action_space
    if isinstance(space, gym.spaces.MultiDiscrete):  # one categorical's logits per dimension, row-major
        (logits,) = params
        cuts = np.cumsum([0, *space.nvec.reshape(-1)])
        assert cuts[-1] == logits.shape[1] and len(cuts) == (4 if env_id == "MultiDiscreteMatch-v0" else 3)
        want = {f"logits.{i}": logits[:, a:b] for i, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True))}
    elif isinstance(space, gym.spaces.MultiBinary):  # a Bernoulli's logit per bit
        want = {"logits": params[0]}
    else:  # the Gaussian in the action's (2, 2) shape
        want = {"mean": params[0].reshape(-1, 2, 2), "log_std": params[1].reshape(-1, 2, 2)}
    assert list(got) == list(want)
    for name in want:
        assert got[name].shape == want[name].shape, name
        np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)


def test_a_graph_that_flattens_the_parts_in_another_order_is_caught(space_agents, tmp_path, monkeypatch):
    agent = space_agents("DictCue-v0")

    def swapped(self, *leaves):  # the Box parts before the categorical one: same width, wrong columns
        columns = self.columns(list(leaves))
        return torch.cat(columns[1:] + columns[:1], 1)

    monkeypatch.setattr(ObservationInput, "forward", swapped)
    with pytest.raises(WorkFailed, match="disagrees with the agent on .*no file was written"):
        export(agent, tmp_path / "policy.onnx", samples=64)
    assert list(tmp_path.iterdir()) == []


def test_clashing_input_names_are_refused_in_one_sentence():
    space = gym.spaces.Dict({"a": gym.spaces.Dict({"b": gym.spaces.Discrete(2)}), "a.b": gym.spaces.Discrete(2)})
    with pytest.raises(LandersError, match=r"clashing names \['obs.a.b', 'obs.a.b'\]; rename the Dict keys"):
        ObservationInput(ObsLayout(space), None)


@pytest.mark.slow  # three trainings and exports: ~18 s at load 11
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
    with pytest.raises(WorkFailed, match="disagrees with the agent on .*no file was written"):
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


def readme_snippet(containing: str = "import onnxruntime") -> str:
    """The export guide's Python example containing `containing` (by default the one that plays an
    episode with gymnasium and onnxruntime only)."""
    blocks = re.findall(r"```python\n(.*?)```", README.read_text(), re.S)
    (snippet,) = [b for b in blocks if containing in b]
    return snippet


@pytest.mark.slow  # a landers process exporting 4,096 checks: ~17 s at load 12
def test_the_readme_example_plays_cartpole_like_predict_without_torch(cartpole_run, tmp_path):
    result = landers_cli("export", str(cartpole_run), "--out", str(tmp_path / "policy.onnx"))
    assert result.returncode == 0, result.stderr
    assert "matched the agent on 4,096 observations" in result.stdout
    assert "inputs: obs (float32, shape [4])" in result.stdout
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
    assert_one_sentence_error(landers_in_process("export", str(run), "--out", str(tmp_path / "file" / "policy.onnx")),
                              "Cannot write", "not a directory")
    assert_one_sentence_error(landers_in_process("export", str(run), "--out", str(tmp_path)), "is a directory")

    foreign = tmp_path / "sb3_model"
    foreign.mkdir()
    (foreign / "policy.pth").write_bytes(b"\x80\x04 not ours")
    assert_one_sentence_error(landers_in_process("export", str(foreign), "--out", str(tmp_path / "b.onnx")),
                              "No complete checkpoint")

    for ckpt in ("last", "best"):  # corrupt both copies: nothing usable is left
        tensors = run / "checkpoints" / ckpt / "tensors.safetensors"
        tensors.write_bytes(tensors.read_bytes()[:-100])
    assert_one_sentence_error(landers_in_process("export", str(run), "--out", str(tmp_path / "c.onnx")), "corrupt")
    assert not list(tmp_path.glob("*.onnx")) and not list(tmp_path.glob(".*partial"))


def test_commands_start_without_the_heavy_imports():
    code = ("import sys, landers.cli, landers.policy.agent; "
            "print([m for m in ('onnx', 'onnxruntime', 'onnxscript', 'pygame') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
