import gymnasium as gym
import numpy as np
import pytest
import torch

import landers
from landers.run.rundir import resume
from landers.algos import reinforce, trpo
from landers.policy.networks import ActorCritic
from conftest import landers_cli

ALGOS = ["ppo", "a2c", "trpo", "reinforce", "random"]
TINY = {"ppo": dict(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2),
        "a2c": dict(num_envs=4, num_steps=5), "trpo": dict(num_envs=4, num_steps=32, vf_epochs=2),
        "reinforce": dict(num_envs=4, num_steps=16), "random": dict(num_envs=4, num_steps=16)}


@pytest.mark.parametrize("algo", ALGOS)
@pytest.mark.parametrize("env_id", ["CartPole-v1", "LunarLanderContinuous-v3"])
def test_checkpoint_round_trip_and_resume(algo, env_id, tmp_path):
    run = landers.train(algo, env_id, steps=640, seed=2, run_dir=tmp_path / "run", backend="gymnasium",
                        eval_every=320, eval_episodes=2, final_eval_episodes=2, **TINY[algo])
    agent = landers.load(run.run_dir)
    obs = np.random.default_rng(0).normal(size=(5, *agent.observation_space.shape)).astype(np.float32)
    if algo != "random":  # the random policy's "deterministic" action is still random
        np.testing.assert_array_equal(agent.predict(obs), run.agent.predict(obs))
        for a, b in zip(agent.model.parameters(), run.agent.model.parameters(), strict=True):
            assert torch.equal(a, b)
    actions = agent.predict(obs)
    assert all(agent.action_space.contains(a) for a in actions)
    resumed = resume(run.run_dir, steps=1280, quiet=True)
    assert resumed.global_step >= 1280


@pytest.mark.slow  # two landers processes per algorithm: ~22-36 s each at load 12
@pytest.mark.parametrize("algo", ALGOS)
def test_cli_smoke(algo, tmp_path):
    result = landers_cli("train", algo, "CartPole-v1", "--steps", "300", "--quiet", "--run-dir", str(tmp_path / "r"),
                         "--set", "final_eval_episodes=2", "--envs", "4")
    assert result.returncode == 0, result.stderr
    assert "eval" in result.stdout.strip().splitlines()[-1]
    result = landers_cli("eval", str(tmp_path / "r"), "--episodes", "2", "--json")
    assert result.returncode == 0, result.stderr


def test_conjugate_gradient_solves_a_known_system():
    g = torch.Generator().manual_seed(0)
    m = torch.randn(6, 6, generator=g, dtype=torch.float64)
    a = m @ m.T + 6 * torch.eye(6, dtype=torch.float64)
    x_true = torch.randn(6, generator=g, dtype=torch.float64)
    x = trpo.conjugate_gradient(lambda v: a @ v, a @ x_true, iters=20)
    torch.testing.assert_close(x, x_true)


@pytest.mark.parametrize("space", [gym.spaces.Discrete(4), gym.spaces.Box(-1, 1, (2,))])
@pytest.mark.parametrize("max_kl", [0.001, 0.01])
def test_trpo_step_respects_the_kl_limit_and_improves(space, max_kl):
    torch.manual_seed(0)
    model = ActorCritic(3, space, (32,))
    obs = torch.randn(256, 3)
    with torch.no_grad():
        actions, _, _ = model.act(obs)
        old = model.policy_params(obs)
    advantages = torch.randn(256) * 3
    cfg = trpo.TRPOConfig(max_kl=max_kl)
    metrics = trpo.policy_step(model, obs, actions, advantages, cfg)
    with torch.no_grad():
        kl = model.dist.kl(old, model.policy_params(obs)).mean().item()
    assert 0 < kl <= max_kl and metrics["kl"] == pytest.approx(kl)
    assert metrics["improvement"] > 0
    # the full natural-gradient step is scaled to the boundary: the step reaches a good share of it
    assert kl > 0.2 * max_kl


@pytest.mark.parametrize("space", [gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,))])
def test_kl_matches_torch_distributions(space):
    model = ActorCritic(3, space, (8,), init_log_std=-0.5)
    obs = torch.randn(10, 3)
    p = model.policy_params(obs)
    with torch.no_grad():
        for param in model.parameters():
            param.add_(0.3 * torch.randn_like(param))
    q = model.policy_params(obs)
    if isinstance(space, gym.spaces.Discrete):
        ref = torch.distributions.kl_divergence(torch.distributions.Categorical(logits=p),
                                                torch.distributions.Categorical(logits=q))
    else:
        ref = torch.distributions.kl_divergence(torch.distributions.Normal(p[0], p[1].exp()),
                                                torch.distributions.Normal(q[0], q[1].exp())).sum(-1)
    torch.testing.assert_close(model.dist.kl(p, q), ref)


def test_reinforce_gradient_matches_analytic_policy_gradient_on_a_bandit():
    """One state, three arms with fixed rewards: J = sum_a pi_a r_a, and dJ/dlogits = pi * (r - J).
    The REINFORCE estimator (no baseline, no normalization) averaged over many samples must match."""
    torch.manual_seed(0)
    model = ActorCritic(1, gym.spaces.Discrete(3), (4,))
    with torch.no_grad():
        model.actor_head.bias.copy_(torch.tensor([0.5, -0.2, 0.1]))
    rewards = torch.tensor([1.0, 2.0, 5.0])
    n = 200_000
    obs = torch.ones(n, 1)
    with torch.no_grad():
        actions = model.dist.sample(model.policy_params(obs))
    cfg = reinforce.ReinforceConfig(baseline=False, norm_returns=False)
    loss, _ = reinforce.reinforce_loss(model, obs, actions, rewards[actions], rewards[actions], cfg)
    (grad,) = torch.autograd.grad(-loss, model.actor_head.bias)
    with torch.no_grad():
        pi = torch.softmax(model.policy_params(obs[:1])[0], -1)
    analytic = pi * (rewards - (pi * rewards).sum())
    torch.testing.assert_close(grad, analytic, atol=0.02, rtol=0.05)
    # and a wrong estimator (reward not tied to the sampled action) does not match
    shuffled = rewards[actions][torch.randperm(n)]
    loss, _ = reinforce.reinforce_loss(model, obs, actions, shuffled, shuffled, cfg)
    (wrong,) = torch.autograd.grad(-loss, model.actor_head.bias)
    assert not torch.allclose(wrong, analytic, atol=0.02, rtol=0.05)


def test_reinforce_trains_on_whole_episodes_only(tmp_path):
    from landers.envs import VecEnv
    from landers.core.rollout import Collector

    envs = VecEnv("CartPole-v1", 3, 0, "gymnasium")
    collector = Collector(envs, 8, torch.device("cpu"))
    model = ActorCritic(4, envs.single_action_space, (8,))
    rollout = collector.collect_episodes(model, 100)
    valid = rollout.valid[:, 0]
    ends = (rollout.terminated | rollout.truncated)[:, 0]
    # every episode ends with a done step followed by its invalid final-observation row
    assert valid.sum() >= 100 and ends.sum() == (~valid).sum()
    assert torch.equal(ends.nonzero().squeeze(1) + 1, (~valid).nonzero().squeeze(1))
    assert valid.sum().item() == sum(e.length for e in collector.episodes)
    envs.close()


def test_reinforce_never_trains_on_an_episode_begun_by_an_older_policy():
    from landers.envs import VecEnv
    from landers.core.rollout import Collector

    class Constant(torch.nn.Module):  # always the same action: it marks which policy played a step
        def __init__(self, action):
            super().__init__()
            self.action = action

        def act(self, obs):
            z = torch.zeros(len(obs))
            return torch.full((len(obs),), self.action), z, z

        def value(self, obs):
            return torch.zeros(len(obs))

    envs = VecEnv("CartPole-v1", 4, 0, "gymnasium")
    collector = Collector(envs, 8, torch.device("cpu"))
    first = collector.collect_episodes(Constant(0), 30)
    assert set(first.actions[first.valid].tolist()) == {0}
    assert any(collector._open)  # some episodes were still running when the first call returned
    second = collector.collect_episodes(Constant(1), 30)
    assert set(second.actions[second.valid].tolist()) == {1}
    assert collector.stale_steps > 0  # those episodes were played out, then dropped
    envs.close()
