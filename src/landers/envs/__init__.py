"""Envs at the bottom: vector envs, one class per backend (vector.py), env ids and where an env
comes from (source.py), Atari pipelines, spaces as JSON. Imports nothing from landers but `landers.errors`.
"""

from landers.envs.ids import env_spec
from landers.envs.vector import (
    BACKENDS,
    SplitVecEnv,
    StepResult,
    VecEnv,
    as_source,
    envpool_supports,
    make_vec_env,
    resolve_backend,
)

__all__ = ["BACKENDS", "SplitVecEnv", "StepResult", "VecEnv", "as_source", "env_spec", "envpool_supports",
           "make_vec_env", "resolve_backend"]
