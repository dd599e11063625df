"""ONNX export: the policy as one graph from the env's raw observation to the env's action,
which onnxruntime runs without torch or landers.

The graph has three parts:
- the observation inputs (`ObservationInput`): one input per leaf of the observation space
  (`obs` for a plain one; `obs.position`, `obs.0`, ... inside a Dict or Tuple), each in the
  leaf's dtype and shape, turned into what the network receives exactly as `Agent.predict`
  does it (`ObsLayout`'s flattening and observation normalization inside), and how to sample
  observations for the self-check; a new observation space plugs into `ObsLayout`;
- the agent's network, its `policy_params` unchanged;
- an action output (`action_output`, where a new action space plugs in): the env's action, or with `stochastic_params` the
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
from landers.errors import LandersError, WorkFailed, WriteFailed, first_line
from landers.policy.agent import Agent
from landers.policy.spaces import ObsLayout

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


def input_name(path: tuple) -> str:
    """The graph input of one leaf: `obs` for a whole observation, `obs.position`, `obs.0`, ..."""
    return "obs" + "".join(f".{key}" for key in path)


def _torch_dtype(dtype) -> torch.dtype:
    return torch.from_numpy(np.zeros(0, dtype)).dtype


class ObservationInput(nn.Module):
    """The observation as the env returns it, one graph input per leaf of a Dict / Tuple (each in
    its own dtype and shape), turned into what the network receives exactly as `Agent.predict`
    does it in numpy (`ObsLayout.flatten`, then `ObsNormalizer`):

    - a whole image stays uint8 (the CNN scales it);
    - otherwise each leaf becomes float32 columns, categories counted from 0, and the Box leaves
      are normalized with the run's statistics in float64, as `ObsNormalizer` does, so that the
      network sees bit-identical inputs; the columns are concatenated in the layout's order.
    """

    def __init__(self, layout: ObsLayout, obs_norm):
        super().__init__()
        self.layout, self.parts = layout, layout.parts
        self.names = tuple(input_name(p.path) for p in self.parts)
        if len(set(self.names)) < len(self.names):
            raise LandersError(f"Export names one graph input per observation part, and the parts of "
                               f"{layout.space} give clashing names {list(self.names)}; rename the Dict keys.")
        # Per leaf: the start its categories count from, and the normalization statistics of its
        # columns, as buffers so that they become constants of the graph.
        for i, part in enumerate(self.parts):
            self.register_buffer(f"start{i}", torch.as_tensor(np.asarray(part.start, np.int64).reshape(-1)))
        self.norm_parts: set[int] = set()
        if obs_norm is not None and not layout.image:  # an image's "normalization" only casts to float
            # The statistics cover the Box parts' columns in layout order (`vector_columns`), or every
            # column when those are all of them: one slice per normalized part.
            mean, std = obs_norm.rms.mean, np.sqrt(obs_norm.rms.var + 1e-8)
            at = 0
            for i, part in enumerate(self.parts):
                if layout.vector_columns is None or part.kind == "vector":
                    self.register_buffer(f"mean{i}", torch.as_tensor(mean[at:at + part.size], dtype=torch.float64))
                    self.register_buffer(f"std{i}", torch.as_tensor(std[at:at + part.size], dtype=torch.float64))
                    self.norm_parts.add(i)
                    at += part.size
            self.clip = float(obs_norm.clip)

    def columns(self, leaves: list[torch.Tensor]) -> list[torch.Tensor]:
        """Each leaf `(B, *shape)` -> its float32 columns `(B, size)`."""
        out = []
        for i, (part, leaf) in enumerate(zip(self.parts, leaves)):
            x = leaf.reshape(-1, part.size)
            x = (x - getattr(self, f"start{i}")).float() if part.kind == "onehot" else x.float()
            if i in self.norm_parts:
                mean, std = getattr(self, f"mean{i}"), getattr(self, f"std{i}")
                x = ((x.double() - mean) / std).clamp(-self.clip, self.clip).float()
            out.append(x)
        return out

    def forward(self, *leaves: torch.Tensor) -> torch.Tensor:
        if self.layout.image:
            return leaves[0]
        columns = self.columns(list(leaves))
        return columns[0] if len(columns) == 1 else torch.cat(columns, 1)

    def example(self, batch: int) -> tuple[torch.Tensor, ...]:
        """Valid observations to trace with (a one-hot of a category out of range would fail)."""
        return tuple(torch.from_numpy(leaf) for leaf in self.sample(batch, np.random.default_rng(0)))

    def sample(self, n: int, rng: np.random.Generator) -> list[np.ndarray]:
        """`n` observations uniform within each leaf's space (Box bounds cut at ±SAMPLE_BOUND)."""
        return [_sample_leaf(p.space, n, rng) for p in self.parts]

    def describe(self) -> list[dict]:
        """The inputs in the graph's order, for the metadata."""
        return [{"name": name, "path": list(p.path), "dtype": np.dtype(p.space.dtype).name, "shape": list(p.shape)}
                for name, p in zip(self.names, self.parts)]


def _sample_leaf(space: gym.Space, n: int, rng: np.random.Generator) -> np.ndarray:
    if isinstance(space, gym.spaces.Box):
        low = np.maximum(space.low.astype(np.float64), -SAMPLE_BOUND)
        high = np.minimum(space.high.astype(np.float64), SAMPLE_BOUND)
        if np.issubdtype(space.dtype, np.integer):
            return np.minimum(np.floor(rng.uniform(low, high + 1, (n, *space.shape))), high).astype(space.dtype)
        return rng.uniform(low, high, (n, *space.shape)).astype(space.dtype)
    if isinstance(space, gym.spaces.Discrete):
        return rng.integers(space.start, space.start + space.n, n).astype(space.dtype)
    if isinstance(space, gym.spaces.MultiDiscrete):
        return (space.start + rng.integers(0, space.nvec, (n, *space.shape))).astype(space.dtype)
    return rng.integers(0, 2, (n, *space.shape)).astype(space.dtype)  # MultiBinary: the layout takes no other


# ---------------------------------------------------------------- action outputs


def _far(want: np.ndarray, got: np.ndarray) -> np.ndarray:
    """Per observation: does any entry differ by more than TOLERANCE (or the shapes)?"""
    n = len(want)
    if got.shape != want.shape:
        return np.ones(n, bool)
    close = np.isclose(got.reshape(n, -1).astype(np.float64), want.reshape(n, -1).astype(np.float64),
                       rtol=TOLERANCE, atol=TOLERANCE)
    return ~close.all(-1)


def _numpy(params) -> tuple[np.ndarray, ...]:
    return tuple(p.detach().cpu().numpy() for p in (params if isinstance(params, tuple) else (params,)))


class ParamsOutput(nn.Module):
    """The distribution's parameters (`--stochastic-params`): each parameter tensor in the action
    space's shape, or for MultiDiscrete the logits cut into one output per dimension."""

    def __init__(self, names: tuple[str, ...], meaning: str, shape: tuple = (), split: list[int] | None = None):
        super().__init__()
        self.names, self.meaning, self.shape, self.split = names, meaning, tuple(shape), split

    def forward(self, params):
        params = params if isinstance(params, tuple) else (params,)
        if self.split:
            return tuple(params[0].split(self.split, -1))
        outputs = tuple(p.reshape(-1, *self.shape) for p in params)
        return outputs if len(outputs) > 1 else outputs[0]

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        params = _numpy(agent.policy_params(obs))
        if self.split:
            return tuple(np.split(params[0], np.cumsum(self.split)[:-1], axis=-1))
        return tuple(p.reshape(-1, *self.shape) for p in params)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        return np.any([_far(w, g) for w, g in zip(want, got, strict=True)], axis=0)


class DiscreteAction(nn.Module):
    """Discrete and MultiDiscrete actions: the most likely category of each dimension, numbered
    from that dimension's `start`, in the space's shape and dtype."""

    names = ("action",)

    def __init__(self, space: gym.spaces.Discrete | gym.spaces.MultiDiscrete):
        super().__init__()
        self.nvec = [int(n) for n in np.asarray(space.n if isinstance(space, gym.spaces.Discrete) else space.nvec).reshape(-1)]
        self.register_buffer("start", torch.as_tensor(np.asarray(space.start, np.int64).reshape(-1)))
        self.shape, self.dtype = tuple(space.shape), space.dtype
        self.out_dtype = _torch_dtype(space.dtype)
        self.meaning = (f"action: argmax of the logits + {int(space.start)} ({np.dtype(space.dtype).name})"
                        if isinstance(space, gym.spaces.Discrete) else
                        f"action: argmax of each dimension's logits + its start, shape {list(self.shape)} "
                        f"({np.dtype(space.dtype).name})")

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        index = torch.stack([part.argmax(-1) for part in logits.split(self.nvec, -1)], -1)
        return (index + self.start).reshape(-1, *self.shape).to(self.out_dtype)

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs), self.dtype),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        """Actions must be identical, except in a dimension where the two chosen categories' logits
        tie within float rounding: such a tie may break either way in either runtime."""
        (want,), (got,) = want, got
        n, start = len(want), self.start.numpy()
        if got.shape != want.shape:
            return np.ones(n, bool)
        want, got = want.reshape(n, -1).astype(np.int64) - start, got.reshape(n, -1).astype(np.int64) - start
        bad = want != got
        tie_candidates = bad & (got >= 0) & (got < np.asarray(self.nvec))
        if tie_candidates.any():
            logits = _numpy(agent.policy_params(obs))[0]
            rows, dims = np.nonzero(tie_candidates)
            offsets = np.cumsum([0] + self.nvec[:-1])[dims]
            mine, theirs = logits[rows, offsets + want[rows, dims]], logits[rows, offsets + got[rows, dims]]
            bad[rows, dims] = ~np.isclose(mine, theirs, rtol=TOLERANCE, atol=TOLERANCE)
        return bad.any(-1)


class BinaryAction(nn.Module):
    """MultiBinary actions: each bit set where its logit is positive, int8 in the space's shape."""

    names = ("action",)

    def __init__(self, space: gym.spaces.MultiBinary):
        super().__init__()
        self.shape = tuple(space.shape)
        self.meaning = f"action: 1 where the bit's logit > 0, shape {list(self.shape)} (int8)"

    def forward(self, logits: torch.Tensor) -> torch.Tensor:
        return (logits > 0).to(torch.int8).reshape(-1, *self.shape)

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs), np.int8),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        """Bits must be identical, except where the logit is zero within float rounding."""
        (want,), (got,) = want, got
        n = len(want)
        if got.shape != want.shape:
            return np.ones(n, bool)
        bad = want.reshape(n, -1) != got.reshape(n, -1)
        if bad.any():
            logits = _numpy(agent.policy_params(obs))[0].reshape(n, -1)
            bad &= np.abs(logits) > TOLERANCE
        return bad.any(-1)


class BoxAction(nn.Module):
    """The Gaussian's mean in the space's shape, clipped to the bounds, in the space's dtype.

    Clipping happens in the dtype numpy's `np.clip(float32 actions, low, high)` computes in
    (`Agent.predict`), so that float64 bounds such as 0.1 clip the same way."""

    names = ("action",)

    def __init__(self, space: gym.spaces.Box):
        super().__init__()
        clip_dtype = np.result_type(np.float32, space.dtype)
        self.register_buffer("low", torch.from_numpy(space.low.astype(clip_dtype)))
        self.register_buffer("high", torch.from_numpy(space.high.astype(clip_dtype)))
        self.shape, self.out_dtype = tuple(space.shape), _torch_dtype(space.dtype)
        self.meaning = f"action: the mean clipped to the bounds, shape {list(self.shape)} ({space.dtype})"

    def forward(self, params: tuple[torch.Tensor, torch.Tensor]) -> torch.Tensor:
        mean = params[0].reshape(-1, *self.shape).to(self.low.dtype)
        return torch.minimum(torch.maximum(mean, self.low), self.high).to(self.out_dtype)

    def reference(self, agent: Agent, obs) -> tuple[np.ndarray, ...]:
        return (np.asarray(agent.predict(obs)),)

    def mismatched(self, agent: Agent, obs, want, got) -> np.ndarray:
        return _far(want[0], got[0])


def action_output(space: gym.Space, stochastic_params: bool) -> nn.Module:
    """The graph output for an action space: add a space here."""
    if isinstance(space, gym.spaces.Discrete):
        if stochastic_params:
            return ParamsOutput(("logits",), f"logits (float32); the action is the sampled index + {int(space.start)}",
                                (int(space.n),))
        return DiscreteAction(space)
    if isinstance(space, gym.spaces.MultiDiscrete):
        if stochastic_params:
            nvec = [int(n) for n in space.nvec.reshape(-1)]
            return ParamsOutput(
                tuple(f"logits.{i}" for i in range(len(nvec))),
                f"logits.0 ... logits.{len(nvec) - 1} (float32, {nvec} categories): one categorical per dimension "
                f"of the action, in row-major order; add each dimension's start to its sampled index and "
                f"reshape to {list(space.shape)}", split=nvec)
        return DiscreteAction(space)
    if isinstance(space, gym.spaces.MultiBinary):
        if stochastic_params:
            return ParamsOutput(("logits",), f"logits (float32, shape {list(space.shape)}): one Bernoulli per bit, "
                                "the bit is 1 with probability sigmoid(logit)", space.shape)
        return BinaryAction(space)
    if isinstance(space, gym.spaces.Box):
        if stochastic_params:
            return ParamsOutput(("mean", "log_std"), f"mean and log_std of a diagonal Gaussian (float32, shape "
                                f"{list(space.shape)}), unclipped; clip samples to the action space's bounds",
                                space.shape)
        return BoxAction(space)
    # `Agent` refuses every other action space (spaces.env_actions), so no agent gets here.
    raise LandersError(f"Export does not know {type(space).__name__} actions.")


# ---------------------------------------------------------------- the graph


class PolicyGraph(nn.Module):
    """observation input -> the agent's network -> action output."""

    def __init__(self, agent: Agent, stochastic_params: bool):
        super().__init__()
        self.inputs = ObservationInput(agent.layout, agent.obs_norm)
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
        raise WorkFailed(f"torch could not export this policy to ONNX: {first_line(e)}.") from None
    return program.model_proto


def env_observations(agent: Agent, n: int, seed: int) -> list[np.ndarray]:
    """`n` observations from the agent's env, one batch per observation part, the agent acting
    with 10% random actions so that it also visits states its own policy avoids."""
    env = agent.make_env()
    rng = np.random.default_rng(seed)
    env.action_space.seed(seed)
    layout = agent.layout
    try:
        obs, _ = env.reset(seed=seed)
        seen = []
        while len(seen) < n:
            seen.append(layout.leaves(obs))
            action = env.action_space.sample() if rng.random() < 0.1 else agent.predict(obs)
            obs, _, terminated, truncated, _ = env.step(action)
            if terminated or truncated:
                obs, _ = env.reset()
    finally:
        env.close()
    # In each leaf space's dtype: a Discrete part may come back as a Python int.
    return [np.asarray([leaves[i] for leaves in seen], part.space.dtype) for i, part in enumerate(layout.parts)]


@dataclass(frozen=True)
class ExportResult:
    path: Path
    checked: int  # observations onnxruntime and the agent agreed on
    from_env: int
    metadata: dict[str, str]


def check(session, graph: PolicyGraph, agent: Agent, leaves: list[np.ndarray]) -> None:
    """onnxruntime's outputs equal the agent's on every observation (`leaves`: one batch per
    observation part, fed to the graph by name and to `predict` as the env would), else WorkFailed."""
    names = graph.inputs.names
    for start in range(0, len(leaves[0]), CHUNK):
        chunk = [leaf[start:start + CHUNK] for leaf in leaves]
        got = tuple(session.run(list(graph.outputs.names), dict(zip(names, chunk))))
        obs = agent.layout.nest(chunk)
        want = graph.outputs.reference(agent, obs)
        bad = graph.outputs.mismatched(agent, obs, want, got)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise WorkFailed(
                f"The exported graph disagrees with the agent on {int(bad.sum())} of {len(chunk[0])} observations "
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
    from landers.version import __version__

    data = {
        "env_id": agent.env_id,
        "algo": str(agent.info.get("algo", "")),
        "observation_space": strict_json(space_to_json(agent.observation_space)),
        "action_space": strict_json(space_to_json(agent.action_space)),
        "inputs": json.dumps(graph.inputs.describe()),
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
        sampled = graph.inputs.sample(samples, rng)
        check(session, graph, agent, [np.concatenate(pair) for pair in zip(from_env, sampled)])
        try:
            tmp.write_bytes(data)
            os.replace(tmp, out)
        except OSError as e:  # disk full, I/O error: the work failed, not its input
            raise WriteFailed(f"Cannot write '{out}': {e.strerror or e}.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, 2 * samples, samples, meta)
