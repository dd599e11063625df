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


class ShiftedActions(gym.Env):
    """Actions numbered -1, 0, 1 (Discrete with start=-1); anything else is a bug upstream."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(3, start=-1)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        if not self.action_space.contains(int(action)):
            raise ValueError(f"action {action} is outside {self.action_space}")
        self.t += 1
        return np.full(2, 0.5 * action, np.float32), float(action), False, self.t >= 20, {}


gym.register("ShiftedActions-v0", entry_point=ShiftedActions)


class RefusesSeedOne(NoRender):
    """NoRender that cannot be reset with seed 1: the run with seed 1 fails every time it starts
    (its first env gets seed 1), the others train."""

    def reset(self, seed=None, options=None):
        if seed == 1:
            raise RuntimeError("this env refuses seed 1")
        return super().reset(seed=seed, options=options)


gym.register("RefusesSeedOne-v0", entry_point=RefusesSeedOne)
