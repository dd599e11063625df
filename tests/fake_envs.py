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


# ---------------------------------------------------------------- one env per kind of space
# Each pays for the right action at every step of a fixed-length episode, so that a learner
# that reads its observation and acts in its action space correctly scores near the maximum,
# and one that mixes up the parts of either stays near chance.


class _Scripted(gym.Env):
    """Episodes of `length` steps; `_observe` draws a new observation, `_reward` scores an action."""

    length = 8

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        self.obs = self._observe()
        return self.obs, {}

    def step(self, action):
        if not self.action_space.contains(action):
            raise ValueError(f"action {action!r} is outside {self.action_space}")
        reward = float(self._reward(action))
        self.t += 1
        self.obs = self._observe()
        return self.obs, reward, False, self.t >= self.length, {}


class DictCue(_Scripted):
    """Dict observation: the reward depends on the `cue` key only (act = cue); `noise` is a
    distraction of the same size and `position` a 2-D Box, so an encoder that confuses the
    keys, or drops the categorical one, cannot do better than chance (1/3)."""

    observation_space = gym.spaces.Dict({
        "cue": gym.spaces.Discrete(3),
        "noise": gym.spaces.Box(-1, 1, (3,), np.float32),
        "position": gym.spaces.Box(-1, 1, (2, 2), np.float32),
    })
    action_space = gym.spaces.Discrete(3)

    def _observe(self):
        return {"cue": int(self.np_random.integers(3)),
                "noise": self.np_random.uniform(-1, 1, 3).astype(np.float32),
                "position": self.np_random.uniform(-1, 1, (2, 2)).astype(np.float32)}

    def _reward(self, action):
        return action == self.obs["cue"]


class MultiDiscreteMatch(_Scripted):
    """MultiDiscrete observation and action: dimension i pays 1/3 when a_i == (t_i + i) mod 3,
    so every dimension must be right, each through its own mapping; chance is 1/3 per step."""

    observation_space = gym.spaces.MultiDiscrete([3, 3, 3])
    action_space = gym.spaces.MultiDiscrete([3, 3, 3], start=[1, 1, 1])  # the env numbers categories from 1

    def _observe(self):
        return self.np_random.integers(0, 3, 3)

    def _reward(self, action):
        return np.mean((np.asarray(action) - 1) == (self.obs + np.arange(3)) % 3)


class BitFlip(_Scripted):
    """MultiBinary observation and action: each bit pays for being the opposite of the observed one."""

    observation_space = gym.spaces.MultiBinary(4)
    action_space = gym.spaces.MultiBinary(4)

    def _observe(self):
        return self.np_random.integers(0, 2, 4).astype(np.int8)

    def _reward(self, action):
        return np.mean(np.asarray(action) != self.obs)


class TupleGrid(_Scripted):
    """Tuple of a (5, 5) Box grid and a Discrete; continuous action: match grid[2, 3] (a 2-D Box
    is flattened, not refused)."""

    observation_space = gym.spaces.Tuple((gym.spaces.Box(-1, 1, (5, 5), np.float32), gym.spaces.Discrete(2)))
    action_space = gym.spaces.Box(-1, 1, (1,), np.float32)

    def _observe(self):
        return (self.np_random.uniform(-1, 1, (5, 5)).astype(np.float32), int(self.np_random.integers(2)))

    def _reward(self, action):
        return -abs(float(np.clip(action[0], -1, 1)) - self.obs[0][2, 3])


class DictPixels(_Scripted):
    """Dict of a channels-last uint8 image (through the CNN) and a vector; a 2x2 Box action.
    For plumbing (round trips), not learning: a CNN is slow on this CPU."""

    observation_space = gym.spaces.Dict({
        "pixels": gym.spaces.Box(0, 255, (36, 36, 3), np.uint8),
        "speed": gym.spaces.Box(-np.inf, np.inf, (2,), np.float32),
    })
    action_space = gym.spaces.Box(-1, 1, (2, 2), np.float32)
    length = 4

    def _observe(self):
        return {"pixels": self.np_random.integers(0, 256, (36, 36, 3), dtype=np.uint8),
                "speed": self.np_random.normal(size=2).astype(np.float32)}

    def _reward(self, action):
        return float(np.clip(action, -1, 1).sum())


class NestedStarts(_Scripted):
    """A Dict nesting a Tuple, with categories numbered from other than 0 in both the observation
    and a 2-D MultiDiscrete action: act = (cue, level). For plumbing (export names and starts)."""

    observation_space = gym.spaces.Dict({
        "cue": gym.spaces.Discrete(3, start=-1),
        "grid": gym.spaces.Box(-1, 1, (2, 3), np.float64),
        "parts": gym.spaces.Tuple((gym.spaces.MultiBinary(2),
                                   gym.spaces.MultiDiscrete([[2, 4]], start=[[1, 0]]))),
    })
    action_space = gym.spaces.MultiDiscrete([[3, 4]], start=[[-1, 5]])

    def _observe(self):
        rng = self.np_random
        return {"cue": int(rng.integers(-1, 2)), "grid": rng.uniform(-1, 1, (2, 3)),
                "parts": (rng.integers(0, 2, 2).astype(np.int8), np.array([[1 + rng.integers(2), rng.integers(4)]]))}

    def _reward(self, action):
        (cue, level), = np.asarray(action)
        return np.mean([cue == self.obs["cue"], level - 5 == self.obs["parts"][1][0, 1]])


class WithText(DictCue):
    """A Dict observation with a Text part, which landers cannot encode."""

    observation_space = gym.spaces.Dict({"cue": gym.spaces.Discrete(3), "mission": gym.spaces.Text(20)})

    def _observe(self):
        return {"cue": int(self.np_random.integers(3)), "mission": "go"}


for _cls in (DictCue, MultiDiscreteMatch, BitFlip, TupleGrid, DictPixels, NestedStarts, WithText):
    gym.register(f"{_cls.__name__}-v0", entry_point=_cls)


class Configurable(gym.Env):
    """An env with constructor arguments: `size` sets the observation length, `bonus` the reward."""

    action_space = gym.spaces.Discrete(2)

    def __init__(self, size: int = 2, bonus: float = 0.0, render_mode=None):
        self.observation_space = gym.spaces.Box(-1, 1, (size,), np.float32)
        self.size, self.bonus, self.render_mode = size, bonus, render_mode

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(self.size, np.float32), {}

    def step(self, action):
        self.t += 1
        return np.full(self.size, 0.1 * action, np.float32), 1.0 + self.bonus, False, self.t >= 5, {}


gym.register("Configurable-v0", entry_point=Configurable)


def make_configurable(size: int = 3, **kwargs):
    """A factory with an import path (fake_envs:make_configurable)."""
    return Configurable(size=size, **kwargs)


def grow_after_reset(env):
    """A wrapper whose observations stop fitting its observation space after reset (a bug)."""
    return _Grow(env)


class _Grow(gym.ObservationWrapper):
    def observation(self, obs):
        return np.concatenate([obs, obs]) if getattr(self, "_stepped", False) else obs

    def step(self, action):
        self._stepped = True
        return super().step(action)


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


class RefusesSeedOne(NoRender):
    """NoRender that cannot be reset with seed 1: the run with seed 1 fails every time it starts
    (its first env gets seed 1), the others train."""

    def reset(self, seed=None, options=None):
        if seed == 1:
            raise RuntimeError("this env refuses seed 1")
        return super().reset(seed=seed, options=options)


gym.register("RefusesSeedOne-v0", entry_point=RefusesSeedOne)


# ---------------------------------------------------------------- memory and masks (issue 23)


class CueMemory(gym.Env):
    """A cue (one of two) is shown at the first step only; `delay` blank steps follow, then a
    query step pays 1 for the action that names the cue, 0 otherwise. Without memory the query
    step looks the same whatever the cue: no memoryless policy beats 0.5 on average."""

    observation_space = gym.spaces.Box(0, 1, (3,), np.float32)  # cue a, cue b, query
    action_space = gym.spaces.Discrete(2)

    def __init__(self, delay: int = 3):
        self.delay = delay

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.cue = 0, int(self.np_random.integers(2))
        obs = np.zeros(3, np.float32)
        obs[self.cue] = 1.0
        return obs, {}

    def step(self, action):
        if self.t == self.delay:  # this was the query step
            return np.zeros(3, np.float32), float(int(action) == self.cue), True, False, {}
        self.t += 1
        obs = np.zeros(3, np.float32)
        obs[2] = float(self.t == self.delay)
        return obs, 0.0, False, False, {}


gym.register("CueMemory-v0", entry_point=CueMemory)


class Doors(gym.Env):
    """Eight doors, about half of them open at random each step; walking into a closed one raises
    (an env that must never see an illegal action). Reward door / 7 for an open door, 20 steps:
    taking the highest open door each step is optimal. The mask comes `via` the observation
    (a Dict with an `action_mask` key), `info["action_mask"]`, or an `action_masks()` method;
    `multi=True` makes it two independent rows of four doors (MultiDiscrete, one mask per row)."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 30}

    def __init__(self, via: str = "method", multi: bool = False, render_mode=None):
        self.via, self.multi, self.render_mode = via, multi, render_mode
        self.sizes = [4, 4] if multi else [8]
        width = sum(self.sizes)
        self.action_space = gym.spaces.MultiDiscrete(self.sizes) if multi else gym.spaces.Discrete(8)
        doors = gym.spaces.Box(0, 1, (width,), np.float32)
        self.observation_space = (gym.spaces.Dict({"doors": doors, "action_mask": gym.spaces.MultiBinary(width)})
                                  if via == "obs" else doors)

    def _draw(self):
        self.open = self.np_random.random(sum(self.sizes)) < 0.5
        at = 0
        for n in self.sizes:  # at least one open door per row
            if not self.open[at:at + n].any():
                self.open[at + int(self.np_random.integers(n))] = True
            at += n
        doors = self.open.astype(np.float32)
        obs = {"doors": doors, "action_mask": self.open.astype(np.int8)} if self.via == "obs" else doors
        return obs, ({"action_mask": self.open.astype(np.int8)} if self.via == "info" else {})

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return self._draw()

    def step(self, action):
        picks = np.atleast_1d(np.asarray(action)).astype(int)
        offsets = np.cumsum([0] + self.sizes[:-1])
        reward = 0.0
        for pick, offset, n in zip(picks, offsets, self.sizes, strict=False):
            if not self.open[offset + pick]:
                raise ValueError(f"door {pick} is closed")
            reward += pick / (n - 1) / len(self.sizes)
        self.t += 1
        obs, info = self._draw()
        return obs, reward, False, self.t >= 20, info

    def render(self):
        frame = np.zeros((64, 64, 3), np.uint8)
        frame[:, : 8 * int(self.open.sum())] = 200
        return frame


class DoorsWithMethod(Doors):
    def action_masks(self):
        return self.open.copy()


def make_doors(via: str = "method", multi: bool = False, render_mode=None) -> Doors:
    return (DoorsWithMethod if via == "method" else Doors)(via, multi, render_mode)


gym.register("Doors-v0", entry_point=make_doors)


def make_window_doors(via: str = "method", render_mode=None) -> gym.Env:
    """Doors that `landers play` can show: in human mode its frames go to a pygame window
    (Gymnasium's HumanRendering), the mask still reached through the wrapper."""
    if render_mode == "human":
        return gym.wrappers.HumanRendering(make_doors(via, render_mode="rgb_array"))
    return make_doors(via, render_mode=render_mode)


gym.register("WindowDoors-v0", entry_point=make_window_doors)
class CrashesInWindow(NoRender):
    """Trains like NoRender; in a window (`landers play`) its step raises, as a simulator's
    viewer might."""

    metadata = {"render_modes": ["human"], "render_fps": 30}

    def __init__(self, render_mode=None):
        self.render_mode = render_mode

    def step(self, action):
        if self.render_mode == "human":
            raise RuntimeError("the viewer lost its GL context\nand more lines that nobody needs")
        return super().step(action)


gym.register("CrashesInWindow-v0", entry_point=CrashesInWindow)
