"""Time of the rollout collector alone (no updates): PPO's MLP on LunarLander-v3, 32 envs x 256
steps, obs normalization and reward scaling on, 1 torch thread; min and median of 7 rollouts.
Run with the src/ tree to measure first on LANDERS_DEV_SRC (see bench/RESULTS.md, issue 12)."""

import time, torch, numpy as np
torch.set_num_threads(1)
from landers.envs import VecEnv
from landers.core.rollout import Collector
from landers.policy.networks import build_model
from landers.policy.normalize import ObsNormalizer, RewardScaler
from landers.algos.ppo import PPOConfig
envs = VecEnv("LunarLander-v3", 32, 0, "auto")
cfg = PPOConfig()
model = build_model(cfg, envs.single_observation_space, envs.single_action_space)
c = Collector(envs, 256, torch.device("cpu"), ObsNormalizer((8,)), RewardScaler(32, 0.99))
c.collect(model)
ts = []
for _ in range(7):
    t = time.perf_counter(); c.collect(model); ts.append(time.perf_counter() - t)
print(f"min {min(ts)*1000:.1f} ms median {sorted(ts)[3]*1000:.1f} ms per 8192 steps")
