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
    from landers.algos import ppo

    real = ppo.ppo_loss
    monkeypatch.setattr(ppo, "ppo_loss", lambda model, batch, *rest: real(model, batch._replace(advantages=-batch.advantages), *rest))
    run = landers.train("ppo", "CartPole-v1", steps=20_000, seed=1, run_dir=tmp_path / "run",
                        final_eval_episodes=10)
    assert run.eval.mean < 100


@pytest.mark.learning
def test_trpo_solves_cartpole(tmp_path):
    run = landers.train("trpo", "CartPole-v1", seed=1, run_dir=tmp_path / "run", final_eval_episodes=50)
    assert run.eval.mean >= 475, run.eval


@pytest.mark.learning
def test_a2c_solves_cartpole(tmp_path):
    """A2C's policy swings between evaluations (one RMSprop step per 40 env steps), so what
    must solve is its best checkpoint, judged on 50 fresh episodes it was not selected on."""
    run = landers.train("a2c", "CartPole-v1", seed=2, run_dir=tmp_path / "run", final_eval_episodes=10)
    best = landers.evaluate(landers.load(run.run_dir / "checkpoints" / "best"), episodes=50, seed=777)
    assert best.mean >= 475, best


@pytest.mark.learning
def test_reinforce_beats_random_by_a_wide_margin(tmp_path):
    run = landers.train("reinforce", "CartPole-v1", steps=60_000, seed=1, run_dir=tmp_path / "run",
                        final_eval_episodes=50)
    assert run.eval.mean >= 200 and run.eval.mean >= 5 * run.random_eval.mean, (run.eval, run.random_eval)
