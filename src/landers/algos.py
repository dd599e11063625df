"""The registry of algorithms: name -> module with `Config` and `update`."""

from __future__ import annotations

import importlib
from types import ModuleType

from landers.config import unknown_key_error

ALGOS = {"ppo": "landers.ppo"}


def get_algo(name: str) -> ModuleType:
    if name not in ALGOS:
        raise unknown_key_error(name, list(ALGOS), "algorithm")
    return importlib.import_module(ALGOS[name])
