"""The training loop: env(s) -> rollout -> algorithm update -> metrics -> checkpoint / eval.

`Trainer.run` is the loop; everything it calls is imported plumbing or the algorithm's
`update`. A run directory holds config.json, metrics, TensorBoard events, checkpoints and
eval.json (see README).
"""

from __future__ import annotations

import contextlib
import copy
import dataclasses
import math
import os
import shutil
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import numpy as np
import torch

from landers import algos
from landers.algos import get_algo
from landers.core import checkpoint
from landers.core.config import replace_config
from landers.core.lock import run_lock
from landers.envs import SplitVecEnv, VecEnv
from landers.envs.spaces import space_to_json
from landers.errors import Diverged, EnvCrashed, LandersError, WriteFailed
from landers.policy.agent import Agent
from landers.policy.evaluation import EVAL_SEED_OFFSET, EvalResult, evaluate, evaluate_random
from landers.policy.normalize import ObsNormalizer, RewardScaler
from landers.policy.spaces import ObsLayout
from landers.core.rollout import Collector
from landers.run.runlog import RunLog
from landers.run.tracking import Tracker
from landers.run.spec import RUN_OPTIONS, RunSpec, default_run_dir, read_config, resolve_device, validate, versions

@dataclass
class TrainState:
    """Everything that trains and is checkpointed."""

    model: torch.nn.Module
    optimizer: torch.optim.Optimizer | None  # None for the random policy
    obs_norm: ObsNormalizer | None
    reward_scaler: RewardScaler | None
    global_step: int = 0
    updates: int = 0
    train_time: float = 0.0  # seconds in rollouts and updates, evaluation excluded
    best_eval: float | None = None
    next_eval: int = 0

    def tensors(self) -> tuple[dict[str, Any], dict[str, Any]]:
        tensors: dict[str, Any] = {f"model.{k}": v for k, v in self.model.state_dict().items()}
        optim_meta = None
        if self.optimizer is not None:
            optim_tensors, optim_meta = checkpoint.optimizer_state(self.optimizer)
            tensors.update(optim_tensors)
        tensors["rng.torch"] = torch.get_rng_state()
        if torch.cuda.is_available():  # sampling on a GPU draws from its own generator
            tensors.update({f"rng.cuda.{i}": s for i, s in enumerate(torch.cuda.get_rng_state_all())})
        if self.obs_norm is not None:
            tensors.update(self.obs_norm.rms.state("obs_norm"))
        if self.reward_scaler is not None:
            tensors.update(self.reward_scaler.rms.state("reward_rms"))
        meta = {"global_step": self.global_step, "updates": self.updates, "train_time": self.train_time,
                "best_eval": self.best_eval, "next_eval": self.next_eval, "optimizer": optim_meta}
        return tensors, meta

    def restore(self, tensors: dict[str, torch.Tensor], meta: dict[str, Any], where: Path) -> None:
        """Load a checkpoint read by `checkpoint.read`; one sentence if its tensors do not fit."""
        checkpoint.check_tensors(tensors, self.model.state_dict(), "model.", where)
        for prefix, norm in (("obs_norm", self.obs_norm), ("reward_rms", self.reward_scaler)):
            if norm is not None:
                checkpoint.check_tensors(tensors, norm.rms.state(""), prefix, where)
        try:
            self.model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
            if self.optimizer is not None:
                checkpoint.load_optimizer_state(self.optimizer, tensors, meta["optimizer"])
            torch.set_rng_state(tensors["rng.torch"])
        except (KeyError, TypeError, ValueError, RuntimeError, IndexError, AttributeError) as e:
            raise LandersError(f"Checkpoint '{where}' does not fit this run ({algos.first_line(e)}).") from None
        cuda_states = [tensors[k] for k in sorted(tensors) if k.startswith("rng.cuda.")]
        if cuda_states and torch.cuda.is_available() and len(cuda_states) == torch.cuda.device_count():
            torch.cuda.set_rng_state_all(cuda_states)
        numpy_tensors = {k: v.numpy() for k, v in tensors.items()}
        if self.obs_norm is not None:
            self.obs_norm.rms.load(numpy_tensors, "obs_norm")
        if self.reward_scaler is not None:
            self.reward_scaler.rms.load(numpy_tensors, "reward_rms")
        for key in ("global_step", "updates", "train_time", "best_eval", "next_eval"):
            setattr(self, key, meta[key])

    def snapshot(self) -> tuple[dict[str, Any], dict[str, Any]]:
        """A copy of `tensors()` that later training does not change: what a failed update
        saves instead of its own half-done state."""
        tensors, meta = self.tensors()
        return ({k: v.detach().clone() if torch.is_tensor(v) else np.array(v) for k, v in tensors.items()},
                copy.deepcopy(meta))

    def nonfinite(self) -> str | None:
        """The name of the first quantity of the state that is not finite, or None."""
        params = [p.detach().isfinite().all() for p in self.model.parameters()]
        if params and not bool(torch.stack(params).all()):
            return "the network's parameters"
        for name, norm in (("observation", self.obs_norm), ("reward", self.reward_scaler)):
            if norm is not None and not (np.isfinite(norm.rms.mean).all() and np.isfinite(norm.rms.var).all()):
                return f"the {name} normalization statistics"
        return None


@dataclass
class Run:
    """What `landers.train` returns."""

    run_dir: Path
    agent: Agent
    eval: EvalResult
    random_eval: EvalResult | None
    spec: RunSpec
    global_step: int
    train_time: float


class _StopRequest:
    """Ctrl-C / SIGTERM ask the loop to stop at the next update boundary, where the state is
    consistent and can be saved; a second Ctrl-C interrupts at once."""

    def __init__(self):
        self.requested = False
        self._previous: dict[int, Any] = {}

    def _handle(self, signum, frame):
        if self.requested and signum == signal.SIGINT:
            raise KeyboardInterrupt
        self.requested = True

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)


class Interrupted(LandersError):
    """Training stopped by Ctrl-C after saving `checkpoints/last`."""


class Trainer:
    def __init__(self, spec: RunSpec, run_dir: Path, resume: bool = False, quiet: bool = False,
                 progress_console=None, from_checkpoint: str = "last", on_eval: Callable[[dict], None] | None = None,
                 stop_event: threading.Event | None = None, tracker: Tracker | None = None):
        """`on_eval(row)` is called after each periodic evaluation, once `checkpoints/last` holds
        its state, with the evals.csv row (step, time, mean, std, episodes); it may raise to end
        the run. Setting `stop_event` (from any thread) stops the run like Ctrl-C: at the next
        update boundary, with `checkpoints/last` saved, raising `Interrupted`."""
        self.spec, self.run_dir, self.quiet = spec, run_dir, quiet
        self.on_eval, self.stop_event = on_eval, stop_event
        self.algo = get_algo(spec.algo)
        self.cfg = spec.hparams
        self.device = resolve_device(spec.device)
        tensors = meta = None
        self.saved_step: int | None = None  # the step checkpoints/last holds
        if resume:
            source = run_dir / "checkpoints" / from_checkpoint
            tensors, meta = checkpoint.read(source)
        else:
            torch.manual_seed(spec.seed)
        # A resumed run cannot restore the envs' internal state; its envs get fresh seeds.
        env_seed = spec.seed + (meta["global_step"] if meta else 0)
        if spec.overlap:
            if getattr(self.algo, "COLLECT", "steps") == "episodes":
                raise LandersError(f"overlap steps fixed rollouts; {spec.algo} collects whole episodes.")
            # One EnvPool thread per half: it steps while the main thread runs the policy on the other.
            self.envs = SplitVecEnv(spec.env, self.cfg.num_envs, env_seed, spec.backend, threads=spec.env_threads or 1)
        else:
            self.envs = VecEnv(spec.env, self.cfg.num_envs, env_seed, spec.backend, threads=spec.env_threads)
        self.obs_space, self.act_space = self.envs.single_observation_space, self.envs.single_action_space
        try:  # an observation or action space landers cannot handle is refused before anything is made
            layout = ObsLayout(self.obs_space)
            if getattr(self.cfg, "norm_obs", False) and not layout.has_vector:
                raise LandersError("norm_obs is for vector observations; this env has none (pixel observations "
                                   "are scaled by the CNN, categories and bits need no scaling).")
            # On one thread: the orthogonal initialization (a QR) rounds differently on more, so a
            # seed's first weights would depend on OMP_NUM_THREADS and the machine's cores.
            torch.set_num_threads(1)
            model = algos.make_model(self.algo, self.cfg, self.obs_space, self.act_space).to(self.device)
        except BaseException:
            self.envs.close()
            raise
        is_cnn = any(isinstance(m, torch.nn.Conv2d) for m in model.modules())
        torch.set_num_threads(spec.threads or (os.cpu_count() or 1 if is_cnn else 1))
        self.state = TrainState(
            model=model,
            optimizer=algos.make_optimizer(self.algo, model, self.cfg),
            obs_norm=(ObsNormalizer(layout.shape, columns=layout.vector_columns)
                      if getattr(self.cfg, "norm_obs", False) else None),
            reward_scaler=(RewardScaler(self.cfg.num_envs, self.cfg.gamma)
                           if getattr(self.cfg, "norm_reward", False) else None),
        )
        if resume:
            if meta["env_id"] != spec.env_id or meta["algo"] != spec.algo:
                raise LandersError("The checkpoint does not belong to this run's algorithm and env.")
            self.state.restore(tensors, meta, source)
            self.saved_step = self.state.global_step if from_checkpoint == "last" else None
        else:
            self.state.next_eval = self.eval_every
        self.collector = Collector(self.envs, self.cfg.num_steps, self.device, self.state.obs_norm,
                                   self.state.reward_scaler, global_step=self.state.global_step)
        self.log = RunLog(run_dir, resume_step=self.state.global_step,
                          extra_columns=getattr(self.algo, "METRICS", []), tracker=tracker, config=spec.to_json())
        self.progress_console = progress_console
        self.last_save = time.monotonic()

    @property
    def eval_every(self) -> int:
        return self.spec.eval_every or max(self.cfg.batch_size, self.spec.steps // 10)

    def agent(self) -> Agent:
        return Agent(self.state.model, self.spec.env, self.obs_space, self.act_space,
                     self.state.obs_norm, info={"run_dir": str(self.run_dir)})

    def save(self, name: str, snapshot: tuple[dict, dict] | None = None) -> None:
        """Write the state (or an earlier `TrainState.snapshot`) to checkpoints/<name>."""
        tensors, meta = snapshot or self.state.tensors()
        meta = {"algo": self.spec.algo, "env_id": self.spec.env_id, "run": self.spec.to_json(),
                "observation_space": space_to_json(self.obs_space),
                "action_space": space_to_json(self.act_space), "versions": versions(), **meta}
        checkpoint.write(self.run_dir / "checkpoints" / name, tensors, meta)
        if name == "last":
            self.last_save = time.monotonic()
            self.saved_step = meta["global_step"]

    def periodic_eval(self) -> None:
        state = self.state
        result = evaluate(self.agent(), episodes=self.spec.eval_episodes, seed=self.spec.seed + EVAL_SEED_OFFSET,
                          backend=self.spec.backend, max_steps=self.spec.eval_max_steps or None)
        state.model.train()
        row = {"step": state.global_step, "time": state.train_time, "mean": result.mean,
               "std": result.std, "episodes": len(result.returns)}
        self.log.eval(row)
        record_now = self.spec.record_every and (state.next_eval // self.eval_every) % self.spec.record_every == 0
        state.next_eval += self.eval_every
        if state.best_eval is None or result.mean > state.best_eval:
            state.best_eval = result.mean
            self.save("best")
        self.save("last")
        if record_now:  # after saving: a video that cannot be made must not cost the checkpoint
            from landers.see.video import record

            video = self.run_dir / "videos" / f"step-{state.global_step:09d}.mp4"
            try:
                record(self.agent(), video, seed=self.spec.seed + EVAL_SEED_OFFSET)
                self.log.video(video, state.global_step)
            except LandersError as e:
                print(f"warning: no video at step {state.global_step}: {e}", file=sys.stderr)
            state.model.train()
        if self.on_eval is not None:
            self.on_eval(row)
        if self.spec.stop_return is not None and result.mean >= self.spec.stop_return:
            self.reached_stop_return = True

    def run(self) -> Run:
        """Train to the step budget, then evaluate. A failure that ends the run first (a
        divergence, an env that raises, a full disk) leaves checkpoints/last at the last
        completed update and raises one sentence that says so."""
        self.kept: tuple[dict, dict] | None = None
        try:
            self.train()
            self.kept = None  # training is done: a later failure keeps what was saved last
            self.save("last")
            return self.finish()
        except (Diverged, EnvCrashed, WriteFailed) as e:
            with contextlib.suppress(Exception):
                if self.kept is not None and not isinstance(e, WriteFailed):
                    self.save("last", self.kept)
            raise_from = e.__cause__ if isinstance(e, EnvCrashed) else None
            with contextlib.suppress(Exception):
                self.close()
            raise type(e)(self.failure_message(e)) from raise_from

    def failure_message(self, e: LandersError) -> str:
        update, step = self.state.updates + 1, self.collector.global_step
        kept = ("nothing is saved yet" if self.saved_step is None
                else f"checkpoints/last keeps step {self.saved_step:,}")
        resume = f"landers train --resume {self.run_dir}"
        if isinstance(e, WriteFailed):
            return f"{str(e).rstrip('.')}; {kept}; make room, then resume with: {resume}"
        if isinstance(e, EnvCrashed):
            return (f"{e} in update {update}, after step {step:,} (its traceback is above); {kept}, the last "
                    f"completed update; once the env is fixed, resume with: {resume}")
        if getattr(e, "env", None):
            return (f"{e}, in update {update}; nothing was learned from it and {kept}; fix the env "
                    f"(or clip its output with a wrapper), then resume with: {resume}")
        lr = getattr(self.cfg, "lr", None)
        lower = f" --set lr={lr / 10:g}" if lr else ""
        return (f"Training diverged in update {update} (step {step:,}): {e}, and was stopped before "
                f"learning from it; {kept}, the last finite state; a learning rate or reward scale "
                f"that is too large is the usual cause: resume with a smaller one, e.g. {resume}{lower}")

    def train(self) -> None:
        spec, state = self.spec, self.state
        self.reached_stop_return = False
        recent_returns: list[float] = []
        with _StopRequest() as stop, self._progress() as progress:
            task = progress.add_task("train", total=spec.steps, completed=state.global_step, sps="-", ret="-")
            while state.global_step < spec.steps and not self.reached_stop_return:
                self.kept = state.snapshot()  # the state a failing update leaves checkpoints/last at
                start = time.perf_counter()
                progress_frac = state.global_step / spec.steps
                rollout = algos.collect(self.algo, self.collector, state.model, self.cfg)
                metrics = self.algo.update(state.model, state.optimizer, rollout, self.cfg, progress_frac)
                broken = state.nonfinite()
                if broken:  # e.g. a step of finite gradients times a huge learning rate
                    raise Diverged(f"{broken} are no longer finite")
                elapsed = time.perf_counter() - start
                state.train_time += elapsed
                state.updates += 1
                episodes = self.collector.episodes
                self.collector.episodes = []
                recent_returns = (recent_returns + [e.ret for e in episodes])[-100:]
                sps = (self.collector.global_step - state.global_step) / elapsed
                state.global_step = self.collector.global_step
                self.log.update({"step": state.global_step, "time": state.train_time, "sps": sps,
                                 "episodes": len(episodes),
                                 "return_mean": float(np.mean([e.ret for e in episodes])) if episodes else math.nan,
                                 **metrics})
                self.log.episodes_done([{"step": e.step, "time": state.train_time, "return": e.ret,
                                         "length": e.length} for e in episodes])
                progress.update(task, completed=state.global_step, sps=f"{sps:,.0f}",
                                ret=f"{np.mean(recent_returns):.1f}" if recent_returns else "-")
                if state.global_step >= state.next_eval:
                    self.periodic_eval()
                elif time.monotonic() - self.last_save > spec.checkpoint_every_s:
                    self.save("last")
                if stop.requested or (self.stop_event is not None and self.stop_event.is_set()):
                    self.save("last")
                    self.close()
                    raise Interrupted(
                        f"Interrupted at step {state.global_step:,}; saved {self.run_dir}/checkpoints/last. "
                        f"Resume with: landers train --resume {self.run_dir}")

    def finish(self) -> Run:
        spec = self.spec
        seed = spec.seed + EVAL_SEED_OFFSET
        agent = self.agent()
        result = evaluate(agent, episodes=spec.final_eval_episodes, seed=seed, backend=spec.backend,
                          max_steps=spec.eval_max_steps or None)
        random_result = evaluate_random(spec.env, spec.final_eval_episodes, seed, spec.backend,
                                        max_steps=spec.eval_max_steps or None, action_space=self.act_space)
        final = {**result.to_json(), "checkpoint": "last", "deterministic": True, "seed": seed,
                 "step": self.state.global_step, "train_time": self.state.train_time,
                 "random": random_result.to_json()}
        checkpoint.write_json_atomic(self.run_dir / "eval.json", final)
        self.log.final(final)
        self.close()
        return Run(self.run_dir, agent, result, random_result, spec, self.state.global_step, self.state.train_time)

    def close(self) -> None:
        self.envs.close()
        self.log.close()

    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        return Progress(
            TextColumn(f"{self.spec.algo} {self.spec.env_id}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[sps]} steps/s"), TextColumn("return {task.fields[ret]}"),
            TimeRemainingColumn(), console=self.progress_console, disable=self.quiet, transient=True)


def start(spec: RunSpec, run_dir: Path | None = None, quiet: bool = False, progress_console=None,
          on_eval: Callable[[dict], None] | None = None, stop_event: threading.Event | None = None,
          tracker: Tracker | None = None) -> Run:
    """Train a new run described by `spec` into `run_dir` (default: a fresh dir under runs/);
    `on_eval` and `stop_event` as in `Trainer`."""
    run_dir = Path(run_dir) if run_dir is not None else default_run_dir(spec)
    _refuse_existing_run(run_dir)
    try:
        run_dir.mkdir(parents=True)
        created = True
    except FileExistsError:
        created = False
    except OSError as e:
        raise LandersError(f"Cannot create the run directory '{run_dir}': {e.strerror}.") from None
    if not run_dir.is_dir():
        raise LandersError(f"Cannot create the run directory '{run_dir}': a file is in the way.")
    with run_lock(run_dir):
        _refuse_existing_run(run_dir)  # another writer may have started it in the meantime
        try:
            trainer = Trainer(spec, run_dir, quiet=quiet, progress_console=progress_console,
                              on_eval=on_eval, stop_event=stop_event, tracker=tracker)
        except BaseException:
            if created:  # nothing was trained: leave no half-made run behind
                shutil.rmtree(run_dir, ignore_errors=True)
            raise
        try:
            checkpoint.write_json_atomic(run_dir / "config.json", {
                **spec.to_json(), "versions": versions(), "backend_resolved": trainer.envs.backend})
        except WriteFailed:
            trainer.close()
            raise
        try:
            return trainer.run()
        except LandersError as e:
            # e.g. a wrapper that changes the spaces at the first step: a run with nothing saved yet goes
            if created and not isinstance(e, Interrupted) and not (run_dir / "checkpoints").exists():
                trainer.close()
                shutil.rmtree(run_dir, ignore_errors=True)
            raise


def _refuse_existing_run(run_dir: Path) -> None:
    if (run_dir / "config.json").exists() or (run_dir / "checkpoints").exists():
        raise LandersError(f"'{run_dir}' already holds a run; continue it with --resume {run_dir} "
                           "or choose another --run-dir.")


# What a resumed run cannot change: the network and the statistics its checkpoint holds, and
# where its envs' seeds come from.
FIXED_ON_RESUME = ("hidden_sizes", "activation", "shared_network", "norm_obs", "norm_reward", "optimizer",
                   "seed", "backend")


def resume(run_dir: Path, steps: int | None = None, quiet: bool = False, progress_console=None,
           expect_algo: str | None = None, expect_env_id: str | None = None,
           overrides: dict[str, Any] | None = None, on_eval: Callable[[dict], None] | None = None,
           stop_event: threading.Event | None = None, tracker: Tracker | None = None) -> Run:
    """Continue the run in `run_dir` from `checkpoints/last`, optionally to a new step budget
    and with changed hyperparameters or run options (`overrides`, e.g. a smaller lr after a
    divergence); changes are recorded in config.json under "resumed". `run_dir` may also name
    a checkpoint of the run (RUN/checkpoints/best) to continue from instead of `last`.
    `on_eval` and `stop_event` as in `Trainer`."""
    run_dir, source = Path(run_dir), "last"
    if run_dir.parent.name == "checkpoints" and (run_dir.parent.parent / "config.json").exists():
        run_dir, source = run_dir.parent.parent, run_dir.name
    config = run_dir / "config.json"
    if not config.exists():
        raise LandersError(f"'{run_dir}' is not a landers run directory (no config.json).")
    spec, history = read_config(config)
    for given, actual, what in ((expect_algo, spec.algo, "algorithm"), (expect_env_id, spec.env_id, "env")):
        if given is not None and given != actual:
            raise LandersError(f"'{run_dir}' is a {spec.algo} run on {spec.env_id}; it cannot resume as {what} {given}.")
    overrides = dict(overrides or {})
    fixed = [key for key in FIXED_ON_RESUME if key in overrides]
    if fixed:
        raise LandersError(f"{', '.join(fixed)} cannot change when resuming: the checkpoint's network, "
                           "statistics and env seeds depend on them.")
    if overrides:
        run_options = {k: overrides.pop(k) for k in list(overrides) if k in RUN_OPTIONS}
        spec = replace_config(dataclasses.replace(spec, hparams=replace_config(spec.hparams, overrides)), run_options)
        overrides.update(run_options)
    if steps is not None:
        spec = dataclasses.replace(spec, steps=steps)
    validate(spec)
    # A run killed before its first checkpoint has nothing to continue from: start it again.
    has_checkpoint = (run_dir / "checkpoints").is_dir()
    if has_checkpoint:
        checkpoint.find(run_dir / "checkpoints" / source)  # a corrupt one is named before anything is written
    with run_lock(run_dir):
        trainer = Trainer(spec, run_dir, resume=has_checkpoint, quiet=quiet, progress_console=progress_console,
                          from_checkpoint=source, on_eval=on_eval, stop_event=stop_event, tracker=tracker)
        if steps is not None or overrides or source != "last":  # bad input has modified nothing so far
            change = {"step": trainer.state.global_step, "from": f"checkpoints/{source}",
                      "set": {k: str(v) for k, v in overrides.items()}, "steps": spec.steps}
            try:
                checkpoint.write_json_atomic(config, {**spec.to_json(), "versions": versions(),
                                                      "backend_resolved": trainer.envs.backend,
                                                      "resumed": history + [change]})
            except WriteFailed:
                trainer.close()
                raise
        return trainer.run()
