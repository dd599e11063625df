"""The training loop: env(s) -> rollout -> algorithm update -> metrics -> checkpoint / eval.

`Trainer.train` is the loop, in five named steps (collect, learn, log, evaluate_or_save,
stop_if_asked); everything they call is imported plumbing or the algorithm's `update`. What
trains and is saved is one `TrainState` (state.py); making or continuing a run directory
around a `Trainer` is rundir.py's.
"""

from __future__ import annotations

import contextlib
import math
import signal
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch

from landers import algos
from landers.algos import get_algo
from landers.core import checkpoint
from landers.core.rollout import Collector, Episode
from landers.envs import SplitVecEnv, make_vec_env, resolve_backend
from landers.envs.spaces import space_to_json
from landers.errors import Diverged, EnvCrashed, LandersError, WriteFailed
from landers.policy.agent import Agent
from landers.policy.evaluation import EvalResult, eval_seed, evaluate, evaluate_random
from landers.policy.normalize import ObsNormalizer, RewardScaler
from landers.policy.sde import ExplorationNoise, SDEActorCritic
from landers.policy.spaces import ObsLayout
from landers.run.callbacks import Callbacks, Evaluation, Progress
from landers.run.hooks import Hooks
from landers.run.runlog import RunLog
from landers.run.spec import RunSpec, available_cores, resolve_device, versions
from landers.run.state import TrainState


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
    stopped: str | None = None  # why training ended before its step budget (stop_return, a callback)


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
    """Training stopped by Ctrl-C, SIGTERM or `Hooks.stop` after saving `checkpoints/last`."""


class Trainer:
    def __init__(self, spec: RunSpec, run_dir: Path, *, from_checkpoint: str | None = None, quiet: bool = False,
                 hooks: Hooks = Hooks()):
        """A trainer for `spec` writing into `run_dir`: a new run, or with `from_checkpoint`
        ("last", "best") one continued from that checkpoint of `run_dir`. `quiet` hides the
        progress bar; `hooks` as in `Hooks`."""
        self.spec, self.run_dir, self.quiet, self.hooks = spec, run_dir, quiet, hooks
        self.algo = get_algo(spec.algo)
        self.cfg = spec.hparams
        self.device = resolve_device(spec.device)
        tensors = meta = None
        self.saved_step: int | None = None  # the step checkpoints/last holds
        if from_checkpoint is not None:
            source = run_dir / "checkpoints" / from_checkpoint
            tensors, meta = checkpoint.read(source)
        else:
            torch.manual_seed(spec.seed)
        # A resumed run cannot restore the envs' internal state; its envs get fresh seeds.
        env_seed = spec.seed + (meta["global_step"] if meta else 0)
        self.backend = resolve_backend(spec.env, spec.backend)  # once per run: evaluations build on it too
        if spec.overlap:
            if self.algo.COLLECT == "episodes":
                raise LandersError(f"overlap steps fixed rollouts; {spec.algo} collects whole episodes.")
            # One EnvPool thread per half: it steps while the main thread runs the policy on the other.
            self.envs = SplitVecEnv(spec.env, self.cfg.num_envs, env_seed, self.backend, threads=spec.env_threads or 1)
        else:
            self.envs = make_vec_env(spec.env, self.cfg.num_envs, env_seed, self.backend, threads=spec.env_threads)
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
        torch.set_num_threads(spec.threads or (available_cores() if is_cnn else 1))
        self.state = TrainState(
            model=model,
            optimizer=algos.make_optimizer(self.algo, model, self.cfg),
            obs_norm=(ObsNormalizer(layout.shape, columns=layout.vector_columns)
                      if getattr(self.cfg, "norm_obs", False) else None),
            reward_scaler=(RewardScaler(self.cfg.num_envs, self.cfg.gamma)
                           if getattr(self.cfg, "norm_reward", False) else None),
            noise=(ExplorationNoise(model, self.cfg.num_envs, self.cfg.sde_sample_freq)
                   if isinstance(model, SDEActorCritic) else None),
        )
        if from_checkpoint is not None:
            if meta["env_id"] != spec.env_id or meta["algo"] != spec.algo:
                raise LandersError("The checkpoint does not belong to this run's algorithm and env.")
            self.state.restore(tensors, meta, source)
            self.saved_step = self.state.global_step if from_checkpoint == "last" else None
        else:
            self.state.next_eval = self.eval_every
        self.collector = Collector(self.envs, self.cfg.num_steps, self.device, self.state.obs_norm,
                                   self.state.reward_scaler, global_step=self.state.global_step,
                                   use_masks=getattr(self.cfg, "mask", True), noise=self.state.noise)
        self.callbacks = hooks.callbacks or Callbacks()
        self.last_eval: Evaluation | None = None  # this call's latest periodic evaluation, for callbacks
        self.runlog = RunLog(run_dir, resume_step=self.state.global_step,
                             extra_columns=self.algo.METRICS, tracker=hooks.tracker,
                             config=spec.to_json())
        self.last_save = time.monotonic()

    @property
    def eval_every(self) -> int:
        return self.spec.eval_every or max(self.cfg.batch_size, self.spec.steps // 10)

    def agent(self) -> Agent:
        return Agent(self.state.model, self.spec.env, self.obs_space, self.act_space,
                     self.state.obs_norm, info={"run_dir": str(self.run_dir)}, mask_source=self.collector.mask_source)

    def save(self, name: str, snapshot: tuple[dict, dict] | None = None) -> None:
        """Write the state (or an earlier `TrainState.snapshot`) to checkpoints/<name>."""
        tensors, meta = snapshot or self.state.tensors()
        meta = {"algo": self.spec.algo, "env_id": self.spec.env_id, "run": self.spec.to_json(),
                "observation_space": space_to_json(self.obs_space),
                "action_space": space_to_json(self.act_space), "action_mask": self.collector.mask_source,
                "versions": versions(), **meta}
        checkpoint.write(self.run_dir / "checkpoints" / name, tensors, meta)
        if name == "last":
            self.last_save = time.monotonic()
            self.saved_step = meta["global_step"]

    def periodic_eval(self) -> None:
        state = self.state
        result = evaluate(self.agent(), episodes=self.spec.eval_episodes, seed=eval_seed(self.spec.seed),
                          backend=self.backend, max_steps=self.spec.eval_max_steps or None)
        state.model.train()
        row = {"step": state.global_step, "time": state.train_time, "mean": result.mean,
               "std": result.std, "episodes": len(result.returns)}
        self.runlog.eval(row)
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
                record(self.agent(), video, seed=eval_seed(self.spec.seed))
                self.runlog.video(video, state.global_step)
            except LandersError as e:
                print(f"warning: no video at step {state.global_step}: {e}", file=sys.stderr)
            state.model.train()
        if self.hooks.on_eval is not None:
            self.hooks.on_eval(row)
        self.last_eval = Evaluation(step=state.global_step, mean=result.mean, std=result.std,
                                    episodes=len(result.returns))
        if self.spec.stop_return is not None and result.mean >= self.spec.stop_return:
            self.stop_early(f"evaluation {result.mean:.1f} >= stop_return ({self.spec.stop_return:g})")
        if self.callbacks and not self.callbacks.on_eval(self.progress_record()):
            self.stop_early(self.callbacks.reason)

    def stop_early(self, reason: str | None) -> None:
        """End training after this update, saved and evaluated as at the step budget (which,
        reached by this update, is the reason to name instead)."""
        self.end_early = True
        if self.state.global_step < self.spec.steps:
            self.stopped = self.stopped or reason

    def progress_record(self, metrics: dict[str, float] | None = None) -> Progress:
        state = self.state
        return Progress(step=state.global_step, updates=state.updates, seconds=state.train_time,
                        elapsed=time.monotonic() - self.started, metrics=dict(metrics or {}),
                        last_eval=self.last_eval)

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
        except Exception as e:  # e.g. a callback's own error: checkpoints/last keeps its last save
            if not isinstance(e, Interrupted):  # which closed already
                with contextlib.suppress(Exception):
                    self.close()
            raise

    def failure_message(self, e: LandersError) -> str:
        update, step = self.state.updates + 1, self.collector.global_step
        kept = ("nothing is saved yet" if self.saved_step is None
                else f"checkpoints/last keeps step {self.saved_step:,}")
        resume = f"landers train --resume {self.run_dir}"
        from_python = f" (from Python: landers.resume('{self.run_dir}'))"
        if isinstance(e, WriteFailed):
            return f"{str(e).rstrip('.')}; {kept}; make room, then resume with: {resume}{from_python}"
        if isinstance(e, EnvCrashed):
            return (f"{e} in update {update}, after step {step:,} (its traceback is above); {kept}, the last "
                    f"completed update; once the env is fixed, resume with: {resume}{from_python}")
        if getattr(e, "env", None):
            return (f"{e}, in update {update}; nothing was learned from it and {kept}; fix the env "
                    f"(or clip its output with a wrapper), then resume with: {resume}{from_python}")
        lr = getattr(self.cfg, "lr", None)
        lower = f" --set lr={lr / 10:g}" if lr else ""
        python = f"landers.resume('{self.run_dir}'{f', lr={lr / 10:g}' if lr else ''})"
        return (f"Training diverged in update {update} (step {step:,}): {e}, and was stopped before "
                f"learning from it; {kept}, the last finite state; a learning rate or reward scale "
                f"that is too large is the usual cause: resume with a smaller one, e.g. {resume}{lower} "
                f"(from Python: {python})")

    def train(self) -> None:
        """The loop, one update per pass, until the step budget, stop_return or a callback ends it."""
        state, spec = self.state, self.spec
        self.end_early = False  # set by stop_early (stop_return, a callback): evaluate and finish as at the budget
        self.stopped: str | None = None  # why, for the summary line
        self.started = time.monotonic()  # for callbacks' wall-clock `elapsed`
        self.recent_returns: list[float] = []  # the progress bar's return: the last 100 episodes'
        with _StopRequest() as self.stop_request, self._progress() as self.progress:
            self.progress_task = self.progress.add_task("train", total=spec.steps, completed=state.global_step,
                                                        sps="-", ret="-")
            # The stop request is checked after an update, not before it, so that every pass
            # trains: a stop asked for before the first update still saves one update's state.
            while state.global_step < spec.steps and not self.end_early:
                rollout, episodes = self.collect()  # envs -> rollout; no learning here
                metrics = self.learn(rollout)  # algorithm update + divergence check
                self.log(metrics, episodes)  # metrics.csv, episodes.csv, progress bar, callbacks' on_update
                self.evaluate_or_save()  # evals.csv, checkpoints/best|last, on_eval, stop_return, callbacks' on_eval
                self.stop_if_asked()  # Ctrl-C, SIGTERM, hooks.stop: save checkpoints/last, raise Interrupted

    def collect(self) -> tuple[Any, list[Episode]]:
        """The algorithm's rollout (fixed steps or whole episodes) and the episodes it finished."""
        self.kept = self.state.snapshot()  # the state a failing update leaves checkpoints/last at
        self.update_started = time.perf_counter()  # an update's time counts its rollout
        rollout = algos.collect(self.algo, self.collector, self.state.model, self.cfg)
        episodes, self.collector.episodes = self.collector.episodes, []
        return rollout, episodes

    def learn(self, rollout: Any) -> dict[str, float]:
        """The algorithm's update on `rollout`, then the step counters; its metrics and steps/s.
        Raises `Diverged`, before anything is saved, when the update left the state non-finite."""
        state = self.state
        metrics = self.algo.update(state.model, state.optimizer, rollout, self.cfg, state.global_step / self.spec.steps)
        broken = state.nonfinite()
        if broken:  # e.g. a step of finite gradients times a huge learning rate
            raise Diverged(f"{broken} are no longer finite")
        elapsed = time.perf_counter() - self.update_started
        state.train_time += elapsed
        state.updates += 1
        sps = (self.collector.global_step - state.global_step) / elapsed
        state.global_step = self.collector.global_step
        return {"sps": sps, **metrics}

    def log(self, metrics: dict[str, float], episodes: list[Episode]) -> None:
        """One metrics.csv row for the update, one episodes.csv row per finished episode."""
        state = self.state
        returns = [e.ret for e in episodes]
        self.recent_returns = (self.recent_returns + returns)[-100:]
        row = {"step": state.global_step, "time": state.train_time, "sps": metrics["sps"], "episodes": len(episodes),
               "return_mean": float(np.mean(returns)) if returns else math.nan, **metrics}
        self.runlog.update(row)
        self.runlog.episodes_done([{"step": e.step, "time": state.train_time, "return": e.ret,
                                    "length": e.length} for e in episodes])
        self.progress.update(self.progress_task, completed=state.global_step, sps=f"{metrics['sps']:,.0f}",
                             ret=f"{np.mean(self.recent_returns):.1f}" if self.recent_returns else "-")
        if self.callbacks and not self.callbacks.on_update(self.progress_record(row)):
            self.stop_early(self.callbacks.reason)

    def evaluate_or_save(self) -> None:
        """Evaluate when the next evaluation is due (which saves), else save checkpoints/last when
        the last save is older than checkpoint_every_s."""
        if self.state.global_step >= self.state.next_eval:
            self.periodic_eval()
        elif time.monotonic() - self.last_save > self.spec.checkpoint_every_s:
            self.save("last")

    def stop_if_asked(self) -> None:
        """After Ctrl-C, SIGTERM or `hooks.stop`: save checkpoints/last, close, raise `Interrupted`."""
        if self.stop_request.requested or (self.hooks.stop is not None and self.hooks.stop.is_set()):
            self.save("last")
            self.close()
            raise Interrupted(f"Interrupted at step {self.state.global_step:,}; saved {self.run_dir}/checkpoints/last. "
                              f"Resume with: landers train --resume {self.run_dir} "
                              f"(from Python: landers.resume('{self.run_dir}'))")

    def finish(self) -> Run:
        spec = self.spec
        seed = eval_seed(spec.seed)
        agent = self.agent()
        result = evaluate(agent, episodes=spec.final_eval_episodes, seed=seed, backend=self.backend,
                          max_steps=spec.eval_max_steps or None)
        random_result = evaluate_random(spec.env, spec.final_eval_episodes, seed, self.backend,
                                        max_steps=spec.eval_max_steps or None, action_space=self.act_space)
        final = {**result.to_json(), "checkpoint": "last", "deterministic": True, "seed": seed,
                 "step": self.state.global_step, "train_time": self.state.train_time,
                 "random": random_result.to_json()}
        checkpoint.write_json_atomic(self.run_dir / "eval.json", final)
        self.runlog.final(final)
        self.close()
        return Run(self.run_dir, agent, result, random_result, spec, self.state.global_step, self.state.train_time,
                   stopped=self.stopped)

    def close(self) -> None:
        self.envs.close()
        self.runlog.close()

    def _progress(self):
        from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

        return Progress(
            TextColumn(f"{self.spec.algo} {self.spec.env_id}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[sps]} steps/s"), TextColumn("return {task.fields[ret]}"),
            TimeRemainingColumn(), console=self.hooks.console, disable=self.quiet, transient=True)
