"""Atari with the standard DeepMind preprocessing (Mnih et al. 2015; Machado et al. 2018).

The Gymnasium pipeline, innermost first: no-op reset (up to 30), max over the last two of 4
skipped frames, the real game score recorded, episodic life (training only) or fire at each
new life (evaluation only), fire on reset, reward sign (training only), 84x84 grayscale, a
stack of 4 frames. Observations stay uint8 (4, 84, 84); the network divides by 255.

Logged and evaluated returns are always whole games (all lives) in real, unclipped points:
`GameScore` puts each step's raw reward and whether the game is really over into `info`,
and EnvPool reports the same as `info["reward"]` and `info["terminated"]`.
"""

from __future__ import annotations

import importlib.util

import gymnasium as gym
import numpy as np

from landers.errors import LandersError

FRAME_STACK, SIZE = 4, 84
FIRE = 1  # the action index of FIRE in every ALE game that has it
MAX_FRAMES = 108_000


def is_atari(env_id: str) -> bool:
    """Pixel Atari ids (the RAM variants are plain flat-observation envs)."""
    return (env_id.startswith("ALE/") or "NoFrameskip" in env_id) and "-ram" not in env_id


def register() -> None:
    """Make the ALE ids known to Gymnasium (ale-py ships the ROMs)."""
    if importlib.util.find_spec("ale_py") is None:
        raise LandersError("Atari envs need ale-py: pip install 'landers[atari]'.")
    import ale_py

    gym.register_envs(ale_py)


def envpool_id(env_id: str) -> tuple[str, dict]:
    """The EnvPool task and options equivalent to a Gymnasium Atari id, or ('', {})."""
    game = env_id.removeprefix("ALE/").split("NoFrameskip")[0].split("-v")[0]
    # v5 ids use sticky actions (Machado et al. 2018); NoFrameskip-v4 ids do not.
    sticky = 0.25 if env_id.startswith("ALE/") else 0.0
    return f"{game}-v5", {"repeat_action_probability": sticky}


class NoopReset(gym.Wrapper):
    """After reset, take a random number (1..noop_max) of no-op actions: varied starts."""

    def __init__(self, env: gym.Env, noop_max: int = 30):
        super().__init__(env)
        self.noop_max = noop_max

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        for _ in range(self.np_random.integers(1, self.noop_max + 1)):
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset()
        return obs, info


class MaxAndSkip(gym.Wrapper):
    """Repeat the action `skip` frames, sum the rewards, and return the pixel-wise max of the
    last two frames (Atari sprites flicker between frames)."""

    def __init__(self, env: gym.Env, skip: int = 4):
        super().__init__(env)
        self.skip = skip

    def step(self, action):
        total, frames = 0.0, []
        for _ in range(self.skip):
            obs, reward, terminated, truncated, info = self.env.step(action)
            total += float(reward)
            frames = (frames + [obs])[-2:]
            if terminated or truncated:
                break
        return np.maximum(frames[0], frames[-1]), total, terminated, truncated, info


class GameScore(gym.Wrapper):
    """Record the real game in `info`: `raw_reward` (unclipped) and `game_over` (the game
    itself ended, not just a life). Sits below `EpisodicLife` and `ClipReward`."""

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        info = {**info, "raw_reward": float(reward), "game_over": bool(terminated or truncated)}
        return obs, reward, terminated, truncated, info


class EpisodicLife(gym.Wrapper):
    """A lost life ends the training episode (a value bootstrap boundary) but not the game:
    the next reset continues the same game with a no-op."""

    def __init__(self, env: gym.Env):
        super().__init__(env)
        self.lives, self.game_over = 0, True

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        self.game_over = terminated or truncated
        lives = self.env.unwrapped.ale.lives()
        if 0 < lives < self.lives:
            terminated = True
        self.lives = lives
        return obs, reward, terminated, truncated, info

    def reset(self, **kwargs):
        if self.game_over:
            obs, info = self.env.reset(**kwargs)
        else:
            obs, _, terminated, truncated, info = self.env.step(0)
            if terminated or truncated:
                obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info


class FireOnNewLife(gym.Wrapper):
    """Evaluation only: press FIRE right after a lost life, within the same step.

    In training, a lost life ends the episode and `FireReset` serves the next ball, so a
    policy never has to learn to press FIRE itself; evaluation plays whole games, and without
    this a deterministic policy can wait forever for a ball that never comes. Sits above
    `GameScore` and adds the FIRE step's real reward to `raw_reward`.
    """

    def reset(self, **kwargs):
        obs, info = self.env.reset(**kwargs)
        self.lives = self.env.unwrapped.ale.lives()
        return obs, info

    def step(self, action):
        obs, reward, terminated, truncated, info = self.env.step(action)
        lives = self.env.unwrapped.ale.lives()
        if lives < self.lives and not (terminated or truncated):
            raw = info["raw_reward"]
            obs, fire_reward, terminated, truncated, info = self.env.step(FIRE)
            reward += fire_reward
            info = {**info, "raw_reward": raw + info["raw_reward"]}
        self.lives = self.env.unwrapped.ale.lives()
        return obs, reward, terminated, truncated, info


class FireReset(gym.Wrapper):
    """Press FIRE after a reset, for games that wait for it to start (Breakout)."""

    def reset(self, **kwargs):
        self.env.reset(**kwargs)
        obs, _, terminated, truncated, info = self.env.step(FIRE)
        if terminated or truncated:
            return self.env.reset(**kwargs)
        return obs, info


def needs_fire(env: gym.Env) -> bool:
    """Whether the game waits for FIRE to start (Breakout serves the ball on FIRE)."""
    meanings = env.unwrapped.get_action_meanings()
    return len(meanings) > FIRE and meanings[FIRE] == "FIRE"


def game_needs_fire(env_id: str) -> bool:
    register()
    env = gym.make(env_id)
    try:
        return needs_fire(env)
    finally:
        env.close()


def make_atari(env_id: str, train: bool = True, render_mode: str | None = None, **kwargs) -> gym.Env:
    """One Atari env with the standard preprocessing; `train` adds episodic life and reward
    sign, which evaluation (whole games, real score) leaves out. `kwargs` go to the ALE env."""
    register()
    # frameskip=1: skipping is MaxAndSkip's job, so that it can max over the last two frames.
    # A game lasts at most 108,000 frames (30 minutes; Machado et al. 2018), as in EnvPool.
    options = {"frameskip": 1, "max_episode_steps": MAX_FRAMES, **kwargs}
    env = gym.make(env_id, render_mode=render_mode, **options)
    return preprocess(env, train)


def preprocess(env: gym.Env, train: bool = True) -> gym.Env:
    """The DeepMind pipeline around an ALE-like env that steps one frame at a time."""
    env = NoopReset(env, noop_max=30)
    env = MaxAndSkip(env, skip=4)
    env = GameScore(env)
    fire = needs_fire(env)
    if train:
        env = EpisodicLife(env)
    elif fire:
        env = FireOnNewLife(env)
    if fire:
        env = FireReset(env)
    if train:
        env = gym.wrappers.TransformReward(env, lambda r: float(np.sign(r)))
    env = gym.wrappers.GrayscaleObservation(env)
    env = gym.wrappers.ResizeObservation(env, (SIZE, SIZE))
    return gym.wrappers.FrameStackObservation(env, FRAME_STACK)


def make_envpool(env_id: str, num_envs: int, seed: int, train: bool = True, threads: int = 0):
    import envpool

    task, options = envpool_id(env_id)
    return envpool.make_gymnasium(
        task, num_envs=num_envs, seed=seed, num_threads=threads, episodic_life=train, reward_clip=train, stack_num=FRAME_STACK,
        img_height=SIZE, img_width=SIZE, gray_scale=True, noop_max=30, frame_skip=4, use_fire_reset=True,
        max_episode_steps=MAX_FRAMES // 4, **options)
