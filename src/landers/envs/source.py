"""Where a run's env comes from (`EnvSource`): a Gymnasium id with constructor arguments and
wrappers, or a factory, written as plain data so that every later use of a run (eval, record,
report, resume, compare, `load(...).make_env()`) builds the same env.

Callables are recorded by import path (`module:qualname`). A callable without one (a lambda,
a closure, a function of `__main__`) can only be used in the process it was given to: it is
recorded as `<name at 0x...>` and looked up in `_LIVE`; any other process says that the env
must be passed in again.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym

from landers.envs import atari
from landers.envs.ids import env_spec
from landers.errors import LandersError, first_line

# Callables given in this process that have no import path, by their recorded name.
_LIVE: dict[str, Callable] = {}
_MADE: set[str] = set()  # ids made in this process

# Constructor arguments that EnvPool takes under the same name and meaning as Gymnasium, when
# the EnvPool task has them (checked against its config): the time limit, and the reward and
# reset settings of the MuJoCo v4 locomotion tasks (EnvPool ports those from Gymnasium's v4).
# Anything else (or any wrapper, or a factory) runs on Gymnasium.
ENVPOOL_KWARGS = frozenset({
    "max_episode_steps", "ctrl_cost_weight", "forward_reward_weight", "contact_cost_weight", "healthy_reward",
    "terminate_when_unhealthy", "reset_noise_scale", "exclude_current_positions_from_observation"})


@dataclass(frozen=True)
class EnvSource:
    """One env: `gymnasium.make(env_id, **kwargs)` (or `factory(**kwargs)`), then each wrapper in order."""

    env_id: str                                  # a Gymnasium id (module:EnvId too), or a factory's name
    kwargs: dict[str, Any] = field(default_factory=dict)
    wrappers: tuple[str, ...] = ()               # module:callable or module:callable:{JSON kwargs}
    factory: str | None = None                   # a callable's import path, or <name at 0x...>

    @property
    def plain(self) -> bool:
        """Just an id: what EnvPool and the Atari pipelines build themselves."""
        return not (self.kwargs or self.wrappers or self.factory)

    def describe(self) -> str:
        extra = [f"{k}={json.dumps(v)}" for k, v in self.kwargs.items()] + [f"--wrap {w}" for w in self.wrappers]
        return f"{self.env_id} ({', '.join(extra)})" if extra else self.env_id

    @property
    def modules(self) -> tuple[str, ...]:
        """The modules this env is imported from by name: the id's `module:` part (or the factory's)
        and each wrapper's."""
        refs = [self.factory] if self.factory else []
        names = [self.env_id.rpartition(":")[0]] if self.factory is None and ":" in self.env_id else []
        names += [ref.partition(":")[0] for ref in [*refs, *self.wrappers] if not ref.startswith("<")]
        return tuple(dict.fromkeys(n for n in names if n))

    def check(self) -> None:
        """Fail early, in one sentence, on an unknown env id or a factory that cannot be imported."""
        if self.factory is None:
            env_spec(self.env_id)
        else:
            resolve(self.factory, "env factory")

    def registered_as(self) -> str:
        """The registered id this env is once its kwargs apply: `LunarLander-v3` with
        `continuous=true` is `LunarLanderContinuous-v3` (same entry point and version, whose
        registered kwargs these include; the one with the most of them, the id itself on a tie), and
        `LunarLanderContinuous-v3` with `continuous=false` is `LunarLander-v3`. Presets are looked up
        under it, so that a continuous lander gets the continuous preset."""
        if not self.kwargs or self.factory is not None:
            return self.env_id
        base = env_spec(self.env_id)
        given = {**base.kwargs, **self.kwargs}
        matches = [spec for spec in gym.registry.values()
                   if spec.entry_point == base.entry_point and spec.version == base.version
                   and all(k in given and given[k] == v for k, v in spec.kwargs.items())]
        if not matches:
            return self.env_id
        return max(matches, key=lambda spec: (len(spec.kwargs), spec.id == base.id)).id

    def make(self, render_mode: str | None = None, train: bool = True) -> gym.Env:
        """One env. `train=False` builds an evaluation env (Atari: whole games, real score)."""
        kwargs = dict(self.kwargs, **({"render_mode": render_mode} if render_mode else {}))
        try:
            if self.factory is not None:
                env = _call(resolve(self.factory, "env factory"), f"Env factory '{self.factory}'", **kwargs)
            elif atari.is_atari(self.env_id):
                env = atari.make_atari(self.env_id, train, render_mode, **self.kwargs)
            else:
                with warnings.catch_warnings():
                    if self.env_id in _MADE:  # Gymnasium's "out of date" notice: once is enough
                        warnings.simplefilter("ignore", DeprecationWarning)
                    # disable_env_checker: the checker wraps every step with Python-side assertions.
                    env = gym.make(self.env_id, disable_env_checker=True, **kwargs)
                _MADE.add(self.env_id)
        except LandersError:  # already one sentence (a factory's failure, an Atari setting)
            raise
        except (TypeError, ValueError, AssertionError, gym.error.Error) as e:  # e.g. a refused argument
            raise LandersError(f"Cannot create {self.describe()}: {first_line(e)}.") from None
        for ref in self.wrappers:
            fn, wrapper_kwargs = parse_wrapper(ref)
            env = _call(fn, f"Wrapper '{ref}'", env, **wrapper_kwargs)
        return env


def _call(fn: Callable, what: str, *args, **kwargs) -> gym.Env:
    """A user's factory or wrapper: any failure or a non-env result is one sentence naming it."""
    try:
        env = fn(*args, **kwargs)
    except LandersError:
        raise
    except Exception as e:  # user code at construction: name it rather than show its traceback
        raise LandersError(f"{what} failed: {type(e).__name__}: {first_line(e)}.") from None
    if not isinstance(env, gym.Env):
        raise LandersError(f"{what} returned a {type(env).__name__}, not a gymnasium.Env.")
    return env


def resolve(ref: str, what: str) -> Callable:
    """The callable at `module:qualname`, or a live one of this process."""
    if ref in _LIVE:
        return _LIVE[ref]
    if ref.startswith("<"):
        raise LandersError(f"The {what} {ref} was a Python object without an import path, so only the process that "
                           "trained can use it; pass the env in again, e.g. landers.load(path, env=make_env).")
    module, sep, name = ref.partition(":")
    if not sep or not module or not name:
        raise LandersError(f"The {what} '{ref}' is not of the form module:callable.")
    try:
        obj: Any = importlib.import_module(module)
    except (ImportError, SyntaxError) as e:  # a typo in a user module is bad input too
        raise LandersError(f"Cannot import the {what} '{ref}': {first_line(e)}.") from None
    for attr in name.split("."):
        if not hasattr(obj, attr):
            raise LandersError(f"Module '{module}' has no '{name}' (the {what} '{ref}').")
        obj = getattr(obj, attr)
    if not callable(obj):
        raise LandersError(f"The {what} '{ref}' is a {type(obj).__name__}, not a callable.")
    return obj


def reference(obj: Callable) -> str:
    """How to record a callable: its import path when importing it gives it back, else a live name."""
    module, qualname = getattr(obj, "__module__", None), getattr(obj, "__qualname__", None)
    if module and qualname and module != "__main__" and "<" not in qualname:
        path = f"{module}:{qualname}"
        try:
            if resolve(path, "callable") is obj:
                return path
        except LandersError:
            pass
    name = f"<{qualname or type(obj).__name__} at 0x{id(obj):x}>"
    _LIVE[name] = obj
    return name


def parse_wrapper(ref: str) -> tuple[Callable, dict[str, Any]]:
    """`module:callable` or `module:callable:{JSON kwargs}` -> (callable, kwargs)."""
    if ref in _LIVE:
        return _LIVE[ref], {}
    module, _, rest = ref.partition(":")
    name, sep, kwargs_text = rest.partition(":")
    kwargs: dict[str, Any] = {}
    if sep:
        try:
            kwargs = json.loads(kwargs_text)
        except ValueError:
            kwargs = None  # type: ignore[assignment]
        if not isinstance(kwargs, dict):
            raise LandersError(f"--wrap {ref}: what follows module:callable must be a JSON object of keyword arguments.")
    return resolve(f"{module}:{name}", "wrapper"), kwargs


def parse_env_kwargs(items: list[str] | None) -> dict[str, Any]:
    """['continuous=true', 'gravity=-9.0'] -> {'continuous': True, 'gravity': -9.0}: values are JSON."""
    out: dict[str, Any] = {}
    for item in items or []:
        key, sep, text = item.partition("=")
        if not sep or not key.strip():
            raise LandersError(f"--env-kwargs expects KEY=VALUE, got '{item}'.")
        try:
            out[key.strip()] = json.loads(text)
        except ValueError:
            raise LandersError(f"--env-kwargs {item}: the value is not JSON (a string needs quotes: "
                               f"{key.strip()}='\"{text}\"').") from None
    return out


def _json_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    try:
        json.dumps(kwargs, allow_nan=False)
    except (TypeError, ValueError) as e:
        raise LandersError(f"env kwargs must be JSON values (they are saved with the run): {e}.") from None
    return dict(kwargs)


def env_source(env: Any, kwargs: dict[str, Any] | None = None, wrappers: Any = ()) -> EnvSource:
    """An EnvSource from what users pass: an id, a `gymnasium.EnvSpec`, a callable returning an
    env (or its import path, `module:callable`), or an EnvSource; `wrappers` are
    `module:callable[:JSON]` strings or callables."""
    kwargs = _json_kwargs(kwargs or {})
    wrappers = tuple(w if isinstance(w, str) else reference(w) for w in wrappers or ())
    for ref in wrappers:
        parse_wrapper(ref)  # an unknown module or a bad argument fails now, before anything is made
    if isinstance(env, EnvSource):
        return dataclasses.replace(env, kwargs={**env.kwargs, **kwargs}, wrappers=env.wrappers + wrappers)
    if isinstance(env, str):
        env = factory_at(env) or env
    if isinstance(env, str):
        return EnvSource(env, kwargs, wrappers)
    if isinstance(env, gym.envs.registration.EnvSpec):
        return _from_env_spec(env, kwargs, wrappers)
    if isinstance(env, gym.Env):  # a run builds one env per worker, and again on every later use
        name = type(env.unwrapped).__name__
        raise LandersError(f"env= is an env instance ({name}); training builds several envs, so pass the class "
                           f"({name}), its id or a factory (lambda: {name}(...)) instead.")
    if callable(env):
        return EnvSource(getattr(env, "__name__", type(env).__name__), kwargs, wrappers, factory=reference(env))
    raise LandersError(f"An env must be a Gymnasium id, a gymnasium.EnvSpec or a callable returning an env, "
                       f"not a {type(env).__name__}.")


def factory_at(text: str) -> Callable | None:
    """The callable an env path `module:callable` names (a factory or an env class, as config.json
    records one under env_factory), or None for an id (`CartPole-v1`, `module:EnvId`) and for a
    module that does not import (the id's check then says why)."""
    module, sep, name = text.rpartition(":")
    if not sep or not module or text.startswith("<"):
        return None
    try:
        found = resolve(text, "env factory")
    except LandersError:
        return None
    return None if name in gym.registry else found


def _from_env_spec(spec: gym.envs.registration.EnvSpec, kwargs: dict, wrappers: tuple) -> EnvSource:
    """A registered spec becomes its id (with its kwargs); any other is built from its entry point."""
    registered = gym.registry.get(spec.id)
    kwargs = {**_json_kwargs(spec.kwargs), **kwargs}
    if registered is not None and registered.entry_point == spec.entry_point:
        if spec.max_episode_steps != registered.max_episode_steps:
            kwargs.setdefault("max_episode_steps", spec.max_episode_steps)
        return EnvSource(spec.id, kwargs, wrappers)
    factory = spec.entry_point if isinstance(spec.entry_point, str) else reference(spec.entry_point)
    if spec.max_episode_steps:  # what gymnasium.make would add for this spec
        limit = json.dumps({"max_episode_steps": spec.max_episode_steps})
        wrappers = (f"gymnasium.wrappers:TimeLimit:{limit}",) + wrappers
    return EnvSource(spec.id, kwargs, wrappers, factory=factory)


def envpool_kwargs(source: EnvSource, task_fields: Callable[[str], tuple]) -> dict[str, Any] | None:
    """The kwargs to hand EnvPool for `source`, or None when EnvPool cannot build exactly this env."""
    if source.factory or source.wrappers or (source.kwargs and atari.is_atari(source.env_id)):
        return None
    if not source.kwargs:
        return {}
    fields = task_fields(source.env_id)
    if all(k in ENVPOOL_KWARGS and k in fields for k in source.kwargs):
        return dict(source.kwargs)
    return None
