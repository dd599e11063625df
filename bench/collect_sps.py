"""Time of the rollout collector alone (no updates): PPO's MLP on LunarLander-v3, 32 envs x 256
steps, obs normalization and reward scaling on, 1 torch thread; min and median of 7 rollouts.
`--overlap` steps two halves of the envs alternately (`SplitVecEnv`); `--env-threads N` sets
EnvPool's threads (per half with --overlap). Run with the src/ tree to measure first on
LANDERS_DEV_SRC (see bench/RESULTS.md, issue 12)."""

import argparse
import time

import torch

from landers.algos.ppo import PPOConfig
from landers.core.rollout import Collector
from landers.envs import SplitVecEnv, make_vec_env
from landers.policy.networks import build_model
from landers.policy.normalize import ObsNormalizer, RewardScaler

ap = argparse.ArgumentParser()
ap.add_argument("--overlap", action="store_true")
ap.add_argument("--env-threads", type=int, default=0)
args = ap.parse_args()
torch.set_num_threads(1)
if args.overlap:
    envs = SplitVecEnv("LunarLander-v3", 32, 0, "auto", threads=args.env_threads or 1)
else:
    envs = make_vec_env("LunarLander-v3", 32, 0, "auto", threads=args.env_threads)
cfg = PPOConfig()
model = build_model(cfg, envs.single_observation_space, envs.single_action_space)
c = Collector(envs, 256, torch.device("cpu"), ObsNormalizer((8,)), RewardScaler(32, 0.99))
c.collect(model)
ts = []
for _ in range(7):
    t = time.perf_counter(); c.collect(model); ts.append(time.perf_counter() - t)
print(f"{'overlap' if args.overlap else 'sync'} env_threads={args.env_threads}: min {min(ts)*1000:.1f} ms "
      f"median {sorted(ts)[3]*1000:.1f} ms per 8192 steps")
