import gymnasium as gym
import pytest
import torch

from landers.algos import ppo
from landers.core.buffer import Minibatch
from landers.errors import LandersError
from landers.policy.networks import ActorCritic


def fake_batch(model, n=64, seed=0):
    g = torch.Generator().manual_seed(seed)
    obs = torch.randn(n, 4, generator=g)
    with torch.no_grad():
        actions, logp, values = model.act(obs)
    return Minibatch(obs, actions, logp, values, torch.randn(n, generator=g), torch.randn(n, generator=g))


@pytest.mark.parametrize("space", [gym.spaces.Discrete(3), gym.spaces.Box(-1, 1, (2,))])
def test_ratio_is_one_and_clipfrac_zero_before_first_step(space):
    torch.manual_seed(0)
    model = ActorCritic(4, space, (32, 32))
    cfg = ppo.PPOConfig()
    _, metrics = ppo.ppo_loss(model, fake_batch(model), cfg, cfg.clip_coef)
    assert metrics["approx_kl"].item() == 0.0
    assert metrics["clipfrac"].item() == 0.0


def test_policy_loss_gradient_moves_only_actor_parameters():
    torch.manual_seed(0)
    model = ActorCritic(4, gym.spaces.Discrete(3), (32, 32))
    cfg = ppo.PPOConfig(vf_coef=0.0)
    loss, _ = ppo.ppo_loss(model, fake_batch(model), cfg, cfg.clip_coef)
    loss.backward()
    actor = {id(p) for p in model.actor_parameters()}
    for p in model.parameters():
        if id(p) not in actor:
            assert p.grad is None or torch.count_nonzero(p.grad) == 0
    assert any(p.grad is not None and torch.count_nonzero(p.grad) for p in model.actor_parameters())


def test_clipped_objective_has_no_gradient_outside_the_trust_region():
    # A positive advantage with the ratio already above 1 + eps: the clipped term is the min,
    # so the policy gradient is zero (PPO paper eq. 7).
    torch.manual_seed(0)
    model = ActorCritic(4, gym.spaces.Discrete(2), (16,))
    batch = fake_batch(model, n=8)
    batch = batch._replace(logp=batch.logp - 1.0, advantages=torch.ones(8))
    cfg = ppo.PPOConfig(norm_adv=False, vf_coef=0.0, ent_coef=0.0)
    loss, metrics = ppo.ppo_loss(model, batch, cfg, 0.2)
    loss.backward()
    assert metrics["clipfrac"].item() == 1.0
    assert all(p.grad is None or torch.count_nonzero(p.grad) == 0 for p in model.actor_parameters())


def test_config_rejects_batch_that_does_not_divide():
    with pytest.raises(LandersError, match="does not divide"):
        ppo.PPOConfig(num_envs=3, num_steps=5, num_minibatches=4)


def test_gaussian_log_prob_matches_torch_distributions():
    model = ActorCritic(4, gym.spaces.Box(-1, 1, (3,)), (8,), init_log_std=-0.3)
    obs = torch.randn(5, 4)
    params = model.policy_params(obs)
    actions = torch.randn(5, 3)
    ref = torch.distributions.Normal(params[0], params[1].exp())
    torch.testing.assert_close(model.dist.log_prob(params, actions), ref.log_prob(actions).sum(-1))
    torch.testing.assert_close(model.dist.entropy(params), ref.entropy().sum(-1))


def test_categorical_log_prob_matches_torch_distributions():
    model = ActorCritic(4, gym.spaces.Discrete(5), (8,))
    params = model.policy_params(torch.randn(6, 4) * 50)
    ref = torch.distributions.Categorical(logits=params)
    actions = torch.randint(0, 5, (6,))
    torch.testing.assert_close(model.dist.log_prob(params, actions), ref.log_prob(actions))
    torch.testing.assert_close(model.dist.entropy(params), ref.entropy())
