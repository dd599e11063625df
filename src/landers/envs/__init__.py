"""Envs at the bottom: vector envs (Gymnasium or EnvPool), env ids and backends, Atari
pipelines, spaces as JSON. Imports nothing from landers but `landers.errors`.

`VecEnv` gives one contract for both backends (Gymnasium and EnvPool).

`VecEnv.step` returns numpy arrays `obs (N, ...)`, `rewards (N,) float32`,
`terminated (N,) bool`, `truncated (N,) bool`. Both backends autoreset in NEXT_STEP mode:
the step after an episode ends ignores its action and returns the reset observation with
reward 0 (FACTS.md); the rollout marks that transition invalid so it is never trained on.
The observation returned on the ending step is the episode's final observation, which is
what a truncated episode's value bootstrap needs.
"""

from __future__ import annotations

import difflib
import importlib
import importlib.util
import warnings
from functools import partial

import gymnasium as gym
import numpy as np

from landers.envs import atari
from landers.errors import EnvCrashed, LandersError

BACKENDS = ("auto", "gymnasium", "envpool")


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The Gymnasium spec of `env_id` (`module:EnvId` imports `module` first); clear error if unknown."""
    if atari.is_atari(env_id):
        atari.register()
    module, sep, name = env_id.rpartition(":")
    if sep:
        try:
            importlib.import_module(module)
        except ImportError as e:
            raise LandersError(f"Cannot import module '{module}' for env '{env_id}': {e}.") from None
    try:
        return gym.spec(name)
    except gym.error.Error:
        close = difflib.get_close_matches(name, list(gym.registry), n=3, cutoff=0.6)
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        raise LandersError(f"Unknown environment '{env_id}'.{hint}") from None


def envpool_supports(env_id: str) -> bool:
    if ":" in env_id or importlib.util.find_spec("envpool") is None:
        return False
    import envpool

    if atari.is_atari(env_id):
        env_id = atari.envpool_id(env_id)[0]
    return env_id in envpool.list_all_envs()


def resolve_backend(env_id: str, backend: str) -> str:
    """`auto` is EnvPool when installed and it has the id, else Gymnasium."""
    if backend not in BACKENDS:
        raise LandersError(f"Unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "envpool" if envpool_supports(env_id) else "gymnasium"
    if backend == "envpool" and not envpool_supports(env_id):
        if importlib.util.find_spec("envpool") is None:
            raise LandersError("Backend 'envpool' needs EnvPool: pip install 'landers[fast]'.")
        raise LandersError(f"EnvPool has no env '{env_id}'; use --backend gymnasium.")
    return backend


class VecEnv:
    """N copies of one env stepped together; see the module docstring for the contract.

    After each step, `raw_rewards` and `game_over` describe the real episode for logging and
    evaluation: they differ from the training rewards and terminated flags for Atari, whose
    training envs clip rewards and end an episode at each lost life (see `atari`).
    `train=False` builds evaluation envs (Atari: whole games, real score).
    """

    def __init__(self, env_id: str, num_envs: int, seed: int, backend: str = "auto", train: bool = True):
        try:
            self._make(env_id, num_envs, seed, backend, train)
        except gym.error.Error as e:  # e.g. a missing dependency of the env (MuJoCo)
            raise LandersError(f"Cannot create {env_id}: {e}") from None

    def _make(self, env_id: str, num_envs: int, seed: int, backend: str, train: bool) -> None:
        env_spec(env_id)
        self.env_id = env_id
        self.num_envs = num_envs
        self.seed = seed
        self.backend = resolve_backend(env_id, backend)
        self.atari = atari.is_atari(env_id)
        if self.backend == "envpool":
            import envpool

            # EnvPool seeds are fixed at creation (reset(seed=...) is ignored); env i gets seed + i.
            if self.atari:
                self._env = atari.make_envpool(env_id, num_envs, seed, train)
                single_obs, single_act = self._env.observation_space, self._env.action_space
            else:
                self._env = envpool.make_gymnasium(env_id, num_envs=num_envs, seed=seed)
                single = gym.make(env_id)  # the reference spaces: EnvPool's Box bounds can differ
                single_obs, single_act = single.observation_space, single.action_space
                single.close()
            self.single_observation_space, self.single_action_space = single_obs, single_act
        else:
            # disable_env_checker: the checker wraps every step with Python-side assertions.
            make = (partial(atari.make_atari, env_id, train) if self.atari
                    else partial(gym.make, env_id, disable_env_checker=True))
            self._env = gym.vector.SyncVectorEnv(
                [make] * num_envs, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP
            )
            self.single_observation_space = self._env.single_observation_space
            self.single_action_space = self._env.single_action_space
        # EnvPool has no evaluation-time FireOnNewLife (see `atari`): VecEnv presses FIRE itself.
        self._fire_on_new_life = (self.backend == "envpool" and self.atari and not train
                                  and atari.game_needs_fire(env_id))
        space = self.single_action_space
        self._box = isinstance(space, gym.spaces.Box)
        if self._box:
            self._low, self._high = space.low, space.high

    def reset(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EnvPool warns that it ignores the seed
            obs, info = self._env.reset(seed=self.seed)
        if self._fire_on_new_life:
            self._lives, self._fire = np.asarray(info["lives"]), np.zeros(self.num_envs, bool)
        return obs

    def step(self, actions: np.ndarray):
        if self._box:
            # The policy's unclipped sample is what is trained on; the env gets it within bounds.
            actions = np.clip(actions, self._low, self._high)
        if self._fire_on_new_life:  # the step after a lost life serves the ball
            actions = np.where(self._fire, atari.FIRE, actions)
        try:
            obs, rewards, terminated, truncated, info = self._env.step(actions)
        except Exception as e:  # the env's own code failed: say which env, keep its traceback
            first = (str(e).strip().splitlines() or [""])[0].rstrip(".")
            raise EnvCrashed(f"{self.env_id} raised {type(e).__name__}" + (f" ({first})" if first else "")) from e
        rewards = np.asarray(rewards, dtype=np.float32)
        terminated, truncated = np.asarray(terminated, bool), np.asarray(truncated, bool)
        if not self.atari:
            self.raw_rewards, self.game_over = rewards, terminated | truncated
        elif self.backend == "envpool":
            self.raw_rewards = np.asarray(info["reward"], np.float32)
            self.game_over = np.asarray(info["terminated"], bool) | truncated
            if self._fire_on_new_life:
                lives = np.asarray(info["lives"])
                self._fire, self._lives = (lives < self._lives) & ~self.game_over, lives
        else:  # GameScore's keys; absent (zero) on autoreset steps
            self.raw_rewards = np.asarray(info.get("raw_reward", np.zeros(self.num_envs)), np.float32)
            self.game_over = np.asarray(info.get("game_over", np.zeros(self.num_envs)), bool)
        return obs, rewards, terminated, truncated

    def close(self) -> None:
        self._env.close()
