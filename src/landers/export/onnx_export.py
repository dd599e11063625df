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
from landers.errors import LandersError, WorkFailed, WriteFailed, first_line
from landers.export.inputs import ObservationInput, mask_input
from landers.export.outputs import TOLERANCE, action_output
from landers.policy.agent import Agent

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
    """observation inputs [+ action mask] [+ state_in] -> the agent's network -> action output
    [+ state_out]. A recurrent agent's state goes in and comes out whole (zeros begin an
    episode); a mask input (the Dict observation's `obs.action_mask` leaf, or `action_mask` for a
    mask from the env's info or method) makes the actions it forbids impossible."""

    def __init__(self, agent: Agent, stochastic_params: bool):
        super().__init__()
        self.inputs = ObservationInput(agent.layout, agent.obs_norm)
        self.model = copy.deepcopy(agent.model).cpu().eval()
        self.outputs = action_output(agent.action_space, stochastic_params)
        self.recurrent = agent.recurrent
        self.mask = mask_input(agent)
        self.state_size = agent.model.state_size if self.recurrent else 0
        self.input_names = (self.inputs.names + ((self.mask.name,) if self.mask else ())
                            + (("state_in",) if self.recurrent else ()))
        self.output_names = tuple(self.outputs.names) + (("state_out",) if self.recurrent else ())

    def forward(self, *args: torch.Tensor):
        n = len(self.inputs.names)
        obs, rest = self.inputs(*args[:n]), list(args[n:])
        mask = (rest.pop(0) != 0) if self.mask else None
        if self.recurrent:
            params, state = self.model.policy_params(obs, rest.pop(0), mask)
            out = self.outputs(params)
            return (*(out if isinstance(out, tuple) else (out,)), state)
        params = self.model.policy_params(obs) if mask is None else self.model.policy_params(obs, mask)
        return self.outputs(params)

    def example(self, batch: int) -> tuple[torch.Tensor, ...]:
        extra = (torch.ones(batch, self.mask.width, dtype=self.mask.dtype),) if self.mask else ()
        state = (torch.zeros(batch, self.state_size),) if self.recurrent else ()
        return self.inputs.example(batch) + extra + state


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
    example = graph.example(2)  # not 1: torch.export would specialize a batch of 1 away
    try:
        with _quiet_exporter(), torch.no_grad():
            program = torch.onnx.export(graph, example, dynamo=True, input_names=list(graph.input_names),
                                        output_names=list(graph.output_names), verbose=False,
                                        dynamic_shapes=(tuple({0: batch} for _ in example),))
    except Exception as e:  # the exporter's errors are pages long: keep its first line
        raise WorkFailed(f"torch could not export this policy to ONNX: {first_line(e)}.") from None
    return program.model_proto


@dataclass
class Steps:
    """Inputs to check the graph on: one batch per observation part, and the masks and states
    that go with them (None where the graph has no such input)."""

    leaves: list[np.ndarray]
    masks: np.ndarray | None = None
    states: np.ndarray | None = None

    def __len__(self) -> int:
        return len(self.leaves[0])

    def cut(self, start: int, stop: int) -> Steps:
        part = lambda a: None if a is None else a[start:stop]  # noqa: E731
        return Steps([leaf[start:stop] for leaf in self.leaves], part(self.masks), part(self.states))

    @staticmethod
    def join(a: Steps, b: Steps) -> Steps:
        both = lambda x, y: None if x is None else np.concatenate([x, y])  # noqa: E731
        return Steps([np.concatenate(pair) for pair in zip(a.leaves, b.leaves, strict=False)], both(a.masks, b.masks),
                     both(a.states, b.states))


def env_steps(agent: Agent, graph: PolicyGraph, n: int, seed: int, session=None) -> Steps:
    """`n` steps of the agent's env, whole episodes, the agent acting with 10% random (allowed)
    actions so that it also visits states its own policy avoids: their observations, masks and
    the agent's states. With `session` (a recurrent graph) the graph also steps along with its own
    state from each episode's start, and must choose the agent's action at every step."""
    env = agent.make_env()
    rng = np.random.default_rng(seed)
    layout = agent.layout
    leaves, masks, states = [], [], []
    try:
        obs, info = env.reset(seed=seed)
        state = graph_state = agent.initial_state(1) if agent.recurrent else None
        while len(leaves) < n:
            mask = agent.env_mask(env, obs, info)
            if mask is None and graph.mask:
                mask = layout.mask(obs)
            leaves.append(layout.leaves(obs))
            masks.append(None if mask is None else np.asarray(mask, bool).reshape(-1))
            states.append(None if state is None else state[0])
            batch = Steps([np.asarray([leaf], p.space.dtype) for leaf, p in zip(leaves[-1], layout.parts, strict=False)],
                          None if mask is None else masks[-1][None], state)
            if agent.recurrent:
                action, state = agent.predict(obs, state=state[0], action_mask=mask)
                state = state[None]
                if session is not None:
                    graph_state = check(session, graph, agent, Steps(batch.leaves, batch.masks, graph_state), whole=True)
                    if not np.allclose(graph_state, state, rtol=TOLERANCE, atol=TOLERANCE):
                        raise WorkFailed("The exported graph's own state drifted from the agent's within an episode "
                                           f"(step {len(leaves)}); no file was written.")
            else:
                action = agent.predict(obs, action_mask=mask)
            if rng.random() < 0.1:
                action = random_action(env.action_space, masks[-1], rng)
            obs, _, terminated, truncated, info = env.step(action)
            if terminated or truncated:
                obs, info = env.reset()
                state = graph_state = agent.initial_state(1) if agent.recurrent else None
    finally:
        env.close()
    # In each leaf space's dtype: a Discrete part may come back as a Python int.
    return Steps([np.asarray([step[i] for step in leaves], part.space.dtype) for i, part in enumerate(layout.parts)],
                 None if graph.mask is None else np.asarray(masks), None if not agent.recurrent else np.asarray(states))


def random_action(space, mask: np.ndarray | None, rng: np.random.Generator):
    """A uniformly random action, among the allowed ones where there is a mask."""
    if mask is None:
        space.seed(int(rng.integers(2**31)))
        return space.sample()
    sizes = [int(space.n)] if hasattr(space, "n") else [int(n) for n in space.nvec.reshape(-1)]
    picks = [int(rng.choice(np.flatnonzero(part))) for part in np.split(mask, np.cumsum(sizes)[:-1])]
    return picks[0] + int(space.start) if hasattr(space, "n") else (np.asarray(picks) + space.start.reshape(-1)).reshape(space.shape)


@dataclass(frozen=True)
class ExportResult:
    path: Path
    checked: int  # observations onnxruntime and the agent agreed on
    from_env: int
    metadata: dict[str, str]


class Bound:
    """The agent with the masks and states of one batch bound, as the action outputs call it."""

    def __init__(self, agent: Agent, masks: np.ndarray | None, states: np.ndarray | None):
        self.agent, self.masks, self.states = agent, masks, states

    def predict(self, obs):
        if self.agent.recurrent:
            return self.agent.predict(obs, state=self.states, action_mask=self.masks)[0]
        return self.agent.predict(obs, action_mask=self.masks)

    def policy_params(self, obs):
        return self.agent.policy_params(obs, state=self.states, action_mask=self.masks)


def check(session, graph: PolicyGraph, agent: Agent, steps: Steps, whole: bool = False):
    """onnxruntime's outputs equal the agent's on every step (observations fed to the graph by
    name and to `predict` as the env would, with their masks and states), else LandersError; a
    recurrent graph's state_out must equal the agent's new state too. Returns the last chunk's
    state_out (what a graph stepped with its own state goes on with)."""
    state_out = None
    for start in range(0, len(steps), CHUNK):
        chunk = steps.cut(start, start + CHUNK)
        feed = dict(zip(graph.inputs.names, chunk.leaves, strict=False))
        if graph.mask:
            feed[graph.mask.name] = chunk.masks.astype(graph.mask.numpy_dtype)
        if graph.recurrent:
            feed["state_in"] = chunk.states.astype(np.float32)
        got = tuple(session.run(list(graph.output_names), feed))
        if graph.recurrent:
            got, state_out = got[:-1], got[-1]
        obs = agent.layout.nest(chunk.leaves)
        bound = Bound(agent, chunk.masks, chunk.states)
        want = graph.outputs.reference(bound, obs)
        bad = graph.outputs.mismatched(bound, obs, want, got)
        if graph.recurrent:
            new_state = agent.predict(obs, state=chunk.states, action_mask=chunk.masks)[1]
            bad |= ~np.isclose(state_out, new_state, rtol=TOLERANCE, atol=TOLERANCE).all(-1)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            what = "steps of an episode" if whole else "observations"
            raise WorkFailed(
                f"The exported graph disagrees with the agent on {int(bad.sum())} of {len(chunk)} {what} "
                f"(e.g. {[g[i].tolist() for g in got]} instead of {[w[i].tolist() for w in want]}); "
                "no file was written.")
    return state_out


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
        "inputs": json.dumps(graph.inputs.describe()
                             + ([graph.mask.describe()] if graph.mask else [])
                             + ([{"name": "state_in", "dtype": "float32", "shape": [graph.state_size],
                                  "meaning": "the recurrent state; zeros begin an episode, then feed back state_out"}]
                                if graph.recurrent else [])),
        "outputs": graph.outputs.meaning + ("; state_out: the recurrent state, fed back as the next step's state_in"
                                            if graph.recurrent else ""),
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
        # A recurrent graph also steps through the episodes with its own state (`env_steps`).
        from_env = env_steps(agent, graph, samples, seed, session if graph.recurrent else None)
        sampled = Steps(graph.inputs.sample(samples, rng),
                        graph.mask.sample(samples, rng) if graph.mask else None,
                        from_env.states[rng.integers(len(from_env), size=samples)] if graph.recurrent else None)
        check(session, graph, agent, Steps.join(from_env, sampled))
        try:
            tmp.write_bytes(data)
            os.replace(tmp, out)
        except OSError as e:  # disk full, I/O error: the work failed, not its input
            raise WriteFailed(f"Cannot write '{out}': {e.strerror or e}.") from None
    finally:
        tmp.unlink(missing_ok=True)
    return ExportResult(out, 2 * samples, samples, meta)
