"""Same seed, backend and settings give an identical metrics.csv on CPU, wall-clock columns
aside, for every algorithm (after Stable-Baselines3's tests/test_deterministic.py)."""

import csv
import os
import subprocess
import sys

import pytest

import landers
import landers.envs
from landers.algos import ALGOS

WALL_CLOCK = {"time", "sps"}
SMALL = {"ppo": dict(num_minibatches=2, update_epochs=2), "trpo": dict(vf_epochs=2, vf_minibatches=2)}


def metric_rows(run_dir):
    with (run_dir / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k not in WALL_CLOCK} for row in csv.DictReader(f)]


@pytest.mark.parametrize("algo", sorted(ALGOS))
def test_same_seed_gives_identical_metrics_for_every_algorithm(tmp_path, algo):
    def train(seed, name):
        run = landers.train(algo, "CartPole-v1", steps=256, seed=seed, run_dir=tmp_path / name, backend="gymnasium",
                            device="cpu", num_envs=4, num_steps=16, final_eval_episodes=2, eval_every=128,
                            eval_episodes=2, **SMALL.get(algo, {}))
        return metric_rows(run.run_dir)

    first, again, other = train(7, "a"), train(7, "b"), train(8, "c")
    assert len(first) >= 2 and first == again
    assert other != first  # the seed matters: the comparison above can fail


@pytest.mark.parametrize("backend", ["gymnasium", pytest.param("envpool", marks=pytest.mark.skipif(
    landers.envs.resolve_backend("CartPole-v1", "auto") != "envpool", reason="EnvPool is not installed"))])
def test_overlap_is_deterministic_too(tmp_path, backend):
    """The two halves of `overlap` are fixed and stepped in a fixed order, so a seed still
    gives one run (EnvPool's threads step a half while the policy acts on the other)."""
    def train(seed, name):
        run = landers.train("ppo", "CartPole-v1", steps=256, seed=seed, run_dir=tmp_path / name, backend=backend,
                            device="cpu", num_envs=4, num_steps=16, final_eval_episodes=2, eval_every=128,
                            eval_episodes=2, overlap=True, norm_obs=True, norm_reward=True, **SMALL["ppo"])
        return metric_rows(run.run_dir)

    first, again, other = train(7, "a"), train(7, "b"), train(8, "c")
    assert len(first) >= 2 and first == again
    assert other != first


@pytest.mark.slow  # two landers processes: ~23 s at load 12
def test_a_seed_gives_the_same_run_whatever_omp_num_threads_says(tmp_path):
    """torch's CPU threads default to the machine's cores or OMP_NUM_THREADS, and a QR (the
    orthogonal initialization) rounds differently on more threads: the trainer builds the
    network on one thread, so the environment variable does not change a seed's run."""
    def train(threads):
        run = tmp_path / f"omp{threads}"
        env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
        subprocess.run([sys.executable, "-m", "landers", "train", "ppo", "CartPole-v1", "--steps", "256", "--seed", "5",
                        "--quiet", "--run-dir", str(run), "--backend", "gymnasium", "--set", "num_envs=4",
                        "--set", "num_steps=32", "--set", "final_eval_episodes=2"], env=env, check=True, timeout=120)
        return metric_rows(run)

    one, two = train(1), train(2)
    assert len(one) == 2 and one == two
