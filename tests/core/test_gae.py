import torch

from landers.core.advantages import explained_variance, gae


def reference_gae(rewards, values, next_value, terminated, truncated, gamma, lam):
    """Per-env scalar loop written from the definition, to check the vectorized one."""
    T = len(rewards)
    adv = [0.0] * T
    following_adv = 0.0
    for t in reversed(range(T)):
        v_next = next_value if t == T - 1 else values[t + 1]
        bootstrap = 0.0 if terminated[t] else gamma * v_next
        delta = rewards[t] + bootstrap - values[t]
        carry = 0.0 if (terminated[t] or truncated[t]) else gamma * lam * following_adv
        adv[t] = delta + carry
        following_adv = adv[t]
    return adv


def test_gae_hand_computed_with_termination_and_truncation():
    # One env, 5 steps. Step 1 terminates; step 3 is truncated by a time limit, so values[4]
    # (the value of the episode's final observation, NEXT_STEP autoreset) is its bootstrap.
    gamma, lam = 0.9, 0.8
    rewards = torch.tensor([[1.0], [2.0], [0.0], [3.0], [0.0]])
    values = torch.tensor([[0.5], [1.0], [2.0], [1.5], [4.0]])
    next_values = torch.tensor([0.7])
    terminated = torch.tensor([[False], [True], [False], [False], [False]])
    truncated = torch.tensor([[False], [False], [False], [True], [False]])
    adv, ret = gae(rewards, values, next_values, terminated, truncated, gamma, lam)
    # By hand:
    a4 = 0.0 + 0.9 * 0.7 - 4.0                      # last step bootstraps from next_values
    a3 = 3.0 + 0.9 * 4.0 - 1.5                      # truncated: bootstrap, no carry from step 4
    a2 = 0.0 + 0.9 * 1.5 - 2.0 + 0.9 * 0.8 * a3     # ordinary step
    a1 = 2.0 - 1.0                                  # terminated: no bootstrap, no carry
    a0 = 1.0 + 0.9 * 1.0 - 0.5 + 0.9 * 0.8 * a1
    expected = torch.tensor([[a0], [a1], [a2], [a3], [a4]])
    torch.testing.assert_close(adv, expected)
    torch.testing.assert_close(ret, expected + values)


def test_gae_matches_reference_on_random_batches():
    g = torch.Generator().manual_seed(0)
    T, N = 37, 5
    rewards, values = torch.randn(T, N, generator=g), torch.randn(T, N, generator=g)
    next_values = torch.randn(N, generator=g)
    terminated = torch.rand(T, N, generator=g) < 0.1
    truncated = (torch.rand(T, N, generator=g) < 0.1) & ~terminated
    adv, _ = gae(rewards, values, next_values, terminated, truncated, 0.99, 0.95)
    for i in range(N):
        ref = reference_gae(rewards[:, i].tolist(), values[:, i].tolist(), float(next_values[i]),
                            terminated[:, i].tolist(), truncated[:, i].tolist(), 0.99, 0.95)
        torch.testing.assert_close(adv[:, i], torch.tensor(ref))


def test_lambda_one_gives_discounted_return_minus_value():
    rewards = torch.ones(4, 1)
    values = torch.zeros(4, 1)
    none = torch.zeros(4, 1, dtype=torch.bool)
    adv, ret = gae(rewards, values, torch.zeros(1), none, none, 0.5, 1.0)
    torch.testing.assert_close(ret[:, 0], torch.tensor([1.875, 1.75, 1.5, 1.0]))


def test_explained_variance():
    target = torch.tensor([1.0, 2.0, 3.0, 4.0])
    assert explained_variance(target, target) == 1.0
    assert abs(explained_variance(torch.full((4,), 2.5), target)) < 1e-6
