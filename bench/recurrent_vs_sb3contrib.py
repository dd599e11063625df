"""Recurrent PPO: landers (`rnn=lstm`) against sb3-contrib's RecurrentPPO on envs whose
velocities are hidden, same machine, same budget, a few seeds: final deterministic return over
20 episodes, training wall time and steps/s (1 torch thread each).

Two speeds per run: `steps_per_s` from the wall time of training (evaluation excluded), which
other processes sharing the core slow down, and `cpu_steps_per_s` from this process's CPU time
(`time.process_time`, both libraries step their envs in this process) between the first and
the last update's end, which they barely touch. Landers and sb3-contrib run one after the other
for each seed, so that both see the same conditions.

    python bench/recurrent_vs_sb3contrib.py --env cartpole --steps 100000 --seeds 0 1 2
    python bench/recurrent_vs_sb3contrib.py --env lunar --steps 500000 --seeds 0 1 2 --only landers

Settings follow FACTS.md's sb3-contrib measurement (8 envs x 32 steps, one minibatch of 256,
20 epochs, lr 1e-3, gamma 0.999, lambda 0.98, LSTM 64); sb3-contrib needs
`pip install sb3-contrib` (not a landers dependency). Results go to bench/recurrent_vs_sb3contrib.json.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch

# What each env keeps of its observation: positions and angles, no velocities.
KEEP = {"cartpole": ("CartPole-v1", [0, 2]), "lunar": ("LunarLander-v3", [0, 1, 4, 6, 7])}
SETTINGS = dict(num_envs=8, num_steps=32, lr=1e-3, gamma=0.999, gae_lambda=0.98, epochs=20, rnn_size=64)


class Hidden(gym.ObservationWrapper):
    def __init__(self, env, keep):
        super().__init__(env)
        self.keep = keep
        space = env.observation_space
        self.observation_space = gym.spaces.Box(space.low[keep], space.high[keep], dtype=np.float32)

    def observation(self, obs):
        return obs[self.keep].astype(np.float32)


def maker(env: str):
    env_id, keep = KEEP[env]
    return lambda **kwargs: Hidden(gym.make(env_id, **kwargs), keep)


class CpuClock:
    """CPU seconds and env steps at the first and the latest end of an update."""

    def __init__(self):
        self.first: tuple[float, int] | None = None
        self.last: tuple[float, int] | None = None

    def tick(self, step: int) -> None:
        now = (time.process_time(), step)
        self.first = self.first or now
        self.last = now

    @property
    def steps_per_s(self) -> float:
        return (self.last[1] - self.first[1]) / (self.last[0] - self.first[0])


def run_landers(env: str, steps: int, seed: int) -> dict:
    import landers

    s = SETTINGS
    clock = CpuClock()
    start = time.perf_counter()
    run = landers.train("ppo", maker(env), steps=steps, seed=seed, quiet=True, backend="gymnasium", threads=1,
                        run_dir=Path("runs") / f"bench-recurrent-{env}-s{seed}-{time.time():.0f}",
                        rnn="lstm", rnn_size=s["rnn_size"], num_envs=s["num_envs"], num_steps=s["num_steps"],
                        num_minibatches=1, update_epochs=s["epochs"], lr=s["lr"], anneal_lr=False,
                        gamma=s["gamma"], gae_lambda=s["gae_lambda"], eval_every=10**12, final_eval_episodes=20,
                        callbacks=[lambda progress: clock.tick(progress.step)])
    return {"return": run.eval.mean, "train_s": run.train_time, "steps_per_s": run.global_step / run.train_time,
            "cpu_steps_per_s": clock.steps_per_s, "wall_s": time.perf_counter() - start}


def run_sb3(env: str, steps: int, seed: int) -> dict:
    from sb3_contrib import RecurrentPPO
    from stable_baselines3.common.callbacks import BaseCallback
    from stable_baselines3.common.env_util import make_vec_env
    from stable_baselines3.common.evaluation import evaluate_policy

    clock = CpuClock()

    class Tick(BaseCallback):
        # A rollout's start is the previous update's end (the first one: the end of setup).
        def _on_rollout_start(self) -> None:
            clock.tick(self.num_timesteps)

        def _on_step(self) -> bool:
            return True

    s = SETTINGS
    torch.set_num_threads(1)
    # No render mode for the training envs (FACTS.md: SB3's default slows LunarLander 4-5x).
    envs = make_vec_env(maker(env), n_envs=s["num_envs"], seed=seed)
    model = RecurrentPPO("MlpLstmPolicy", envs, n_steps=s["num_steps"], batch_size=s["num_envs"] * s["num_steps"],
                         n_epochs=s["epochs"], learning_rate=s["lr"], gamma=s["gamma"], gae_lambda=s["gae_lambda"],
                         policy_kwargs={"lstm_hidden_size": s["rnn_size"]}, seed=seed, device="cpu", verbose=0)
    start = time.perf_counter()
    model.learn(steps, callback=Tick())
    train_s = time.perf_counter() - start
    mean, _ = evaluate_policy(model, make_vec_env(maker(env), n_envs=1, seed=seed + 10_000), n_eval_episodes=20,
                              deterministic=True)
    return {"return": float(mean), "train_s": train_s, "steps_per_s": model.num_timesteps / train_s,
            "cpu_steps_per_s": clock.steps_per_s,
            "wall_s": time.perf_counter() - start}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", choices=sorted(KEEP), default="cartpole")
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--only", choices=["landers", "sb3-contrib"])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("recurrent_vs_sb3contrib.json"),
                        help="the JSON file the rows are appended to")
    args = parser.parse_args()
    out = args.out
    results = json.loads(out.read_text()) if out.exists() else []
    for seed in args.seeds:
        for name, fn in (("landers", run_landers), ("sb3-contrib", run_sb3)):
            if args.only and args.only != name:
                continue
            row = {"library": name, "env": args.env, "steps": args.steps, "seed": seed, **fn(args.env, args.steps, seed)}
            print(json.dumps(row), flush=True)
            results.append(row)
            out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
