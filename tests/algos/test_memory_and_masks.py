"""Issue 23: recurrent policies (rnn=lstm|gru) and action masks, everywhere a policy goes."""

import json

import gymnasium as gym
import numpy as np
import pytest
import torch

import fake_envs  # noqa: F401  registers CueMemory-v0 and Doors-v0
import landers
from landers.algos import ppo
from landers.core.advantages import gae
from landers.core.buffer import evaluate_batch
from landers.core.rollout import Collector
from landers.envs import SplitVecEnv, make_vec_env
from landers.errors import EnvCrashed, LandersError
from landers.policy.networks import build_model
from landers.run.rundir import resume

TINY = dict(num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2, final_eval_episodes=4,
            eval_every=10**9, eval_episodes=2)


def recurrent_rollout(rnn: str, env_id: str = "CartPole-v1", env_kwargs=None, split: bool = False, seed: int = 0):
    torch.manual_seed(seed)
    cfg = ppo.PPOConfig(num_envs=4, num_steps=64, num_minibatches=2, rnn=rnn, rnn_size=16, lr=1e-30, anneal_lr=False)
    source = landers.envs.source.EnvSource(env_id, env_kwargs or {})
    envs = SplitVecEnv(source, 4, seed, "gymnasium") if split else make_vec_env(source, 4, seed, "gymnasium")
    model = build_model(cfg, envs.single_observation_space, envs.single_action_space)
    collector = Collector(envs, num_steps=64, device=torch.device("cpu"))
    rollout = collector.collect(model)
    envs.close()
    return cfg, model, rollout


@pytest.mark.parametrize("rnn, env_id, env_kwargs", [
    ("lstm", "CartPole-v1", None), ("gru", "CartPole-v1", None), ("gru", "Doors-v0", {"via": "info", "multi": True})])
def test_the_update_replays_the_rollouts_log_probs_from_the_states_it_saw(rnn, env_id, env_kwargs, monkeypatch):
    """On its first epoch (lr ~ 0: the parameters stay put) the update recomputes every valid
    step's log-probability exactly as the rollout recorded it, episode boundaries included."""
    cfg, model, rollout = recurrent_rollout(rnn, env_id, env_kwargs)
    assert rollout.starts[1:].any(), "the rollout should hold episode starts after its first step"
    # An episode starts after each autoreset row, whose final observation's value (the truncation
    # bootstrap) is computed with the episode's own state, not a fresh one.
    assert torch.equal(rollout.starts[1:], ~rollout.valid[:-1])
    seen = []
    real = ppo.evaluate_batch

    def spy(model, batch):
        params, values = real(model, batch)
        if len(seen) < cfg.num_minibatches:
            seen.append((model.dist.log_prob(params, batch.rows().actions).detach(), batch.rows().logp))
        return params, values

    monkeypatch.setattr(ppo, "evaluate_batch", spy)
    ppo.update(model, torch.optim.Adam(model.parameters(), lr=1e-30), rollout, cfg, 0.0)
    assert len(seen) == cfg.num_minibatches
    assert sum(len(got) for got, _ in seen) == int(rollout.valid.sum())
    for got, recorded in seen:
        assert (got - recorded).abs().max().item() < 1e-5


def test_replaying_from_zero_states_instead_would_fail_the_comparison():
    """The comparison above can fail: ignore the stored states and resets, and it does."""
    _, model, rollout = recurrent_rollout("gru")
    advantages, returns = gae(rollout.rewards, rollout.values, rollout.next_values, rollout.terminated,
                              rollout.truncated, 0.99, 0.95)
    batch = rollout.batch(advantages, returns)
    params, _ = evaluate_batch(model, batch._replace(starts=torch.zeros_like(batch.starts)))
    # Far outside the 1e-5 the comparison allows (an untrained policy's logits move little).
    assert (model.dist.log_prob(params, batch.rows().actions) - batch.rows().logp).abs().max().item() > 1e-4


def test_overlapped_halves_carry_each_envs_state_as_stepping_all_together():
    rollouts = []
    for split in (False, True):
        torch.manual_seed(0)
        cfg = ppo.PPOConfig(num_envs=4, num_minibatches=4, rnn="gru", rnn_size=8)
        envs = SplitVecEnv("CartPole-v1", 4, 3, "gymnasium") if split else make_vec_env("CartPole-v1", 4, 3, "gymnasium")
        model = build_model(cfg, envs.single_observation_space, envs.single_action_space)
        # The same actions on both paths, whatever the sampling.
        model.act = lambda obs, state, starts, mask=None, m=model: type(m).act(m, obs, state, starts, True, mask)
        rollouts.append(Collector(envs, num_steps=60, device=torch.device("cpu")).collect(model))
        envs.close()
    for name in ("obs", "actions", "starts", "valid", "state"):
        assert torch.equal(getattr(rollouts[0], name), getattr(rollouts[1], name)), name
    torch.testing.assert_close(rollouts[0].logp, rollouts[1].logp)


@pytest.mark.parametrize("space", [gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
                                   gym.spaces.Dict({"x": gym.spaces.Box(-1, 1, (3,)), "k": gym.spaces.Discrete(5)})])
def test_the_recurrent_core_sits_above_the_cnn_and_the_dict_encoder(space):
    from landers.policy.spaces import ObsLayout

    layout = ObsLayout(space)
    model = build_model(ppo.PPOConfig(rnn="lstm", rnn_size=8), space, gym.spaces.Discrete(3))
    assert model.encoder is not None and model.state_size == 32
    obs = torch.as_tensor(layout.flatten(space.sample() if layout.image else
                                         {k: np.asarray([v]) for k, v in space.sample().items()}))
    obs = obs[None].expand(5, *obs.shape[-len(layout.shape):]) if layout.image else obs.expand(5, -1)
    actions, logp, values, state = model.act(obs, model.initial_state(5), torch.ones(5, dtype=torch.bool))
    assert actions.shape == (5,) and state.shape == (5, 32)
    params, values = model.unroll(obs.reshape(1, 5, *obs.shape[1:]), model.initial_state(5), torch.ones(1, 5, dtype=torch.bool))
    torch.testing.assert_close(model.dist.log_prob(params, actions), logp)


def test_recurrent_predict_carries_state_and_refuses_a_call_without_it(tmp_path):
    run = landers.train("ppo", "CartPole-v1", steps=256, seed=0, run_dir=tmp_path / "run", quiet=True,
                        rnn="lstm", rnn_size=8, **TINY)
    agent = landers.load(run.run_dir)
    obs = np.zeros(4, np.float32)
    with pytest.raises(LandersError, match=r"call action, state = agent.predict\(obs, state=state\)"):
        agent.predict(obs)
    action, state = agent.predict(obs, state=None)
    assert action in (0, 1) and state.shape == (32,) and np.abs(state).sum() > 0  # two LSTMs' h and c
    np.testing.assert_array_equal(agent.initial_state(), np.zeros(32, np.float32))
    # A batch with a batch of states is each row on its own.
    batch_obs = np.random.default_rng(0).normal(size=(3, 4)).astype(np.float32)
    states = np.random.default_rng(1).normal(size=(3, 32)).astype(np.float32)
    actions, new_states = agent.predict(batch_obs, state=states)
    for i in range(3):
        a, s = agent.predict(batch_obs[i], state=states[i])
        assert a == actions[i]
        np.testing.assert_allclose(s, new_states[i], rtol=1e-5, atol=1e-6)
    # the state matters: the same observation after another history gives another state
    assert not np.allclose(agent.predict(obs, state=state)[1], state)
    assert landers.evaluate(agent, episodes=3, backend="gymnasium").returns


def test_recurrent_run_resumes_mid_training_and_keeps_its_network(tmp_path):
    run = landers.train("a2c", "CartPole-v1", steps=200, seed=0, run_dir=tmp_path / "run", quiet=True,
                        rnn="gru", rnn_size=8, num_envs=4, num_steps=5, final_eval_episodes=2, eval_every=100,
                        norm_obs=True, norm_reward=True)
    state = json.loads((run.run_dir / "checkpoints" / "last" / "state.json").read_text())
    assert state["run"]["hparams"]["rnn"] == "gru"
    resumed = resume(run.run_dir, steps=400, quiet=True)
    assert resumed.global_step >= 400 and resumed.agent.recurrent
    with pytest.raises(LandersError, match="rnn cannot change when resuming"):
        resume(run.run_dir, steps=600, quiet=True, overrides={"rnn": "lstm"})
    assert not list(run.run_dir.rglob("*.pkl")) and not list(run.run_dir.rglob("*.pt"))


@pytest.mark.parametrize("split", [False, True])
def test_a_resumed_recurrent_run_begins_fresh_episodes_from_zero_states(split, tmp_path):
    """The envs' internal state cannot be checkpointed, so a resume resets them with new seeds
    (the run's seed + the steps done); the recurrent state then starts at zeros with every env
    at an episode's start, as a new run's does: no episode goes on without the state it had.
    So the checkpoint holds no collector state (nothing to lose), only the network."""
    from landers.run.spec import read_config
    from landers.run.trainer import Trainer

    run = landers.train("ppo", "CartPole-v1", steps=256, seed=3, run_dir=tmp_path / "run", quiet=True,
                        rnn="lstm", rnn_size=8, backend="gymnasium", overlap=split, **TINY)
    spec, _ = read_config(run.run_dir / "config.json")
    trainer = Trainer(spec, run.run_dir, from_checkpoint="last", quiet=True)
    try:
        assert isinstance(trainer.envs, SplitVecEnv) == split
        rollout, _ = trainer.collect()
    finally:
        trainer.close()
    assert rollout.state.shape == (4, 2 * 2 * 8) and not rollout.state.any()  # two LSTM cores' h and c
    assert rollout.starts[0].all() and torch.equal(rollout.starts[1:], ~rollout.valid[:-1])
    fresh = make_vec_env(spec.env, 4, spec.seed + run.global_step, "gymnasium")
    np.testing.assert_array_equal(rollout.obs[0].numpy(), fresh.reset())
    fresh.close()
    # The resumed first step acts as the checkpoint's network does from a zero state.
    model = trainer.state.model
    params, _, _ = model.step(rollout.obs[0], torch.zeros(4, model.state_size))
    assert torch.allclose(model.dist.log_prob(params, rollout.actions[0]), rollout.logp[0], atol=1e-6)


@pytest.mark.parametrize("algo", ["trpo", "reinforce"])
def test_trpo_and_reinforce_refuse_memory_and_masks_in_one_sentence(algo, tmp_path):
    with pytest.raises(LandersError, match="has no recurrent policies"):
        landers.train(algo, "CartPole-v1", steps=256, run_dir=tmp_path / "a", quiet=True, rnn="gru")
    with pytest.raises(LandersError, match=f"offers an action mask, which {algo} does not apply"):
        landers.train(algo, "Doors-v0", steps=256, run_dir=tmp_path / "b", quiet=True, num_envs=2, num_steps=32)


# ---------------------------------------------------------------- masks


@pytest.mark.parametrize("via, multi, algo, rnn", [
    ("obs", False, "ppo", None), ("info", True, "ppo", None), ("method", False, "a2c", None),
    ("method", True, "ppo", "gru"), ("obs", False, "random", None)])
def test_an_env_that_raises_on_illegal_actions_trains_evaluates_records_and_exports(via, multi, algo, rnn, tmp_path):
    """Doors raises on a closed door: no command may ever pick one."""
    pytest.importorskip("onnxruntime")
    from landers.export.onnx_export import export
    from landers.see.video import record

    settings = dict(num_envs=4, num_steps=32) if algo == "random" else dict(TINY)
    if algo == "a2c":
        settings.update(num_steps=8)
        settings.pop("num_minibatches"), settings.pop("update_epochs")
    if rnn:
        settings.update(rnn=rnn, rnn_size=8)
    run = landers.train(algo, "Doors-v0", env_kwargs={"via": via, "multi": multi}, steps=512, seed=1,
                        run_dir=tmp_path / "run", quiet=True, **settings)
    assert run.random_eval.mean > 0 and len(run.eval.returns) >= 1
    agent = landers.load(run.run_dir)
    assert agent.mask_source == via
    assert landers.evaluate(agent, episodes=3, deterministic=False).returns
    assert record(agent, tmp_path / "v.gif", episodes=1, deterministic=False)["frames"] == 21
    if algo != "random":
        result = export(agent, tmp_path / "policy.onnx", samples=64)
        inputs = [i["name"] for i in json.loads(result.metadata["inputs"])]
        assert ("obs.action_mask" if via == "obs" else "action_mask") in inputs
        assert ("state_in" in inputs) == bool(rnn)


def test_predict_never_picks_a_masked_action_and_refuses_an_empty_mask(tmp_path):
    run = landers.train("ppo", "Doors-v0", env_kwargs={"via": "info"}, steps=256, seed=0, run_dir=tmp_path / "run",
                        quiet=True, **TINY)
    agent = landers.load(run.run_dir)
    rng = np.random.default_rng(0)
    obs = rng.random((200, 8)).astype(np.float32)
    masks = rng.random((200, 8)) < 0.3
    masks[np.arange(200), rng.integers(8, size=200)] = True
    for deterministic in (True, False):
        actions = agent.predict(obs, deterministic, action_mask=masks)
        assert masks[np.arange(200), actions].all()
    unmasked = agent.predict(obs)
    assert not masks[np.arange(200), unmasked].all()  # without the mask some pick a forbidden action
    with pytest.raises(LandersError, match="allows no action"):
        agent.predict(obs[0], action_mask=np.zeros(8, bool))


def test_masked_entropy_is_over_the_allowed_actions_only():
    cfg = ppo.PPOConfig()
    model = build_model(cfg, gym.spaces.Box(-1, 1, (3,)), gym.spaces.Discrete(4))
    mask = torch.tensor([[True, True, False, False]])
    params = model.policy_params(torch.zeros(1, 3), mask)
    probs = torch.softmax(params, -1)
    assert probs[0, 2:].sum().item() == 0.0
    # near-uniform initial policy over two allowed actions: entropy ~ log 2, not log 4
    assert model.dist.entropy(params).item() == pytest.approx(np.log(2), abs=1e-3)


class EmptyMaskDoors(fake_envs.Doors):
    def _draw(self):
        obs, info = super()._draw()
        if self.t == 3:
            info["action_mask"] = np.zeros(8, np.int8)
        return obs, info


gym.register("EmptyMaskDoors-v0", entry_point=lambda: EmptyMaskDoors(via="info"))


def test_a_step_whose_mask_allows_nothing_is_one_sentence_naming_env_and_step(tmp_path):
    with pytest.raises(LandersError, match=r"EmptyMaskDoors-v0 \(env 0\) allowed no action at step 12:"):
        landers.train("ppo", "EmptyMaskDoors-v0", steps=256, run_dir=tmp_path / "run", quiet=True, backend="gymnasium",
                      **TINY)


def test_mask_false_ignores_the_mask_so_the_raising_env_sees_illegal_actions(tmp_path):
    with pytest.raises(EnvCrashed, match="door . is closed"):
        landers.train("ppo", "Doors-v0", steps=512, run_dir=tmp_path / "run", quiet=True, mask=False, **TINY)


# ---------------------------------------------------------------- export over whole episodes


def test_exported_recurrent_graph_stepped_with_its_own_state_matches_predict_over_episodes(tmp_path):
    ort = pytest.importorskip("onnxruntime")
    from landers.export.onnx_export import export

    run = landers.train("ppo", "CueMemory-v0", steps=512, seed=0, run_dir=tmp_path / "run", quiet=True,
                        rnn="lstm", rnn_size=8, **TINY)
    agent = landers.load(run.run_dir)
    export(agent, tmp_path / "p.onnx", samples=64)
    session = ort.InferenceSession(str(tmp_path / "p.onnx"), providers=["CPUExecutionProvider"])
    env = agent.make_env()
    steps = 0
    for episode in range(20):
        obs, _ = env.reset(seed=episode)
        state, graph_state = None, np.zeros((1, 32), np.float32)
        done = False
        while not done:
            action, state = agent.predict(obs, state=state)
            graph_action, graph_state = session.run(["action", "state_out"], {"obs": obs[None], "state_in": graph_state})
            assert int(graph_action[0]) == action
            np.testing.assert_allclose(graph_state[0], state, rtol=1e-5, atol=1e-5)
            obs, _, terminated, truncated, _ = env.step(action)
            done, steps = terminated or truncated, steps + 1
    env.close()
    assert steps == 20 * 4


# ---------------------------------------------------------------- learning


@pytest.mark.learning
@pytest.mark.parametrize("rnn", ["lstm", "gru", None])
def test_a_cue_shown_once_is_remembered_with_memory_and_guessed_without(rnn, tmp_path):
    kw = {"rnn": rnn, "rnn_size": 32} if rnn else {}
    run = landers.train("ppo", "CueMemory-v0", steps=8192, seed=0, run_dir=tmp_path / "run", quiet=True,
                        num_envs=8, num_steps=16, lr=3e-3, num_minibatches=2, update_epochs=4, anneal_lr=False,
                        final_eval_episodes=100, eval_every=10**9, **kw)
    if rnn:
        assert run.eval.mean >= 0.95
    else:
        assert run.eval.mean <= 0.65  # chance is 0.5


class NoVelocity(gym.ObservationWrapper):
    """CartPole showing only the cart's position and the pole's angle: the velocities must be
    inferred from successive observations."""

    def __init__(self, env):
        super().__init__(env)
        low, high = env.observation_space.low[[0, 2]], env.observation_space.high[[0, 2]]
        self.observation_space = gym.spaces.Box(low, high, dtype=np.float32)

    def observation(self, obs):
        return obs[[0, 2]]


def cartpole_without_velocities(**kwargs):
    return NoVelocity(gym.make("CartPole-v1", **kwargs))


@pytest.mark.learning
def test_cartpole_without_velocities_is_learned_far_better_with_memory(tmp_path):
    """Measured at 30k steps: gru 439 / 469 / 340 (seeds 0, 1, 2) against 45 without memory (seed 0)."""
    settings = dict(steps=30_000, seed=0, quiet=True, num_envs=16, num_steps=32, num_minibatches=4, update_epochs=8,
                    lr=1e-3, gamma=0.99, anneal_lr=False, final_eval_episodes=20, eval_every=10**9,
                    backend="gymnasium")
    memory = landers.train("ppo", cartpole_without_velocities, run_dir=tmp_path / "gru", rnn="gru", rnn_size=32,
                           **settings)
    plain = landers.train("ppo", cartpole_without_velocities, run_dir=tmp_path / "plain", **settings)
    assert memory.eval.mean >= 200 and memory.eval.mean >= 3 * plain.eval.mean, (memory.eval, plain.eval)
