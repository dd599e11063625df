"""Env ids: the Gymnasium spec behind an id, or one sentence naming the likely typo. A module of
its own so that `source.py` and the backends both import it without importing each other."""

from __future__ import annotations

import importlib

import gymnasium as gym

from landers.envs import atari
from landers.errors import LandersError, close_names, first_line


def env_spec(env_id: str) -> gym.envs.registration.EnvSpec:
    """The Gymnasium spec of `env_id` (`module:EnvId` imports `module` first); clear error if unknown."""
    if atari.is_atari(env_id):
        atari.register()
    module, sep, name = env_id.rpartition(":")
    if sep:
        try:
            importlib.import_module(module)
        except (ImportError, SyntaxError) as e:  # a typo in a user module is bad input too
            raise LandersError(f"Cannot import module '{module}' for env '{env_id}': {first_line(e)}.") from None
    try:
        return gym.spec(name)
    except gym.error.Error:
        close = close_names(name, list(gym.registry))
        hint = f" Did you mean {', '.join(close)}?" if close else ""
        if sep:  # `module:name` is an id that module registers, or the import path of a factory
            hint = f" Module '{module}' registers no such id and has no callable '{name}'.{hint}"
        raise LandersError(f"Unknown environment '{env_id}'.{hint}") from None
