"""ONNX export: the policy as one graph from the env's raw observation to the env's action,
which onnxruntime runs without torch or landers.

The graph has three parts, and a new space plugs in at one place:
- an observation input (`observation_input`): the graph's inputs, what the network receives
  (observation normalization inside, exactly as `Agent.predict` does it), and how to sample
  observations for the self-check;
- the agent's network, its `policy_params` unchanged;
- an action output (`action_output`): the env's action, or with `stochastic_params` the
  distribution's parameters, and how to compare them with the agent's own.

Export checks itself before anything is written: onnxruntime runs the graph on observations
from the env and from the space, and its outputs must equal the agent's.
"""

from __future__ import annotations

import contextlib
import copy
import json
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path

import gymnasium as gym
import numpy as np
import torch
from torch import nn

from landers.envs.spaces import space_to_json
from landers.errors import LandersError
from landers.policy.agent import Agent
from landers.policy.spaces import is_image

# Bounds wider than this are cut here when sampling the observation space: float32-max bounds
# stand for "unbounded", and a network fed 1e38 overflows to inf and NaN in both runtimes.
SAMPLE_BOUND = 1e3
# Continuous outputs must agree this closely (absolute and relative); float32 matrix products
# summed in another order differ by about 1e-7 relative.
TOLERANCE = 1e-5
CHUNK = 256  # observations per check batch: a CNN on thousands of frames at once needs GBs


def require_onnx():
    """(onnx, onnxruntime), or one sentence on what to install."""
    try:
        import onnx
        import onnxruntime
        import onnxscript  # noqa: F401  (torch's exporter needs it)
    except ImportError as e:
        raise LandersError(f"Export needs onnx, onnxscript and onnxruntime ({e.name} is missing): "
                           "pip install 'landers[export]'.") from None
    return onnx, onnxruntime


# ---------------------------------------------------------------- observation inputs


class BoxInput(nn.Module):
    """A Box observation (a flat vector or stacked uint8 frames) as the env returns it.

    Vectors are cast to float32 and normalized with the run's statistics in float64, as
    `ObsNormalizer` does, so the network sees bit-identical inputs; frames stay uint8 (the
    CNN scales them)."""

    names = ("obs",)

    def __init__(self, space: gym.spaces.Box, obs_norm):
        super().__init__()
        self.space, self.image = space, is_image(space)
        self.normalized = obs_norm is not None
        if self.normalized:
            self.register_buffer("mean", torch.as_tensor(obs_norm.rms.mean, dtype=torch.float64))
            self.register_buffer("std", torch.as_tensor(np.sqrt(obs_norm.rms.var + 1e-8), dtype=torch.float64))
            self.clip = float(obs_norm.clip)

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        x = obs if self.image else obs.float()
        if self.normalized:
            x = ((x.double() - self.mean) / self.std).clamp(-self.clip, self.clip).float()
        return x

    def example(self, batch: int) -> tuple[torch.Tensor, ...]:
        dtype = torch.from_numpy(np.zeros(0, self.space.dtype)).dtype
        return (torch.zeros((batch, *self.space.shape), dtype=dtype),)

    def sample(self, n: int, rng: np.random.Generator) -> np.ndarray:
        """`n` observations uniform within the bounds (cut at ±SAMPLE_BOUND)."""
        low = np.maximum(self.space.low.astype(np.float64), -SAMPLE_BOUND)
        high = np.minimum(self.space.high.astype(np.float64), SAMPLE_BOUND)
        if np.issubdtype(self.space.dtype, np.integer):
            return np.minimum(np.floor(rng.uniform(low, high + 1, (n, *self.space.shape))), high).astype(self.space.dtype)
        return rng.uniform(low, high, (n, *self.space.shape)).astype(self.space.dtype)


def observation_input(space: gym.Space, obs_norm) -> BoxInput:
    """The graph input for an observation space: add a space here."""
    if isinstance(space, gym.spaces.Box):
        return BoxInput(space, obs_norm)
    raise LandersError(f"Export does not support {type(space).__name__} observations yet.")


# ---------------------------------------------------------------- action outputs


def _far(want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Per observation: does any entry differ by more than TOLERANCE?"""
    n = len(want)
    close = np.isclose(got.reshape(n, -1).astype(np.float64), want.reshape(n, -1).astype(np.float64),
                       rtol=TOLERANCE, atol=TOLERANCE)
    return ~close.all(-1)


class ParamsOutput(nn.Module):
    """The distribution's parameters as the network computes them (`--stochastic-params`)."""

    def __init__(self, names: tuple[str, ...], meaning: str):
        super().__init__()
        self.names, self.meaning = names, meaning

    def forward(self, params):
        return params

    def reference(self, agent: Agent, obs: np.ndarray) -> tuple[np.ndarray, ...]:
        params = agent.policy_params(obs)
        return tuple(p.detach().cpu().numpy() for p in (params if isinstance(params, tuple) else (params,)))

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        return np.any([_far(w, g) for w, g in zip(want, got)], axis=0)


class DiscreteAction(nn.Module):
    """The most likely action, numbered from the space's `start`."""

    names = ("action",)

    def __init__(self, space: gym.spaces.Discrete):
        super().__init__()
        self.start, self.n = int(space.start), int(space.n)
        self.meaning = f"action: argmax of the logits + {self.start} (int64)"

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return logits.argmax(-1) + self.start

    def reference(self, agent: Agent, obs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs), np.int64),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        """Actions must be identical, except where the two chosen actions' logits tie within
        float rounding: such a tie may break either way in either runtime."""
        (want,), (got,) = want, got
        bad = want != got
        index = got - self.start
        tie_candidates = bad & (index >= 0) & (index < self.n)
        if tie_candidates.any():
            logits = agent.policy_params(obs[tie_candidates]).cpu().numpy()
            rows = np.arange(len(logits))
            mine, theirs = logits[rows, want[tie_candidates] - self.start], logits[rows, index[tie_candidates]]
            bad[tie_candidates] = ~np.isclose(mine, theirs, rtol=TOLERANCE, atol=TOLERANCE)
        return bad


class BoxAction(nn.Module):
    """The Gaussian's mean clipped to the bounds, in the space's dtype.

    Clipping happens in the dtype numpy's `np.clip(float32 actions, low, high)` computes in
    (`Agent.predict`), so that float64 bounds such as 0.1 clip the same way."""

    names = ("action",)

    def __init__(self, space: gym.spaces.Box):
        super().__init__()
        clip_dtype = np.result_type(np.float32, space.dtype)
        self.register_buffer("low", torch.from_numpy(space.low.astype(clip_dtype)))
        self.register_buffer("high", torch.from_numpy(space.high.astype(clip_dtype)))
        self.out_dtype = torch.from_numpy(np.zeros(0, space.dtype)).dtype
        self.meaning = f"action: the mean clipped to the bounds ({space.dtype})"

    def forward(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean = params[0].to(self.low.dtype)
        return torch.minimum(torch.maximum(mean, self.low), self.high).to(self.out_dtype)

    def reference(self, agent: Agent, obs: np.ndarray) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs)),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        return _far(want[0], got[0])


def action_output(space: gym.Space, stochastic_params: bool) -> nn.Module:
    """The graph output for an action space: add a space here."""
    if isinstance(space, gym.spaces.Discrete):
        if stochastic_params:
            return ParamsOutput(("logits",), f"logits (float32); the action is the sampled index + {int(space.start)}")
        return DiscreteAction(space)
    if isinstance(space, gym.spaces.Box) and len(space.shape) == 1:
        if stochastic_params:
            return ParamsOutput(("mean", "log_std"), "mean and log_std of a diagonal Gaussian (float32), "
                                "unclipped; clip samples to the action space's bounds")
        return BoxAction(space)
    raise LandersError(f"Export does not support {type(space).__name__} actions yet.")


# ---------------------------------------------------------------- the graph


class PolicyGraph(nn.Module):
    """observation input -> the agent's network -> action output."""

    def __init__(self, agent: Agent, stochastic_params: bool):
        super().__init__()
        self.inputs = observation_input(agent.observation_space, agent.obs_norm)
        self.model = copy.deepcopy(agent.model).cpu().eval()
        self.outputs = action_output(agent.action_space, stochastic_params)

    def forward(self, *obs: torch.Tensor):
        return self.outputs(self.model.policy_params(self.inputs(*obs)))


@contextlib.contextmanager
def _quiet_exporter():
    """torch's exporter logs and warns about things users cannot act on (torchvision ops,
    deprecations inside torch): keep the command's output to its own lines."""
    logger = logging.getLogger("torch.onnx")
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        logger.setLevel(level)


def to_onnx(graph: PolicyGraph):
    """The graph as an onnx ModelProto with a dynamic batch axis, by torch's torch.export-based
    exporter (the default and recommended one since torch 2.9; the TorchScript one is deprecated)."""
    batch = torch.export.Dim("batch")
    example = graph.inputs.example(2)  # not 1: torch.export would specialize a batch of 1 away
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(graph, example, dynamo=True, input_names=list(graph.inputs.names),
                                        output_names=list(graph.outputs.names), verbose=False,
                                        dynamic_shapes=(tuple({0: batch} for _ in example),))
    except Exception as e:  # the exporter's errors are pages long: keep its first line
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LandersError(f"torch could not export this policy to ONNX: {first}") from None
    return program.model_proto


def env_observations(agent: Agent, n: int, seed: int) -> np.ndarray:
    """`n` observations from the agent's env, the agent acting with 10% random actions so
    that it also visits states its own policy avoids."""
    env = agent.make_env()
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    try:
        obs, _ = env.reset(seed=seed)
        seen = []
        while len(seen) < n:
            seen.append(obs)
            action = env.action_space.sample() if rng.random() < 0.1 else agent.predict(obs)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    return np.stack(seen)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    checked: int  # observations onnxruntime and the agent agreed on
    from_env: int
    metadata: dict[str, str]


def check(session, graph: PolicyGraph, agent: Agent, obs: np.ndarray) -> None:
    """onnxruntime's outputs equal the agent's on every observation, else LandersError."""
    for start in range(0, len(obs), CHUNK):
        chunk = obs[start:start + CHUNK]
        got = tuple(session.run(list(graph.outputs.names), {graph.inputs.names[0]: chunk}))
        want = graph.outputs.reference(agent, chunk)
        bad = graph.outputs.mismatched(agent, chunk, want, got)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LandersError(
                f"The exported graph disagrees with the agent on {int(bad.sum())} of {len(chunk)} observations "
                f"(e.g. {[g[i].tolist() for g in got]} instead of {[w[i].tolist() for w in want]}); "
                "no file was written.")


def strict_json(data) -> str:
    """JSON that every parser reads: JavaScript's `JSON.parse` rejects Python's `Infinity`, so
    unbounded space bounds become the strings "inf" and "-inf" (which `float()` reads back)."""
    def finite(x):
        if isinstance(x, float) and not np.isfinite(x):
            return str(x)
        if isinstance(x, dict):
            return {k: finite(v) for k, v in x.items()}
        return [finite(v) for v in x] if isinstance(x, list) else x
    return json.dumps(finite(data), allow_nan=False)


def metadata(agent: Agent, graph: PolicyGraph, final_eval: dict | None) -> dict[str, str]:
    """What a user of the file needs to know, as ONNX metadata properties (strings)."""
    from landers import __version__

    data = {
        "env_id": agent.env_id,
        "algo": str(agent.info.get("algo", "")),
        "observation_space": strict_json(space_to_json(agent.observation_space)),
        "action_space": strict_json(space_to_json(agent.action_space)),
        "outputs": graph.outputs.meaning,
        "landers_version": __version__,
        "training_steps": str(agent.info.get("global_step", "")),
    }
    if final_eval is not None:
        data["final_eval"] = strict_json(final_eval)
    return data


def export(agent: Agent, out: str | Path, *, stochastic_params: bool = False, final_eval: dict | None = None,
           samples: int = 2048, seed: int = 0) -> ExportResult:
    """Write `agent` as one ONNX graph to `out`, after onnxruntime has matched the agent on
    `samples` observations from its env and `samples` sampled from its observation space.
    A failed check leaves no file behind (the file is written only after it, then renamed)."""
    onnx, onnxruntime = require_onnx()
    if next(agent.model.parameters(), None) is None:
        raise LandersError("A random policy has nothing to export: its actions do not depend on the observation.")
    out = Path(out)
    if out.is_dir():
        raise LandersError(f"Cannot write '{out}': it is a directory; give a file name such as {out / 'policy.onnx'}.")
    tmp = out.with_name(f".{out.name}.partial")
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp.touch()  # fail before the slow part if `out` cannot be written
    except FileExistsError:
        raise LandersError(f"Cannot write '{out}': '{out.parent}' is a file, not a directory.") from None
    except OSError as e:
        raise LandersError(f"Cannot write '{out}': {e.strerror or e}.") from None
    try:
        graph = PolicyGraph(agent, stochastic_params)
        model = to_onnx(graph)
        meta = metadata(agent, graph, final_eval)
        onnx.helper.set_model_props(model, meta)
        model.doc_string = f"landers policy for {agent.env_id}: {graph.outputs.meaning}"
        data = model.SerializeToString()
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = 1  # the check's batches are small; threads only contend
        session = onnxruntime.InferenceSession(data, options, providers=["CPUExecutionProvider"])
        rng = np.random.default_rng(seed)
        from_env = env_observations(agent, samples, seed)
        check(session, graph, agent, np.concatenate([from_env, graph.inputs.sample(samples, rng)]))
        try:
            tmp.write_bytes(data)
            os.replace(tmp, out)
        except OSError as e:
            raise LandersError(f"Cannot write '{out}': {e.strerror or e}.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, 2 * samples, samples, meta)
