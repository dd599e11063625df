"""The SB3 zoo's settings run in Stable-Baselines3 / sb3-contrib themselves on this machine, beside
landers' runs of the same settings: where landers falls short of a published zoo mark, this says
whether the mark holds here at all (same Gymnasium env, same budget, 100-episode deterministic
final evaluation on one env seeded once with 10000 + 64 x seed, disjoint across seeds as
`landers bench`'s evaluations are; rows
before 2026-12-06 used 10000 + seed + episode, the scheme landers used then, and say so in
their `eval_seeds` field or by lacking it: bench/backends.md says what that changes).

    python bench/zoo_in_sb3.py ppo-pendulum --seeds 0 1 2
    python bench/zoo_in_sb3.py trpo-lunarlander --seeds 401 402

The settings are the zoo's (rl-baselines3-zoo hyperparams/ppo.yml, trpo.yml), SB3's defaults
otherwise; SB3 and sb3-contrib come with the `peers` extra (`pip install 'landers[peers]'`).
Rows are appended to --out (default bench/zoo_in_sb3.json); bench/backends.md and
bench/tuning/family/README.md have the numbers.
"""

from __future__ import annotations

import argparse
import json
import platform
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

# The first evaluation env seed of training seed s is EVAL_SEED_BASE + 64 s, as in landers'
# `landers.policy.evaluation.eval_seed` (not imported: this runs in a venv with SB3, not landers).
EVAL_SEED_BASE = 10_000

CASES = {
    # zoo ppo.yml, Pendulum-v1 (gSDE)
    "ppo-pendulum": dict(env_id="Pendulum-v1", n_envs=4, steps=100_000, algo="PPO",
                         kwargs=dict(n_steps=1024, gae_lambda=0.95, gamma=0.9, n_epochs=10, ent_coef=0.0,
                                     learning_rate=1e-3, clip_range=0.2, use_sde=True, sde_sample_freq=4)),
    # zoo trpo.yml, LunarLander-v3
    "trpo-lunarlander": dict(env_id="LunarLander-v3", n_envs=2, steps=200_000, algo="TRPO",
                             kwargs=dict(n_steps=512, cg_damping=0.01, gae_lambda=0.98, gamma=0.99,
                                         learning_rate=1e-3, n_critic_updates=15)),
}


def run(case: str, seed: int) -> dict:
    from stable_baselines3 import PPO
    from stable_baselines3.common.env_util import make_vec_env

    spec = CASES[case]
    if spec["algo"] == "TRPO":
        from sb3_contrib import TRPO as algo
    else:
        algo = PPO
    env = make_vec_env(spec["env_id"], n_envs=spec["n_envs"], seed=seed)
    model = algo("MlpPolicy", env, seed=seed, verbose=0, **spec["kwargs"])
    start = time.perf_counter()
    model.learn(spec["steps"])
    train_s = time.perf_counter() - start
    evaluation = gym.make(spec["env_id"])
    returns = []
    for episode in range(100):
        # seeded once, so that the episodes of neighbouring training seeds do not overlap
        obs, _ = evaluation.reset(seed=EVAL_SEED_BASE + 64 * seed if episode == 0 else None)
        done, total = False, 0.0
        while not done:
            action, _ = model.predict(obs, deterministic=True)
            obs, reward, terminated, truncated, _ = evaluation.step(action)
            total += float(reward)
            done = terminated or truncated
        returns.append(total)
    return {"case": case, "env_id": spec["env_id"], "algo": spec["algo"], "seed": seed, "steps": int(model.num_timesteps),
            "final_mean": float(np.mean(returns)), "eval_seeds": "one env seeded 10000 + 64 x seed", "train_s": round(train_s, 1), "machine": platform.machine(),
            "date": time.strftime("%Y-%m-%d")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("case", choices=sorted(CASES))
    parser.add_argument("--seeds", type=int, nargs="+", default=[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("zoo_in_sb3.json"))
    args = parser.parse_args()
    torch.set_num_threads(1)
    for seed in args.seeds:
        row = run(args.case, seed)
        print(json.dumps(row), flush=True)
        rows = json.loads(args.out.read_text()) if args.out.exists() else []
        args.out.write_text(json.dumps(rows + [row], indent=1) + "\n")


if __name__ == "__main__":
    main()
