"""ONNX export: the policy as one graph from the env's raw observation to the env's action,
which onnxruntime runs without torch or landers.

The graph is observation inputs (`inputs.ObservationInput`) -> the agent's network, its
`policy_params` unchanged -> an action output (`outputs.action_output`). Export checks itself
before anything is written: onnxruntime runs the graph on observations from the env and from
the space, and its outputs must equal the agent's.
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

import numpy as np
import torch
from torch import nn

from landers.envs.spaces import space_to_json
from landers.errors import LandersError
from landers.policy.agent import Agent
from landers.export.inputs import ObservationInput
from landers.export.outputs import action_output

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
        first = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise LandersError(f"torch could not export this policy to ONNX: {first}") from None
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
    observation part, fed to the graph by name and to `predict` as the env would), else LandersError."""
    names = graph.inputs.names
    for start in range(0, len(leaves[0]), CHUNK):
        chunk = [leaf[start:start + CHUNK] for leaf in leaves]
        got = tuple(session.run(list(graph.outputs.names), dict(zip(names, chunk))))
        obs = agent.layout.nest(chunk)
        want = graph.outputs.reference(agent, obs)
        bad = graph.outputs.mismatched(agent, obs, want, got)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise LandersError(
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
    from landers import __version__

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
        except OSError as e:
            raise LandersError(f"Cannot write '{out}': {e.strerror or e}.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, 2 * samples, samples, meta)
