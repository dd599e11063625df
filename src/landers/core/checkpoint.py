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
from safetensors.torch import load, save

from landers.core.files import read_json_object, write_failed
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


def _write_synced(path: Path, data: bytes) -> None:
    """Write `data` to a new file at `path` and fsync it; OSError (disk full) propagates."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        os.fsync(fd)
    except OSError as e:
        raise OSError(e.errno, e.strerror, str(path)) from None  # name the file in the message
    finally:
        os.close(fd)


def write_json_atomic(path: Path, data: Any) -> None:
    """Write JSON to `path` via a temporary file and a rename: a failed write (disk full,
    read-only filesystem) leaves the previous file as it was and raises `WriteFailed`."""
    tmp = path.with_name(path.name + ".tmp")
    try:
        _write_synced(tmp, (json.dumps(data, indent=2, sort_keys=False) + "\n").encode())
        os.replace(tmp, path)
    except OSError as e:
        _remove(tmp)
        raise write_failed(path, e) from None


def _remove(path: Path) -> None:
    try:
        shutil.rmtree(path) if path.is_dir() else path.unlink(missing_ok=True)
    except OSError:
        pass


def write(directory: Path, tensors: dict[str, torch.Tensor | np.ndarray], state: dict[str, Any]) -> None:
    """Atomically replace the checkpoint at `directory` with `tensors` and JSON `state`.

    A write that fails (disk full, I/O error, read-only filesystem) raises `WriteFailed` and
    leaves the previous checkpoint complete; the partial new one is removed to free the space.
    """
    directory = Path(directory)
    tmp, old = directory.with_name(directory.name + ".tmp"), directory.with_name(directory.name + ".old")
    # clone: safetensors refuses tensors that share memory (a shared actor/critic trunk).
    flat = {k: (torch.from_numpy(np.ascontiguousarray(v)) if isinstance(v, np.ndarray) else v)
            .detach().cpu().clone().contiguous() for k, v in tensors.items()}
    data = save(flat)
    state = {"format": FORMAT, "format_version": 1, **state, "tensors_sha256": hashlib.sha256(data).hexdigest()}
    try:
        if not directory.exists() and _complete(tmp):
            os.replace(tmp, directory)  # an earlier save died between its renames: keep its result
        _remove(tmp)
        tmp.mkdir(parents=True)
        _write_synced(tmp / TENSORS, data)
        _write_synced(tmp / STATE, (json.dumps(state, indent=2) + "\n").encode())
        if directory.exists():
            _remove(old)
            os.replace(directory, old)
        os.replace(tmp, directory)
        _fsync(directory.parent)
    except OSError as e:
        # The renames only ever leave a complete checkpoint under `directory` or `.old`, which
        # `find` looks at; only a half-written `.tmp` is removed.
        if not _complete(tmp):
            _remove(tmp)
        raise write_failed(Path(e.filename) if e.filename else directory, e) from None
    _remove(old)


def _problem(directory: Path) -> str | None:
    """What keeps `directory` from being a complete checkpoint, or None if it is one."""
    try:
        state = json.loads((directory / STATE).read_bytes())
    except FileNotFoundError:
        return "it is missing" if not directory.exists() else f"{STATE} is missing"
    except OSError as e:
        return f"{STATE} cannot be read ({e.strerror})"
    except (ValueError, RecursionError):
        return f"{STATE} is not valid JSON"
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        return f"{STATE} is not a landers checkpoint's"
    try:
        digest = _sha256(directory / TENSORS)
    except OSError as e:
        return f"{TENSORS} cannot be read ({e.strerror})"
    if state.get("tensors_sha256") != digest:
        return f"{TENSORS} does not match the SHA-256 recorded in {STATE} (truncated or altered)"
    return None


def _complete(directory: Path) -> bool:
    return _problem(directory) is None


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
    message = f"No complete checkpoint at '{path}': it is missing or corrupt"
    problem = _problem(path)
    if problem != "it is missing":
        message += f" ({problem})"
    best = path.with_name("best")
    if path.name == "last" and _complete(best):
        message += (f"; '{best}' is complete: give that path instead (landers eval, record and "
                    "train --resume accept it)")
    raise LandersError(message + ".")


def read(path: Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """(tensors, state) of the checkpoint at `path`; `state` has the keys and JSON types that
    landers reads. Loading never executes code."""
    directory = find(path)
    state = read_json_object(directory / STATE)
    try:
        tensors = load((directory / TENSORS).read_bytes())
    except (OSError, SafetensorError) as e:
        raise LandersError(f"Checkpoint '{directory}' is unreadable: {e}.") from None
    check_state(state, directory / STATE)
    return tensors, state


_NUMBER = (int, float)
# The keys of state.json that landers reads, with their JSON types.
STATE_TYPES: dict[str, tuple[type, ...]] = {
    "algo": (str,), "env_id": (str,), "run": (dict,), "observation_space": (dict,), "action_space": (dict,),
    "global_step": (int,), "updates": (int,), "train_time": _NUMBER, "best_eval": (*_NUMBER, type(None)),
    "next_eval": (int,), "optimizer": (dict, type(None)),
}


def check_state(state: dict[str, Any], where: Path) -> None:
    """One sentence when `state` lacks a key landers reads or holds the wrong JSON type there."""
    def expect(data: Any, key: str, types: tuple[type, ...], label: str) -> None:
        if key not in data:
            raise LandersError(f"'{where}' is corrupt: it has no '{label}'.")
        value = data[key]
        if isinstance(value, bool) or not isinstance(value, types):
            names = " or ".join("null" if t is type(None) else t.__name__ for t in types)
            raise LandersError(f"'{where}' is corrupt: '{label}' should be {names}, not {json.dumps(value)[:40]}.")

    for key, types in STATE_TYPES.items():
        expect(state, key, types, key)
    expect(state["run"], "hparams", (dict,), "run.hparams")
    if state["optimizer"] is not None:
        expect(state["optimizer"], "param_groups", (list,), "optimizer.param_groups")
        expect(state["optimizer"], "scalars", (dict,), "optimizer.scalars")
        for i, group in enumerate(state["optimizer"]["param_groups"]):
            expect({"group": group}, "group", (dict,), f"optimizer.param_groups[{i}]")


def check_tensors(tensors: dict[str, torch.Tensor], expected: dict[str, torch.Tensor], prefix: str,
                  where: Path | str) -> None:
    """One sentence when a tensor of `expected` (a state_dict) is missing from `tensors` under
    `prefix` or has another shape; the saved tensors are then from another network."""
    for name, like in expected.items():
        saved = tensors.get(prefix + name)
        if saved is None:
            raise LandersError(f"Checkpoint '{where}' lacks the tensor '{prefix + name}'; it is corrupt "
                               "or from another network.")
        # A 0-d statistic (a count) is saved with shape (1,): np.ascontiguousarray adds a dim.
        if tuple(saved.shape) != tuple(like.shape) and not (saved.numel() == 1 and np.size(like) == 1):
            raise LandersError(f"Checkpoint '{where}': tensor '{prefix + name}' has shape {tuple(saved.shape)}, "
                               f"this network needs {tuple(like.shape)}; it is corrupt or from another network.")


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
    # torch accepts moments of the wrong shape here and fails only at the next step.
    params = [p for group in optimizer.param_groups for p in group["params"]]
    for pid, entries in state.items():
        if not 0 <= pid < len(params):
            raise ValueError(f"optimizer state for parameter {pid} of {len(params)}")
        for key, value in entries.items():
            if torch.is_tensor(value) and value.dim() and value.shape != params[pid].shape:
                raise ValueError(f"optimizer tensor optim.{pid}.{key} has shape {tuple(value.shape)}, "
                                 f"its parameter {tuple(params[pid].shape)}")
    if len(meta["param_groups"]) != len(optimizer.param_groups):
        raise ValueError(f"{len(meta['param_groups'])} optimizer parameter groups, this optimizer has "
                         f"{len(optimizer.param_groups)}")
    # JSON has no tuples: give back tuple-valued settings (Adam's betas) their type.
    groups = [{k: tuple(v) if isinstance(current.get(k), tuple) else v for k, v in saved.items()}
              for saved, current in zip(meta["param_groups"], optimizer.param_groups, strict=True)]
    optimizer.load_state_dict({"state": state, "param_groups": groups})
