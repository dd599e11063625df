"""A tiny env without any render mode, for tests of envs that cannot render."""

import gymnasium as gym
import numpy as np


class NoRender(gym.Env):
    metadata = {"render_modes": []}
    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(2, 0.1 * action, np.float32), float(action), self.t >= 10, False, {}


gym.register("NoRender-v0", entry_point=NoRender)
