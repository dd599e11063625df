import json

import numpy as np
import pytest

from conftest import landers_in_process
from landers.see.stats import bootstrap_band, bootstrap_ci, iqm, smoothed_on_grid


def test_iqm_is_the_mean_of_the_middle_half():
    assert iqm([1, 2, 3, 4, 100, -100, 5, 6]) == pytest.approx(np.mean([2, 3, 4, 5]))
    assert iqm([1, 2, 3, 4, 1000]) == pytest.approx(3.0)  # n=5 cuts one at each end


def test_bootstrap_ci_brackets_the_statistic_and_shrinks_with_more_seeds():
    rng = np.random.default_rng(0)
    few, many = rng.normal(10, 2, 5), rng.normal(10, 2, 200)
    lo, hi = bootstrap_ci(few, iqm)
    assert lo <= iqm(few) <= hi
    lo2, hi2 = bootstrap_ci(many, iqm)
    assert hi2 - lo2 < hi - lo and lo2 < 10 < hi2


def test_bootstrap_band_and_smoothing():
    curves = np.array([[0.0, 1.0], [2.0, 3.0], [4.0, 5.0]])
    mean, low, high = bootstrap_band(curves)
    np.testing.assert_allclose(mean, [2.0, 3.0])
    assert (low <= mean).all() and (mean <= high).all() and (high - low > 0).all()
    grid = np.array([0, 10, 25, 100])
    out = smoothed_on_grid(np.array([10, 20, 30]), np.array([1.0, 3.0, 5.0]), grid, window=2)
    assert np.isnan(out[0]) and out[1] == 1.0 and out[2] == 2.0 and out[3] == 4.0


def test_compare_bad_input():
    result = landers_in_process("compare", "CartPole-v1", "--algos", "ppo,dqn")
    assert result.returncode == 2 and "Unknown algorithm 'dqn'" in result.stderr and "Traceback" not in result.stderr


def test_compare_refuses_what_its_runs_would_refuse_before_ray_starts(tmp_path, monkeypatch):
    """A masked env with an algorithm that cannot apply masks, and a preset file whose hparams a
    run refuses (an unknown core, TRPO with memory): one sentence each, in-process, no Ray."""
    monkeypatch.chdir(tmp_path)
    for name, hparams in (("bad.json", {"rnn": "gruu"}), ("trpo-gru.json", {"rnn": "gru"}),
                          ("trpo-unmasked.json", {"mask": False})):
        algo = "trpo" if name.startswith("trpo") else "ppo"
        (tmp_path / name).write_text(json.dumps({"algo": algo, "env_id": "Doors-v0", "steps": 512, "hparams": hparams}))
    for env, algos, words in (
            ("fake_envs:Doors-v0", "ppo,trpo,reinforce", "offers an action mask, which trpo, reinforce cannot apply"),
            ("fake_envs:Doors-v0", "ppo,ppo@bad.json", "--algos ppo@bad.json on fake_envs:Doors-v0: rnn='gruu' must be"),
            ("CartPole-v1", "trpo@trpo-gru.json", "TRPO has no recurrent policies")):
        result = landers_in_process("compare", env, "--algos", algos, "--seeds", "1", "--out", str(tmp_path / "out"))
        assert result.returncode == 2 and words in result.stderr, (algos, result.stderr)
        assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr
    assert not (tmp_path / "out").exists()
    # mask=false in a preset file is the way to compare trpo on a masked env (an ablation)
    from landers.scale import compare

    compare.validate(["fake_envs:Doors-v0"], ["ppo", "trpo@trpo-unmasked.json"], seeds=1, steps=512, cpus_per_run=1)
