"""Vector envs: N copies of one env stepped together, one class per backend.

`VecEnv` is the contract every backend keeps: `reset() -> obs`, `send(actions)` starts a step,
`recv() -> StepResult` returns it, `close()`. Both backends autoreset in NEXT_STEP mode: the step
after an episode ends ignores its action and returns the reset observation with reward 0
(FACTS.md); the rollout marks that transition invalid so it is never trained on. The observation
returned on the ending step is the episode's final observation, which is what a truncated
episode's value bootstrap needs.

A new backend is one `VecEnv` subclass and one line in `BACKENDS`; `auto` is resolved once per
run (`resolve_backend`) and the resolved name is what later envs of that run are built with.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings
from abc import ABC, abstractmethod
from typing import Any, NamedTuple

import gymnasium as gym
import numpy as np

from landers.envs import atari
from landers.envs.source import ENVPOOL_KWARGS, EnvSource, envpool_kwargs
from landers.errors import EnvCrashed, LandersError, first_line


class StepResult(NamedTuple):
    """What one step of N envs returns, each with leading dim N.

    `raw_rewards` and `game_over` describe the real episode for logging and evaluation: they
    differ from `rewards` and `terminated` for Atari, whose training envs clip rewards and end
    an episode at each lost life (see `atari`); elsewhere they are the same values."""

    obs: Any                  # (N, ...) as the env returns them (a dict of arrays for a Dict space)
    rewards: np.ndarray       # (N,) float32, the training rewards
    terminated: np.ndarray    # (N,) bool
    truncated: np.ndarray     # (N,) bool
    raw_rewards: np.ndarray   # (N,) float32
    game_over: np.ndarray     # (N,) bool
    info: dict                # the backend's info dict, batched
    action_mask: np.ndarray | None = None  # (N, n or sum(nvec)) bool, True = allowed; None: no mask


# A Dict observation's action mask (PettingZoo's and RLlib's key) and Gymnasium's info key (Taxi).
MASK_KEY = "action_mask"
MASK_METHOD = "action_masks"  # sb3-contrib's convention: a method of the env


def as_source(env: str | EnvSource) -> EnvSource:
    return env if isinstance(env, EnvSource) else EnvSource(env)


def _envpool_task(env_id: str) -> str:
    return atari.envpool_id(env_id)[0] if atari.is_atari(env_id) else env_id


def _envpool_fields(env_id: str) -> tuple:
    import envpool

    return tuple(envpool.make_spec(_envpool_task(env_id)).config._fields)


# Ids EnvPool has whose dynamics are not Gymnasium's, so that its numbers are not the published
# ones for the id: each with why, which `--backend envpool` says. Checked by stepping both from
# the same states (tests/envs/test_envs.py; the other classic-control ids agree to float32).
ENVPOOL_DIFFERS = {
    "Pendulum-v1": "it moves the angle by the speed before clipping the speed (the order of Gym's "
                   "Pendulum-v0), Gymnasium's clips first, so at top speed the two part",
}


def envpool_supports(env: str | EnvSource) -> bool:
    """Whether EnvPool builds exactly this env: it has the id, its dynamics are Gymnasium's (not
    one of `ENVPOOL_DIFFERS`), and it takes every kwarg under the same name and meaning
    (`source.ENVPOOL_KWARGS`); wrappers and factories never."""
    source = as_source(env)
    if (":" in source.env_id or source.factory or source.env_id in ENVPOOL_DIFFERS
            or importlib.util.find_spec("envpool") is None):
        return False
    import envpool

    if _envpool_task(source.env_id) not in envpool.list_all_envs():
        return False
    return envpool_kwargs(source, _envpool_fields) is not None


class VecEnv(ABC):
    """N copies of one env; see the module docstring for the contract. Subclasses build
    `self._env` and set the single-env spaces; `train=False` builds evaluation envs (Atari:
    whole games, real score)."""

    name = ""  # the backend's name in `BACKENDS`

    def __init__(self, source: EnvSource, num_envs: int, seed: int, *, train: bool = True, threads: int = 0):
        self.source, self.env_id = source, source.env_id
        self.num_envs, self.seed, self.train = num_envs, seed, train
        self.backend = self.name
        self.atari = atari.is_atari(source.env_id) and source.factory is None
        self.single_observation_space: gym.Space
        self.single_action_space: gym.Space
        self._build(threads)
        space = self.single_action_space
        self._box = isinstance(space, gym.spaces.Box)
        if self._box:
            self._low, self._high = space.low, space.high
        self.mask_source: str | None = None  # "obs", "info" or "method" once `reset` finds a mask
        self.reset_mask: np.ndarray | None = None  # the mask of the observations `reset` returned

    @abstractmethod
    def _build(self, threads: int) -> None:
        """Make `self._env` and set `single_observation_space` / `single_action_space`."""

    def reset(self) -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EnvPool warns that it ignores the seed
            with self.env_errors():
                obs, info = self._env.reset(seed=self.seed)
        self._reset_info(info)
        obs_space = self.single_observation_space
        if isinstance(obs_space, gym.spaces.Dict) and MASK_KEY in obs_space.spaces:
            self.mask_source = "obs"
        elif self.has_method(MASK_METHOD):
            self.mask_source = "method"
        elif MASK_KEY in info:
            self.mask_source = "info"
        self.reset_mask = self._mask(obs, info)
        return obs

    def has_method(self, name: str) -> bool:
        """Whether the sub-envs have a method `name` (only a backend of Python envs can say yes)."""
        return False

    def _mask(self, obs: Any, info: dict) -> np.ndarray | None:
        """The action mask of these observations `(N, width)`, from wherever this env offers it."""
        if self.mask_source is None:
            return None
        with self.env_errors():
            if self.mask_source == "obs":
                mask = obs[MASK_KEY]
            elif self.mask_source == "method":
                mask = np.stack([np.asarray(m).reshape(-1) for m in self.call(MASK_METHOD)])
            else:
                mask = info.get(MASK_KEY)
        space = self.single_action_space
        if isinstance(space, gym.spaces.Discrete):
            width = int(space.n)
        elif isinstance(space, gym.spaces.MultiDiscrete):
            width = int(space.nvec.sum())
        else:
            raise LandersError(f"{self.source.describe()} offers an action mask, which landers applies to Discrete "
                               f"and MultiDiscrete actions only, not {space}; ignore it with mask=False (--set mask=false).")
        if mask is None:  # no env of this step gave one in its info
            return np.ones((self.num_envs, width), bool)
        mask = np.asarray(mask).reshape(self.num_envs, -1).astype(bool)
        if self.mask_source == "info" and f"_{MASK_KEY}" in info:  # envs that gave none allow everything
            mask[~np.asarray(info[f"_{MASK_KEY}"], bool)] = True
        if mask.shape[1] != width:
            raise LandersError(f"{self.source.describe()} gave an action mask of {mask.shape[1]} values; its action "
                               f"space {space} needs {width} (one per action, per dimension concatenated).")
        return mask

    def _result(self, obs, rewards, terminated, truncated, raw_rewards, game_over, info) -> StepResult:
        return StepResult(obs, rewards, terminated, truncated, raw_rewards, game_over, info, self._mask(obs, info))

    def _reset_info(self, info: dict) -> None:  # noqa: B027 - optional hook, most backends need nothing
        """A backend that needs the reset's info (EnvPool's Atari lives) keeps it here."""

    def step(self, actions: np.ndarray) -> StepResult:
        self.send(actions)
        return self.recv()

    def send(self, actions: np.ndarray) -> None:
        """Start a step. EnvPool steps on its own threads until `recv`, so the caller can work
        meanwhile (on another group of envs, see `Collector`); Gymnasium steps in `recv`."""
        if self._box:
            # The policy's unclipped sample is what is trained on; the env gets it within bounds.
            actions = np.clip(actions, self._low, self._high)
        self._send(actions)

    @abstractmethod
    def _send(self, actions: np.ndarray) -> None: ...

    @abstractmethod
    def recv(self) -> StepResult:
        """The result of the step `send` started."""

    def call(self, name: str) -> list | None:
        """`name()` called on each sub-env, or None where this backend has no sub-env objects."""
        return None

    @staticmethod
    def _arrays(rewards, terminated, truncated) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        return np.asarray(rewards, np.float32), np.asarray(terminated, bool), np.asarray(truncated, bool)

    @contextlib.contextmanager
    def env_errors(self):
        """Exceptions from the envs' reset or step, as `failure` turns them."""
        try:
            yield
        except LandersError:  # already one sentence (from a nested call)
            raise
        except Exception as e:
            raise self.failure(e)  # noqa: B904 - failure() keeps the env's error as the cause where it matters

    def failure(self, error: Exception) -> Exception:
        """What to raise for an exception from the envs' reset or step: spaces that changed
        mid-run are one sentence (bad input); anything else is the env's own code failing,
        named, with its traceback kept as the cause."""
        if raised_in(error, "gymnasium/vector/utils"):
            return LandersError(
                f"{self.source.describe()} returned an observation that does not fit its observation space "
                f"{self.single_observation_space} ({first_line(error)}): its spaces changed mid-run, e.g. in a wrapper.")
        said = f" ({first_line(error)})" if str(error).strip() else ""
        crashed = EnvCrashed(f"{self.source.describe()} raised {type(error).__name__}{said}")
        crashed.__cause__ = error
        return crashed

    def close(self) -> None:
        self._env.close()


class GymnasiumVecEnv(VecEnv):
    """Gymnasium's `SyncVectorEnv` in NEXT_STEP autoreset mode: steps in `recv`, on this thread
    (on two cores the subprocess `AsyncVectorEnv` was slower for these envs, FACTS.md)."""

    name = "gymnasium"

    def _build(self, threads: int) -> None:
        source, train = self.source, self.train
        self._env = gym.vector.SyncVectorEnv(
            [lambda: source.make(train=train)] * self.num_envs, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP)
        self.single_observation_space = self._env.single_observation_space
        self.single_action_space = self._env.single_action_space

    def _send(self, actions: np.ndarray) -> None:
        self._sent = actions

    def recv(self) -> StepResult:
        with self.env_errors():
            obs, rewards, terminated, truncated, info = self._env.step(self._sent)
        rewards, terminated, truncated = self._arrays(rewards, terminated, truncated)
        if not self.atari:
            return self._result(obs, rewards, terminated, truncated, rewards, terminated | truncated, info)
        # GameScore's keys; absent (zero) on autoreset steps.
        raw = np.asarray(info.get("raw_reward", np.zeros(self.num_envs)), np.float32)
        game_over = np.asarray(info.get("game_over", np.zeros(self.num_envs)), bool)
        return self._result(obs, rewards, terminated, truncated, raw, game_over, info)

    def call(self, name: str) -> list:
        with self.env_errors():
            return list(self._env.call(name))

    def has_method(self, name: str) -> bool:
        try:
            return callable(self._env.envs[0].get_wrapper_attr(name))
        except AttributeError:
            return False


class EnvPoolVecEnv(VecEnv):
    """EnvPool's C++ pool: steps on its own threads between `send` and `recv`. Its seeds are fixed
    at creation (`reset(seed=...)` is ignored); env i gets seed + i. `threads=0` keeps EnvPool's
    own choice (one per env, at most one per core)."""

    name = "envpool"

    def _build(self, threads: int) -> None:
        import envpool

        source = self.source
        if self.atari:
            self._env = atari.make_envpool(source.env_id, self.num_envs, self.seed, self.train, threads)
            self.single_observation_space = self._env.observation_space
            self.single_action_space = self._env.action_space
        else:
            self._env = envpool.make_gymnasium(source.env_id, num_envs=self.num_envs, seed=self.seed,
                                               num_threads=threads, **source.kwargs)
            single = source.make()  # the reference spaces: EnvPool's Box bounds can differ
            self.single_observation_space, self.single_action_space = single.observation_space, single.action_space
            single.close()
        # EnvPool has no evaluation-time FireOnNewLife (see `atari`): this class presses FIRE itself.
        self._fire_on_new_life = self.atari and not self.train and atari.game_needs_fire(source.env_id)

    def _reset_info(self, info: dict) -> None:  # noqa: B027 - optional hook, most backends need nothing
        if self._fire_on_new_life:
            self._lives, self._fire = np.asarray(info["lives"]), np.zeros(self.num_envs, bool)

    def _send(self, actions: np.ndarray) -> None:
        if self._fire_on_new_life:  # the step after a lost life serves the ball
            actions = np.where(self._fire, atari.FIRE, actions)
        with self.env_errors():
            self._env.send(actions)

    def recv(self) -> StepResult:
        with self.env_errors():
            obs, rewards, terminated, truncated, info = self._env.recv()
        rewards, terminated, truncated = self._arrays(rewards, terminated, truncated)
        if not self.atari:
            return self._result(obs, rewards, terminated, truncated, rewards, terminated | truncated, info)
        raw = np.asarray(info["reward"], np.float32)
        game_over = np.asarray(info["terminated"], bool) | truncated
        if self._fire_on_new_life:
            lives = np.asarray(info["lives"])
            self._fire, self._lives = (lives < self._lives) & ~game_over, lives
        return self._result(obs, rewards, terminated, truncated, raw, game_over, info)


# A new backend: its class above, and its line here.
BACKENDS: dict[str, type[VecEnv]] = {"gymnasium": GymnasiumVecEnv, "envpool": EnvPoolVecEnv}


def resolve_backend(env: str | EnvSource, backend: str) -> str:
    """`auto` is EnvPool when installed and it builds exactly this env, else Gymnasium."""
    source = as_source(env)
    source.check()  # an unknown id is named as such, not as an env EnvPool lacks
    if backend != "auto" and backend not in BACKENDS:
        raise LandersError(f"Unknown backend '{backend}'; choose one of auto, {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "envpool" if envpool_supports(source) else "gymnasium"
    if backend == "envpool" and not envpool_supports(source):
        if importlib.util.find_spec("envpool") is None:
            raise LandersError("Backend 'envpool' needs EnvPool: pip install 'landers[fast]'.")
        if source.env_id in ENVPOOL_DIFFERS:
            raise LandersError(f"EnvPool's {source.env_id} is not Gymnasium's: {ENVPOOL_DIFFERS[source.env_id]}; "
                               f"use backend='gymnasium' (--backend gymnasium).")
        if not source.plain and envpool_supports(source.env_id):
            raise LandersError(f"EnvPool cannot build {source.describe()} (it takes no wrappers or factories, "
                               f"and of the kwargs only {', '.join(sorted(ENVPOOL_KWARGS))}); use backend='gymnasium' (--backend gymnasium).")
        raise LandersError(f"EnvPool has no env '{source.env_id}'; use backend='gymnasium' (--backend gymnasium).")
    return backend


def make_vec_env(env: str | EnvSource, num_envs: int, seed: int, backend: str = "auto", *, train: bool = True,
                 threads: int = 0) -> VecEnv:
    """`num_envs` copies of `env` on `backend` (a name in `BACKENDS`, or `auto`), env i seeded
    `seed + i`; a missing dependency or copies whose spaces differ are one sentence."""
    source = as_source(env)
    cls = BACKENDS[resolve_backend(source, backend)]
    try:
        return cls(source, num_envs, seed, train=train, threads=threads)
    except gym.error.Error as e:  # e.g. a missing dependency of the env (MuJoCo)
        raise LandersError(f"Cannot create {source.env_id}: {e}") from None
    except RuntimeError as e:
        if not raised_in(e, "gymnasium/vector/sync_vector_env", innermost=True):
            raise
        # Gymnasium's vector env found copies with different spaces.
        raise LandersError(f"The copies of {source.describe()} do not share one observation and action space "
                           f"(a factory or wrapper that varies them?): {e}") from None


def raised_in(error: BaseException, path: str, innermost: bool = False) -> bool:
    """Whether `error` passed through a file whose path contains `path` (or was raised there)."""
    files = []
    tb = error.__traceback__
    while tb is not None:
        files.append(tb.tb_frame.f_code.co_filename.replace("\\", "/"))
        tb = tb.tb_next
    return any(path in f for f in (files[-1:] if innermost else files))


class SplitVecEnv:
    """`num_envs` envs as two fixed halves, each its own `VecEnv` (env i keeps seed + i), for
    a collector that steps them alternately: with EnvPool one half steps on its threads while
    the policy acts on the other (`send` / `recv`). Fixed halves, not "whichever envs are ready
    first", so that a seed gives the same run. Gymnasium's halves step in `recv`: the same
    order of work, without the overlap."""

    def __init__(self, env: str | EnvSource, num_envs: int, seed: int, backend: str = "auto", *, threads: int = 0):
        if num_envs < 2 or num_envs % 2:
            raise LandersError(f"overlap steps two equal halves of the envs; num_envs={num_envs} is not even.")
        half = num_envs // 2
        backend = resolve_backend(env, backend)
        self.groups = [make_vec_env(env, half, seed, backend, threads=threads)]
        try:
            self.groups.append(make_vec_env(env, half, seed + half, backend, threads=threads))
        except BaseException:
            self.groups[0].close()
            raise
        first = self.groups[0]
        self.source, self.env_id, self.backend, self.seed = first.source, first.env_id, first.backend, seed
        self.num_envs = num_envs
        self.single_observation_space, self.single_action_space = first.single_observation_space, first.single_action_space
        self.slices = [slice(0, half), slice(half, num_envs)]

    def close(self) -> None:
        for group in self.groups:
            group.close()
