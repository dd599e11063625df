"""Checkpoints without pickle: tensors in safetensors, everything else in JSON.

A checkpoint is a directory holding `tensors.safetensors` and `state.json`; `state.json` is
written last and records the SHA-256 of the tensor file, so a half-written checkpoint is
recognizable. Saving writes a sibling `<name>.tmp/` and swaps it in with renames; a crash or
`kill -9` at any moment leaves either the old or the new checkpoint complete on disk, and
`read` finds whichever it is.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from landers.errors import LandersError

TENSORS, STATE = "tensors.safetensors", "state.json"
FORMAT = "landers-checkpoint"


def _sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` via a temporary file and a rename."""
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps(data, indent=2, sort_keys=False) + "\n")
    _fsync(tmp)
    os.replace(tmp, path)


def write(directory: Path, tensors: dict[str, torch.Tensor | np.ndarray], state: dict[str, Any]) -> None:
    """Atomically replace the checkpoint at `directory` with `tensors` and JSON `state`."""
    directory = Path(directory)
    tmp, old = directory.with_name(directory.name + ".tmp"), directory.with_name(directory.name + ".old")
    if not directory.exists() and _complete(tmp):
        os.replace(tmp, directory)  # an earlier save died between its renames: keep its result
    shutil.rmtree(tmp, ignore_errors=True)
    tmp.mkdir(parents=True)
    # clone: safetensors refuses tensors that share memory (a shared actor/critic trunk).
    flat = {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
            .detach().cpu().clone().contiguous() for k, v in tensors.items()}
    save_file(flat, str(tmp / TENSORS))
    _fsync(tmp / TENSORS)
    state = {"format": FORMAT, "format_version": 1, **state, "tensors_sha256": _sha256(tmp / TENSORS)}
    (tmp / STATE).write_text(json.dumps(state, indent=2) + "\n")
    _fsync(tmp / STATE)
    if directory.exists():
        shutil.rmtree(old, ignore_errors=True)
        os.replace(directory, old)
    os.replace(tmp, directory)
    _fsync(directory.parent)
    shutil.rmtree(old, ignore_errors=True)


def _complete(directory: Path) -> bool:
    try:
        state = json.loads((directory / STATE).read_text())
        return state.get("format") == FORMAT and state.get("tensors_sha256") == _sha256(directory / TENSORS)
    except (OSError, ValueError):
        return False


def find(path: Path) -> Path:
    """The complete checkpoint directory for `path` (a run dir, or a checkpoint dir whose
    save was interrupted between its renames)."""
    path = Path(path)
    if (path / "checkpoints").is_dir() or (path / "config.json").exists():
        if not (path / "checkpoints").is_dir():
            raise LandersError(f"Run '{path}' has no checkpoint yet.")
        path = path / "checkpoints" / "last"
    for candidate in (path, path.with_name(path.name + ".tmp"), path.with_name(path.name + ".old")):
        if _complete(candidate):
            return candidate
    if not path.exists() and not path.parent.exists():
        raise LandersError(f"No run or checkpoint at '{path}'.")
    raise LandersError(f"No complete checkpoint at '{path}': it is missing or corrupt.")


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, state) of the checkpoint at `path`. Loading never executes code."""
    directory = find(path)
    try:
        state = json.loads((directory / STATE).read_text())
        tensors = load_file(str(directory / TENSORS))
    except (OSError, ValueError, SafetensorError) as e:
        raise LandersError(f"Checkpoint '{directory}' is unreadable: {e}.") from None
    return tensors, state


# ---------------------------------------------------------------- optimizer state


def optimizer_state(optimizer: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """An optimizer's state_dict split into tensors (`optim.<param>.<key>`) and JSON."""
    sd = optimizer.state_dict()
    tensors, scalars = {}, {}
    for pid, entries in sd["state"].items():
        for key, value in entries.items():
            if torch.is_tensor(value):
                tensors[f"optim.{pid}.{key}"] = value
            else:
                scalars[f"{pid}.{key}"] = value
    return tensors, {"param_groups": sd["param_groups"], "scalars": scalars}


def load_optimizer_state(optimizer: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                         meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    for name, value in tensors.items():
        if name.startswith("optim."):
            _, pid, key = name.split(".", 2)
            state.setdefault(int(pid), {})[key] = value
    for name, value in meta["scalars"].items():
        pid, key = name.split(".", 1)
        state.setdefault(int(pid), {})[key] = value
    # JSON has no tuples: give back tuple-valued settings (Adam's betas) their type.
    groups = [{k: tuple(v) if isinstance(current.get(k), tuple) else v for k, v in saved.items()}
              for saved, current in zip(meta["param_groups"], optimizer.param_groups)]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
