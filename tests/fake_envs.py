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


class FakePixels(gym.Env):
    """Atari-shaped observations (4 stacked 84x84 uint8 frames) of random pixels, for the CNN."""

    observation_space = gym.spaces.Box(0, 255, (4, 84, 84), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._frames(), {}

    def _frames(self):
        return self.np_random.integers(0, 256, (4, 84, 84), dtype=np.uint8)

    def step(self, action):
        self.t += 1
        return self._frames(), float(action == 1), self.t >= 30, False, {}


gym.register("FakePixels-v0", entry_point=FakePixels)


class Faulty(gym.Env):
    """A tiny env that misbehaves from its `at`-th step, counted over every copy in the process
    (a vector env's copies share the count): `fault` is "raise" (a simulator that loses its
    connection), "nan_obs" or "nan_reward"."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)
    steps = 0

    def __init__(self, fault: str = "raise", at: int = 200):
        self.fault, self.at = fault, at

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {}

    def step(self, action):
        Faulty.steps += 1
        self.t += 1
        obs, reward = np.full(2, 0.1 * action, np.float32), float(action)
        if Faulty.steps >= self.at:
            if self.fault == "raise":
                raise ConnectionError("the simulator lost its connection")
            if self.fault == "nan_obs":
                obs[1] = np.nan
            else:
                reward = float("inf")
        return obs, reward, self.t >= 10, False, {}


for _fault in ("raise", "nan_obs", "nan_reward"):
    gym.register(f"Faulty-{_fault}-v0", entry_point=Faulty, kwargs={"fault": _fault})
