"""Learning tests: a broken algorithm misses these thresholds. Deselect with -m 'not learning'."""

import pytest

import landers


@pytest.mark.learning
def test_ppo_solves_cartpole(tmp_path):
    run = landers.train("ppo", "CartPole-v1", steps=60_000, seed=1, run_dir=tmp_path / "run",
                        final_eval_episodes=50)
    assert run.eval.mean >= 475, run.eval
    assert run.random_eval.mean < 50


@pytest.mark.learning
def test_ppo_with_broken_advantage_sign_does_not_solve(tmp_path, monkeypatch):
    """The threshold above is one a broken PPO misses: flip the advantages' sign."""
    from landers import ppo

    real = ppo.ppo_loss
    monkeypatch.setattr(ppo, "ppo_loss", lambda model, obs, a, lp, v, adv, *rest: real(model, obs, a, lp, v, -adv, *rest))
    run = landers.train("ppo", "CartPole-v1", steps=20_000, seed=1, run_dir=tmp_path / "run",
                        final_eval_episodes=10)
    assert run.eval.mean < 100
