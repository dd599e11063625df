"""gSDE (`sde`): the exploration matrices are drawn on their schedule, the action distribution is
the state-dependent Gaussian the losses use, deterministic actions carry no noise, the matrices
survive a checkpoint, and what it cannot do is refused in one sentence."""

import math
import shutil

import gymnasium as gym
import numpy as np
import pytest
import torch

import landers
from conftest import landers_in_process
from landers.algos import default_model
from landers.algos.ppo import PPOConfig
from landers.core import checkpoint
from landers.core.rollout import Collector
from landers.envs import SplitVecEnv, make_vec_env
from landers.errors import LandersError
from landers.policy.sde import VARIANCE_EPS, ExplorationNoise, SDEActorCritic, build_sde_model
from landers.run.rundir import resume
from landers.run.spec import read_config
from landers.run.trainer import Trainer
from test_cli import assert_one_sentence_error

PENDULUM = gym.make("Pendulum-v1")
# anneal_lr off: a run of 64 steps and one of 96 then take the same first two updates.
# norm_obs off: the tests feed the model raw observations, as the agent does without a normalizer.
TINY_SDE = dict(sde=True, num_envs=2, num_steps=16, num_minibatches=2, update_epochs=2, anneal_lr=False, norm_obs=False)


def sde_model(hidden=(64, 64), init_log_std=-1.0, seed=0) -> SDEActorCritic:
    torch.manual_seed(seed)
    cfg = PPOConfig(sde=True, hidden_sizes=hidden, init_log_std=init_log_std)
    return build_sde_model(cfg, PENDULUM.observation_space, PENDULUM.action_space)


def mean_and_features(model: SDEActorCritic, obs: torch.Tensor):
    """The policy's mean `(B, A)` and its last hidden layer `(B, F)`, computed here from the layers."""
    features = model.actor_body(obs)
    return model.actor_head(features), features


def residual_of_one_matrix(features: torch.Tensor, noise: torch.Tensor) -> float:
    """How far `noise` `(n, A)` is from `features` `(n, F)` @ E for the best single E (least squares)."""
    solution = torch.linalg.lstsq(features.double(), noise.double()).solution
    return float((features.double() @ solution - noise.double()).abs().max())


@pytest.mark.parametrize("sample_freq, split", [(4, False), (-1, False), (4, True)])
def test_the_noise_is_redrawn_exactly_on_its_schedule(sample_freq, split):
    """An env's noise (action - mean) is its features times one matrix for `sample_freq` steps
    (a whole rollout for -1) and another after, also where the envs step in two halves (`overlap`);
    two features make a matrix checkable from a few steps."""
    model = sde_model(hidden=(2,))
    envs = (SplitVecEnv if split else make_vec_env)("Pendulum-v1", 4, 0, "gymnasium")
    noise = ExplorationNoise(model, 4, sample_freq)
    collector = Collector(envs, num_steps=12, device=torch.device("cpu"), noise=noise)
    try:
        rollouts = [collector.collect(model) for _ in range(2)]
    finally:
        envs.close()
    period = 12 if sample_freq == -1 else sample_freq
    with torch.no_grad():
        for rollout in rollouts:
            mean, features = mean_and_features(model, rollout.obs)
            residual = rollout.actions - mean  # (T, N, 1)
            for env in range(4):
                blocks = [slice(start, start + period) for start in range(0, 12, period)]
                for block in blocks:  # one matrix per block
                    assert residual_of_one_matrix(features[block, env], residual[block, env]) < 1e-5
                for a, b in zip(blocks, blocks[1:], strict=False):  # a new one after it
                    both = torch.cat([features[a, env], features[b, env]]), torch.cat([residual[a, env], residual[b, env]])
                    assert residual_of_one_matrix(*both) > 1e-3
        # The last block's matrices are the ones the collector holds.
        assert torch.allclose(torch.einsum("nf,nfa->na", features[-1], noise.matrices), residual[-1], atol=1e-5)
        # The second rollout began with new ones: env 0's last block of the first and first block of the second.
        (mean0, features0), (mean1, features1) = (mean_and_features(model, r.obs) for r in rollouts)
        last, first = slice(12 - period, 12), slice(0, period)
        both = (torch.cat([features0[last, 0], features1[first, 0]]),
                torch.cat([(rollouts[0].actions - mean0)[last, 0], (rollouts[1].actions - mean1)[first, 0]]))
        assert residual_of_one_matrix(*both) > 1e-3


def test_the_log_prob_is_a_normal_with_the_state_dependent_std():
    model = sde_model(init_log_std=-0.5)
    with torch.no_grad():
        model.sde_log_std.normal_(-1.0, 0.3)  # different sigmas per entry
    obs = torch.as_tensor(np.stack([PENDULUM.observation_space.sample() for _ in range(32)]))
    actions = torch.randn(32, 1)
    with torch.no_grad():
        mean, features = mean_and_features(model, obs)
    std = (features.pow(2) @ model.sde_log_std.exp().pow(2) + VARIANCE_EPS).sqrt()
    normal = torch.distributions.Normal(mean, std)
    params = model.policy_params(obs)
    torch.testing.assert_close(model.dist.log_prob(params, actions), normal.log_prob(actions).sum(-1))
    torch.testing.assert_close(model.dist.entropy(params), normal.entropy().sum(-1))
    # The actions the matrices make have that distribution: their variance over many draws is std^2.
    noise = torch.einsum("f,nfa->na", features[0], model.exploration_matrices(20000))
    assert math.isclose(float(noise.var()), float(std[0, 0].detach() ** 2), rel_tol=0.05)


def test_the_std_does_not_train_the_features():
    """The features enter the std detached (the paper's default): the std's gradient reaches
    sigma, not the actor's layers."""
    model = sde_model()
    features = torch.rand(8, 64, requires_grad=True)
    model.state_log_std(features).sum().backward()
    assert features.grad is None
    assert model.sde_log_std.grad is not None and model.sde_log_std.grad.abs().sum() > 0


def test_deterministic_actions_carry_no_noise():
    model = sde_model(init_log_std=0.0)
    obs = torch.as_tensor(np.stack([PENDULUM.observation_space.sample() for _ in range(16)]))
    noise = model.exploration_matrices(16)
    with torch.no_grad():
        mean, _ = mean_and_features(model, obs)
        deterministic, _, _ = model.act(obs, deterministic=True, noise=noise)
        explored, _, _ = model.act(obs, noise=noise)
    torch.testing.assert_close(deterministic, mean)
    assert (explored - mean).abs().min() > 1e-4


@pytest.fixture(scope="module")
def sde_run(tmp_path_factory):
    """Two updates of PPO with gSDE on Pendulum, saved."""
    run_dir = tmp_path_factory.mktemp("sde") / "run"
    landers.train("ppo", "Pendulum-v1", steps=64, seed=5, run_dir=run_dir, backend="gymnasium", eval_every=10**9,
                  final_eval_episodes=1, quiet=True, **TINY_SDE)
    return run_dir


def test_a_saved_agent_acts_with_the_mean(sde_run):
    agent = landers.load(sde_run)
    assert isinstance(agent.model, SDEActorCritic)
    obs = np.stack([PENDULUM.observation_space.sample() for _ in range(16)])
    with torch.no_grad():
        mean, _ = mean_and_features(agent.model, torch.as_tensor(obs))
    np.testing.assert_allclose(agent.predict(obs), np.clip(mean.numpy(), -2, 2), atol=1e-6)
    assert not np.allclose(agent.predict(obs, deterministic=False), agent.predict(obs))


def test_the_checkpoint_keeps_the_matrices_and_a_resumed_run_draws_the_uninterrupted_runs(sde_run, tmp_path):
    tensors, _ = checkpoint.read(sde_run / "checkpoints" / "last")
    matrices = tensors["sde.matrices"]
    assert matrices.shape == (2, 64, 1) and matrices.abs().sum() > 0
    spec, _ = read_config(sde_run / "config.json")
    trainer = Trainer(spec, sde_run, from_checkpoint="last", quiet=True)
    try:
        assert torch.equal(trainer.state.noise.matrices, matrices)
    finally:
        trainer.close()
    # The run that went on without stopping drew the same matrices for its third rollout
    # (sde_sample_freq -1: one draw per rollout, the one the checkpoint then holds).
    straight = tmp_path / "straight"
    landers.train("ppo", "Pendulum-v1", steps=96, seed=5, run_dir=straight, backend="gymnasium", eval_every=10**9,
                  final_eval_episodes=1, quiet=True, **TINY_SDE)
    resumed = tmp_path / "resumed"
    shutil.copytree(sde_run, resumed)
    resume(resumed, steps=96, quiet=True)
    third = [checkpoint.read(run / "checkpoints" / "last")[0]["sde.matrices"] for run in (straight, resumed)]
    assert torch.equal(third[0], third[1]) and not torch.equal(third[0], matrices)


def test_sde_on_discrete_actions_is_refused_in_one_sentence(tmp_path):
    result = landers_in_process("train", "ppo", "CartPole-v1", "--set", "sde=true", "--steps", "64",
                                "--run-dir", str(tmp_path / "run"))
    assert_one_sentence_error(result, "continuous Box actions")
    assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("changes, words", [
    (dict(sde=True, rnn="gru"), "recurrent policy"),
    (dict(sde=True, sde_sample_freq=0), "must be -1"),
])
def test_settings_sde_cannot_take_are_refused_in_one_sentence(changes, words):
    with pytest.raises(LandersError, match=words):
        PPOConfig(**changes)


def test_sde_on_pixels_is_refused_in_one_sentence():
    pixels = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    with pytest.raises(LandersError, match="image observations"):
        build_sde_model(PPOConfig(sde=True), pixels, PENDULUM.action_space)


@pytest.mark.parametrize("algo", ["a2c", "trpo", "reinforce"])
def test_every_learner_trains_with_sde(algo, tmp_path):
    run = landers.train(algo, "Pendulum-v1", steps=64, seed=1, run_dir=tmp_path / algo, backend="gymnasium",
                        sde=True, sde_sample_freq=4, num_envs=2, num_steps=16, eval_every=10**9,
                        final_eval_episodes=1, quiet=True)
    assert isinstance(run.agent.model, SDEActorCritic) and run.global_step >= 64


def test_an_sde_policy_exports_its_mean_and_state_dependent_std(sde_run, tmp_path):
    ort = pytest.importorskip("onnxruntime", reason="needs the export extra: pip install 'landers[export]'")
    from landers.export.onnx_export import export

    agent = landers.load(sde_run)
    export(agent, tmp_path / "policy.onnx", samples=64)  # checks itself against agent.predict
    result = export(agent, tmp_path / "params.onnx", stochastic_params=True, samples=64)
    obs = np.stack([PENDULUM.observation_space.sample() for _ in range(32)])
    session = ort.InferenceSession(str(result.path), providers=["CPUExecutionProvider"])
    got = session.run(None, {"obs": obs})
    want = agent.policy_params(obs)
    for g, w in zip(got, want, strict=True):
        np.testing.assert_allclose(g, w.numpy(), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- ortho_init, which the zoo's gSDE setting for
# MountainCarContinuous turns off (bench/tuning/gsde/README.md)


def test_ortho_init_false_keeps_pytorchs_default_initialization():
    obs_space, act_space = PENDULUM.observation_space, PENDULUM.action_space
    torch.manual_seed(0)
    ortho = default_model(PPOConfig(), obs_space, act_space)
    plain = default_model(PPOConfig(ortho_init=False, sde=True), obs_space, act_space)
    eye = torch.eye(3)
    first = ortho.actor_body[0].weight.detach()  # (64, 3): orthogonal columns of norm sqrt(2)
    assert torch.allclose(first.T @ first, 2 * eye, atol=1e-5) and not ortho.actor_body[0].bias.any()
    assert ortho.actor_head.weight.abs().max() < 0.05  # gain 0.01: near-zero means at first
    for linear in (plain.actor_body[0], plain.critic_body[2], plain.actor_head, plain.critic_head):
        bound = 1 / math.sqrt(linear.in_features)  # PyTorch's kaiming-uniform weights and uniform biases
        assert linear.weight.abs().max() <= bound and linear.bias.abs().max() <= bound and linear.bias.any()
    weights = plain.actor_body[0].weight.detach()
    assert not torch.allclose(weights.T @ weights, 2 * eye, atol=0.1)
    assert plain.actor_head.weight.abs().max() > 0.05
