"""Envs at the bottom: vector envs (Gymnasium or EnvPool), env ids and backends, where an env
comes from (source.py), Atari pipelines, spaces as JSON. Imports nothing from landers but `landers.errors`.

`VecEnv` gives one contract for both backends (Gymnasium and EnvPool).

`VecEnv.step` returns numpy arrays `obs (N, ...)`, `rewards (N,) float32`,
`terminated (N,) bool`, `truncated (N,) bool`. Both backends autoreset in NEXT_STEP mode:
the step after an episode ends ignores its action and returns the reset observation with
reward 0 (FACTS.md); the rollout marks that transition invalid so it is never trained on.
The observation returned on the ending step is the episode's final observation, which is
what a truncated episode's value bootstrap needs.
"""

from __future__ import annotations

import contextlib
import importlib.util
import warnings

import gymnasium as gym
import numpy as np

from landers.envs import atari
from landers.envs.ids import env_spec as env_spec  # re-exported: `from landers.envs import env_spec`
from landers.envs.source import ENVPOOL_KWARGS, EnvSource, envpool_kwargs
from landers.errors import EnvCrashed, LandersError, first_line

BACKENDS = ("auto", "gymnasium", "envpool")


def _envpool_task(env_id: str) -> str:
    return atari.envpool_id(env_id)[0] if atari.is_atari(env_id) else env_id


def _envpool_fields(env_id: str) -> tuple:
    import envpool

    return tuple(envpool.make_spec(_envpool_task(env_id)).config._fields)


def envpool_supports(env: str | EnvSource) -> bool:
    """Whether EnvPool builds exactly this env: it has the id, and takes every kwarg under the
    same name and meaning (`source.ENVPOOL_KWARGS`); wrappers and factories never."""
    source = as_source(env)
    if ":" in source.env_id or source.factory or importlib.util.find_spec("envpool") is None:
        return False
    import envpool

    if _envpool_task(source.env_id) not in envpool.list_all_envs():
        return False
    return envpool_kwargs(source, _envpool_fields) is not None


def resolve_backend(env: str | EnvSource, backend: str) -> str:
    """`auto` is EnvPool when installed and it builds exactly this env, else Gymnasium."""
    source = as_source(env)
    if backend not in BACKENDS:
        raise LandersError(f"Unknown backend '{backend}'; choose one of {', '.join(BACKENDS)}.")
    if backend == "auto":
        return "envpool" if envpool_supports(source) else "gymnasium"
    if backend == "envpool" and not envpool_supports(source):
        if importlib.util.find_spec("envpool") is None:
            raise LandersError("Backend 'envpool' needs EnvPool: pip install 'landers[fast]'.")
        if not source.plain and envpool_supports(source.env_id):
            raise LandersError(f"EnvPool cannot build {source.describe()} (it takes no wrappers or factories, "
                               f"and of the kwargs only {', '.join(sorted(ENVPOOL_KWARGS))}); use --backend gymnasium.")
        raise LandersError(f"EnvPool has no env '{source.env_id}'; use --backend gymnasium.")
    return backend


def as_source(env: str | EnvSource) -> EnvSource:
    return env if isinstance(env, EnvSource) else EnvSource(env)


class VecEnv:
    """N copies of one env stepped together; see the module docstring for the contract.

    After each step, `raw_rewards` and `game_over` describe the real episode for logging and
    evaluation: they differ from the training rewards and terminated flags for Atari, whose
    training envs clip rewards and end an episode at each lost life (see `atari`).
    `train=False` builds evaluation envs (Atari: whole games, real score).
    """

    def __init__(self, env: str | EnvSource, num_envs: int, seed: int, backend: str = "auto", train: bool = True,
                 threads: int = 0):
        source = as_source(env)
        try:
            self._make(source, num_envs, seed, backend, train, threads)
        except gym.error.Error as e:  # e.g. a missing dependency of the env (MuJoCo)
            raise LandersError(f"Cannot create {source.env_id}: {e}") from None
        except RuntimeError as e:
            if not _raised_in(e, "gymnasium/vector/sync_vector_env", innermost=True):
                raise
            # Gymnasium's vector env found copies with different spaces.
            raise LandersError(f"The copies of {source.describe()} do not share one observation and action space "
                               f"(a factory or wrapper that varies them?): {e}") from None

    def _make(self, source: EnvSource, num_envs: int, seed: int, backend: str, train: bool, threads: int) -> None:
        source.check()
        self.source, self.env_id = source, source.env_id
        self.num_envs = num_envs
        self.seed = seed
        self.backend = resolve_backend(source, backend)
        self.atari = atari.is_atari(source.env_id) and source.factory is None
        if self.backend == "envpool":
            import envpool

            # EnvPool seeds are fixed at creation (reset(seed=...) is ignored); env i gets seed + i.
            if self.atari:
                self._env = atari.make_envpool(source.env_id, num_envs, seed, train, threads)
                single_obs, single_act = self._env.observation_space, self._env.action_space
            else:
                # threads=0 keeps EnvPool's own choice (one per env, at most one per core).
                self._env = envpool.make_gymnasium(source.env_id, num_envs=num_envs, seed=seed, num_threads=threads,
                                                   **source.kwargs)
                single = source.make()  # the reference spaces: EnvPool's Box bounds can differ
                single_obs, single_act = single.observation_space, single.action_space
                single.close()
            self.single_observation_space, self.single_action_space = single_obs, single_act
        else:
            self._env = gym.vector.SyncVectorEnv(
                [lambda: source.make(train=train)] * num_envs, autoreset_mode=gym.vector.AutoresetMode.NEXT_STEP
            )
            self.single_observation_space = self._env.single_observation_space
            self.single_action_space = self._env.single_action_space
        # EnvPool has no evaluation-time FireOnNewLife (see `atari`): VecEnv presses FIRE itself.
        self._fire_on_new_life = (self.backend == "envpool" and self.atari and not train
                                  and atari.game_needs_fire(source.env_id))
        space = self.single_action_space
        self._box = isinstance(space, gym.spaces.Box)
        if self._box:
            self._low, self._high = space.low, space.high

    def reset(self) -> np.ndarray:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # EnvPool warns that it ignores the seed
            try:
                obs, info = self._env.reset(seed=self.seed)
            except Exception as e:
                raise self._env_failure(e)
        if self._fire_on_new_life:
            self._lives, self._fire = np.asarray(info["lives"]), np.zeros(self.num_envs, bool)
        return obs

    def step(self, actions: np.ndarray):
        self.send(actions)
        return self.recv()

    def send(self, actions: np.ndarray) -> None:
        """Start a step: EnvPool steps on its own threads until `recv`, so the caller can work
        meanwhile (on another group of envs, see `Collector`); Gymnasium steps in `recv`."""
        if self._box:
            # The policy's unclipped sample is what is trained on; the env gets it within bounds.
            actions = np.clip(actions, self._low, self._high)
        if self._fire_on_new_life:  # the step after a lost life serves the ball
            actions = np.where(self._fire, atari.FIRE, actions)
        if self.backend == "envpool":
            with self._env_errors():
                self._env.send(actions)
        self._sent = actions

    def recv(self):
        """The result of the step `send` started: obs, rewards, terminated, truncated."""
        with self._env_errors():
            if self.backend == "envpool":
                obs, rewards, terminated, truncated, info = self._env.recv()
            else:
                obs, rewards, terminated, truncated, info = self._env.step(self._sent)
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

    @contextlib.contextmanager
    def _env_errors(self):
        try:
            yield
        except Exception as e:
            raise self._env_failure(e)

    def _env_failure(self, error: Exception) -> Exception:
        """What to raise for an exception from the envs' reset or step: spaces that changed
        mid-run are one sentence (bad input); anything else is the env's own code failing,
        named, with its traceback kept as the cause."""
        if self._space_error(error) is not error:
            return self._space_error(error).with_traceback(None)
        said = f" ({first_line(error)})" if str(error).strip() else ""
        crashed = EnvCrashed(f"{self.source.describe()} raised {type(error).__name__}{said}")
        crashed.__cause__ = error
        return crashed

    def _space_error(self, error: Exception) -> Exception:
        """An observation that no longer fits the space the vector env was built with (a
        wrapper or env changing its spaces mid-run) becomes one sentence instead of numpy's
        traceback from Gymnasium's batching; any other error is the env's own and stays as is."""
        if not _raised_in(error, "gymnasium/vector/utils"):
            return error
        return LandersError(f"{self.source.describe()} returned an observation that does not fit its observation "
                            f"space {self.single_observation_space} ({first_line(error)}): its spaces changed mid-run, "
                            "e.g. in a wrapper.")

    def close(self) -> None:
        self._env.close()


def _raised_in(error: BaseException, path: str, innermost: bool = False) -> bool:
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

    def __init__(self, env: str | EnvSource, num_envs: int, seed: int, backend: str = "auto", threads: int = 0):
        if num_envs < 2 or num_envs % 2:
            raise LandersError(f"overlap steps two equal halves of the envs; num_envs={num_envs} is not even.")
        half = num_envs // 2
        self.groups = [VecEnv(env, half, seed, backend, threads=threads)]
        try:
            self.groups.append(VecEnv(env, half, seed + half, backend, threads=threads))
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
