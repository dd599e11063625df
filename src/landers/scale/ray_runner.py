"""`landers compare` on Ray Tune: one function trainable per (algorithm, seed).

The trial runs the landers Trainer in the Ray worker process, reports each periodic evaluation
(`step`, `eval_mean`, `train_time`) with the run's `checkpoints/last` as its Tune checkpoint,
and resumes from it when Tune restarts it (a dead worker) or restores the experiment (the same
command again after Ctrl-C). Nothing here is imported by `landers train`.

Where runs live. Ray persists trial checkpoints to `RunConfig(storage_path)` and, when that is a
local path, checks on every worker that the path is the same place (a marker file): it must be
a path all nodes see, which is always true on one machine. So with a path storage (the default:
`--out`) each trial writes its run directory straight to STORAGE/runs/<algo>__s<seed>, live,
from whichever node runs it, and Ray's checkpoint copies are only a fallback. With a URI storage
(`s3://...`, any scheme pyarrow knows) no node can write the run directory there, so the trial
trains in a local scratch directory and hands Ray the whole run directory as its checkpoint
(a few hundred KB for the MLP presets); the driver downloads the final ones into OUT/runs.

Ctrl-C: the driver sets a flag in Ray's key-value store; each trial's trainer sees it at its
next update boundary, saves `checkpoints/last`, reports it and acknowledges; then the driver
lets Tune end the experiment (SIGUSR1, Tune's own graceful stop), which records unfinished
trials for `Tuner.restore`.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
import shutil
import signal
import socket
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

import ray
from ray import tune

from landers.errors import LandersError
from landers.scale.compare import Job, entry_label, parse_entry, run_name

MAX_FAILURES = 3  # retries of a trial whose worker died or raised, each from its last checkpoint
STOP_WAIT_S = 60.0  # how long Ctrl-C waits for running trials to save before Tune stops them
CONNECT_WAIT_S = 5.0  # for --address: TCP within this, ray.init within 6 times this


def _is_uri(storage: str) -> bool:
    return "://" in storage


# ---------------------------------------------------------------- the trial (runs on a worker)


def _checkpoint_step(directory: Path) -> int:
    for candidate in ("last", "last.tmp", "last.old"):
        try:
            return int(json.loads((directory / candidate / "state.json").read_text())["global_step"])
        except (OSError, ValueError, KeyError):
            continue
    return 0


def _watch_stop(stop_key: str, stop: threading.Event, done: threading.Event) -> None:
    from ray.experimental import internal_kv

    while not done.wait(0.5):
        try:
            if internal_kv._internal_kv_get(stop_key):
                stop.set()
                return
        except Exception:  # the driver is gone: Tune ends this actor anyway
            return


def _trial(config: dict, stop_key: str) -> None:
    from ray.experimental import internal_kv

    from landers.run import spec as spec_mod
    from landers.run import rundir
    from landers.run import tracking
    from landers.run.hooks import Hooks
    from landers.run.trainer import Interrupted

    algo, seed, preset = config["run"]["algo"], config["run"]["seed"], config["run"].get("preset")
    name = run_name(algo, preset, seed)
    remote = _is_uri(config["storage"])
    run_dir = Path(tempfile.mkdtemp(prefix="landers-trial-")) / name if remote else Path(config["runs"]) / name
    snapshot = run_dir if remote else run_dir / "checkpoints" / "last"
    restored = tune.get_checkpoint()
    if restored is not None and (remote or not snapshot.exists()):
        restored.to_directory(str(snapshot))
    start_step = _checkpoint_step(run_dir / "checkpoints")
    node_id = ray.get_runtime_context().get_node_id()

    def report(metrics: dict) -> None:
        checkpoint = tune.Checkpoint.from_directory(str(snapshot)) if snapshot.exists() else None
        tune.report({**metrics, "start_step": start_step, "node_id": node_id, "pid": os.getpid()},
                    checkpoint=checkpoint)

    stop, done = threading.Event(), threading.Event()
    threading.Thread(target=_watch_stop, args=(stop_key, stop, done), daemon=True).start()
    tracker = tracking.for_member(config.get("tracking"), name=f"{config['env_id']}-{name}")
    hooks = Hooks(on_eval=lambda row: report({"step": row["step"], "eval_mean": row["mean"],
                                              "train_time": row["time"]}),
                  stop=stop, tracker=tracker)
    try:
        if (run_dir / "eval.json").exists():
            pass  # finished before (by an earlier comparison): reuse it
        elif (run_dir / "config.json").exists():
            rundir.resume(run_dir, quiet=True, hooks=hooks)
        else:
            spec = spec_mod.make_spec(algo, config["env_id"], preset=config["run"].get("preset_file", preset),
                                      steps=config["steps"], seed=seed,
                                      threads=config["cpus"], env_kwargs=config.get("env_kwargs"),
                                      wrappers=tuple(config.get("wrappers", ())))
            rundir.start(spec, run_dir=run_dir, quiet=True, hooks=hooks)
    except Interrupted:
        if tracker is not None:
            tracker.finish(failed=True)
        report({"step": _checkpoint_step(run_dir / "checkpoints"), "interrupted": True})
        internal_kv._internal_kv_put(f"{stop_key}:{name}", b"saved")
        while True:  # Tune ends this actor once every trial has saved
            time.sleep(60)
    except BaseException:
        if tracker is not None:
            tracker.finish(failed=True)
        raise
    finally:
        done.set()
    if tracker is not None:
        tracker.finish()
    final = json.loads((run_dir / "eval.json").read_text())
    report({"step": final["step"], "train_time": final["train_time"], "final_mean": final["mean"], "finished": True})
    if remote:
        shutil.rmtree(run_dir.parent, ignore_errors=True)


def _make_trainable(stop_key: str):
    def landers_trial(config):
        _trial(config, stop_key)

    return landers_trial


# ---------------------------------------------------------------- live lines (driver)


class _Lines:
    """One line per trial: a live block on a terminal, else a line per change of state."""

    def __init__(self, jobs: list[Job], echo, terminal):
        self.echo, self.state = echo, {j.name: f"{j.label:<10} seed {j.seed}: waiting" for j in jobs}
        self.running: set[str] = set()
        self.live = None
        if terminal.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(file=terminal), refresh_per_second=4)
            self.live.start()

    def _render(self):
        from rich.text import Text

        return Text("\n".join(self.state.values()))

    def set(self, trial, text: str, say: bool) -> None:
        name = _trial_dirname_of_run(trial)
        run = trial.config["run"]
        algo, seed = entry_label(run["algo"], run.get("preset")), run["seed"]
        self.state[name] = f"{algo:<10} seed {seed}: {text}"
        if self.live is not None:
            self.live.update(self._render())
        elif say:
            self.echo(f"  {algo} seed {seed}: {text}")

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


_LINES: _Lines | None = None  # the callback below is pickled into Tune's state: it holds nothing


class _Progress(tune.Callback):
    """Feeds `_LINES`. Tune pickles its callbacks into the experiment state; this class is
    pickled by reference, so a restored experiment's copy feeds this process's `_LINES`."""

    def on_trial_start(self, iteration, trials, trial, **info):
        if _LINES:
            _LINES.running.add(_trial_dirname_of_run(trial))
            _LINES.set(trial, "running", say=False)

    def on_trial_result(self, iteration, trials, trial, result, **info):
        if not _LINES:
            return
        step = result.get("step", 0)
        if result.get("finished"):
            _LINES.running.discard(_trial_dirname_of_run(trial))
            _LINES.set(trial, f"done, {step:,} steps, final eval {result['final_mean']:.1f}", say=True)
        elif result.get("interrupted"):
            _LINES.set(trial, f"stopped at {step:,} steps, checkpoint saved", say=True)
        elif "eval_mean" in result:
            _LINES.set(trial, f"{step:,} steps, eval {result['eval_mean']:.1f}", say=False)

    def on_trial_recover(self, iteration, trials, trial, **info):
        if _LINES:
            _LINES.set(trial, f"failed ({_reason_of(trial)}); retry {trial.num_failures} of "
                              f"{MAX_FAILURES} from its last checkpoint", say=True)

    def on_trial_error(self, iteration, trials, trial, **info):
        if _LINES:
            _LINES.running.discard(_trial_dirname_of_run(trial))
            _LINES.set(trial, f"failed: {_reason_of(trial)}", say=True)


def _one_line(error: BaseException | str | None) -> str:
    if error is None:
        return "unknown error"
    if isinstance(error, str):
        lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "unknown error"
    from ray.exceptions import RayActorError, RayTaskError

    cause = error
    while isinstance(cause, RayTaskError) and getattr(cause, "cause", None) is not None and cause.cause is not cause:
        cause = cause.cause
    if isinstance(cause, RayActorError):
        return "its worker process died (killed, or out of memory)"
    if isinstance(cause, LandersError):
        return str(cause)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".rstrip(": ")


def _reason_of(trial) -> str:
    error_file = getattr(trial, "error_file", None) or getattr(trial, "local_error_file", None)
    try:
        text = Path(error_file).read_text() if error_file else ""
    except OSError:
        text = ""
    if "ActorDiedError" in text or "RayActorError" in text or "The actor died" in text:
        return "its worker process died (killed, or out of memory)"
    return _one_line(text or getattr(trial, "error_msg", None))


# ---------------------------------------------------------------- connecting (driver)


def _quiet_ray_logs(log_file: Path) -> None:
    """Ray's Python loggers write to `log_file`, not the terminal; Tune prints no tables.
    After `import ray`, which gives the "ray" logger its terminal handler."""
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the legacy reporter, which verbose=0 silences
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C is ours; Tune still stops on SIGUSR1
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("ray")  # ray.init(configure_logging=True) keeps its handlers
    logger.handlers = [handler]
    logger.propagate = False


def _resolve_address(address: str) -> str:
    from ray._private import services

    if address == "auto":
        try:
            address = services.canonicalize_bootstrap_address_or_die("auto")
        except (ConnectionError, ValueError):
            raise LandersError("--address auto found no running Ray cluster on this machine; start one "
                               "with `ray start --head` or give HOST:PORT.") from None
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise LandersError(f"--address must be auto or HOST:PORT, got '{address}'.")
    try:
        socket.create_connection((host, int(port)), timeout=CONNECT_WAIT_S).close()
    except OSError as e:
        raise LandersError(f"No Ray cluster answers at {address} ({e.strerror or e}); start one with "
                           f"`ray start --head --port {port}` or check the address.") from None
    return address


def _connect(address: str | None, cpus_per_run: int, log_file: Path) -> str:
    _quiet_ray_logs(log_file)
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.INFO)
    if address is None:
        cpus = os.cpu_count() or 1
        if cpus_per_run > cpus:
            raise LandersError(f"--cpus-per-run {cpus_per_run} is more than this machine's {cpus} CPUs.")
        ray.init(address="local", num_cpus=cpus, **common)
    else:
        address = _resolve_address(address)
        result: dict = {}

        def init():
            try:
                ray.init(address=address, **common)
            except Exception as e:  # noqa: BLE001 - reported as one sentence below
                result["error"] = e

        thread = threading.Thread(target=init, daemon=True)
        thread.start()
        thread.join(CONNECT_WAIT_S * 6)
        if thread.is_alive() or "error" in result:
            why = _one_line(str(result.get("error", f"no Ray answer within {CONNECT_WAIT_S * 6:.0f} s"))).rstrip(".")
            try:
                if "InvalidAuthToken" in log_file.read_text() and os.environ.get("RAY_AUTH_MODE") != "token":
                    why = "it asks for a token; a cluster started with token authentication needs RAY_AUTH_MODE=token here too"
            except OSError:
                pass
            raise LandersError(f"Could not join the Ray cluster at {address}: {why}.")
    nodes = [n for n in ray.nodes() if n.get("Alive")]
    biggest = max((n["Resources"].get("CPU", 0) for n in nodes), default=0)
    if cpus_per_run > biggest:
        ray.shutdown()
        raise LandersError(f"--cpus-per-run {cpus_per_run} is more than any node has (the largest has "
                           f"{biggest:g} CPUs).")
    total = ray.cluster_resources().get("CPU", 0)
    return f"{total:g} CPUs on {len(nodes)} node{'s' if len(nodes) != 1 else ''}"


def _check_storage(storage: str) -> None:
    probe = f".landers-probe-{uuid.uuid4().hex[:8]}"
    if _is_uri(storage):
        import pyarrow.fs

        try:
            fs, path = pyarrow.fs.FileSystem.from_uri(storage)
            fs.create_dir(path, recursive=True)
            with fs.open_output_stream(f"{path}/{probe}"):
                pass
            fs.delete_file(f"{path}/{probe}")
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds
            raise LandersError(f"Cannot write to the storage '{storage}': {_one_line(str(e))}.") from None
        return
    try:
        Path(storage, "runs").mkdir(parents=True, exist_ok=True)
        (Path(storage) / probe).write_text("")
        (Path(storage) / probe).unlink()
    except OSError as e:
        raise LandersError(f"Cannot write to '{storage}': {e.strerror}.") from None


# ---------------------------------------------------------------- the comparison (driver)


class _CtrlC:
    """First Ctrl-C: ask the trials to stop at their next update boundary (they save and
    acknowledge), then let Tune end the experiment; a second one ends it at once."""

    def __init__(self, stop_key: str, echo):
        self.stop_key, self.echo, self.pressed = stop_key, echo, 0
        self.previous = None

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            self.previous = signal.signal(signal.SIGINT, self._handle)
        return self

    def __exit__(self, *exc):
        if self.previous is not None:
            signal.signal(signal.SIGINT, self.previous)

    def _handle(self, signum, frame):
        self.pressed += 1
        if self.pressed == 1:
            from ray.experimental import internal_kv

            if _LINES:
                _LINES.close()
            self.echo("interrupted: the runs stop at their next update and save a checkpoint "
                      "(Ctrl-C again to stop at once)")
            internal_kv._internal_kv_put(self.stop_key, b"stop")
            threading.Thread(target=self._end_when_saved, daemon=True).start()
        elif self.pressed == 2:
            os.kill(os.getpid(), signal.SIGUSR1)
        else:
            raise KeyboardInterrupt

    def _end_when_saved(self):
        from ray.experimental import internal_kv

        deadline = time.monotonic() + STOP_WAIT_S
        while time.monotonic() < deadline:
            running = set(_LINES.running) if _LINES else set()
            if all(internal_kv._internal_kv_get(f"{self.stop_key}:{name}") for name in running):
                break
            time.sleep(0.2)
        os.kill(os.getpid(), signal.SIGUSR1)  # Tune's graceful stop: saves its state, ends the actors


def run(env_id: str, algos: list[str], seeds: int, steps: int | None, out: Path, *, address: str | None,
        cpus_per_run: int, storage: str | None, echo, env_kwargs: dict | None = None,
        wrappers: tuple = (), first_seed: int = 1, tracking: dict | None = None) -> tuple[list[Job], list[tuple[Job, str]]]:
    out = out.absolute()
    storage = storage if storage and _is_uri(storage) else str(Path(storage or out).absolute())
    _check_storage(str(out))
    _check_storage(storage)
    runs = out / "runs" if _is_uri(storage) else Path(storage) / "runs"
    entries = [parse_entry(entry) for entry in algos]
    jobs = [Job(a, s, runs / run_name(a, p, s), p) for a, p in entries
            for s in range(first_seed, first_seed + seeds)]
    _refuse_other_runs(jobs, env_id, steps, cpus_per_run, env_kwargs or {}, tuple(wrappers))
    with _output_to(out / "ray.log") as terminal:
        def say(message: str) -> None:
            with contextlib.redirect_stdout(terminal):
                echo(message)

        return _run(env_id, jobs, steps, runs, storage, address, cpus_per_run, out, say, terminal,
                    env_kwargs or {}, tuple(wrappers), tracking)


def _refuse_other_runs(jobs: list[Job], env_id: str, steps: int | None, cpus_per_run: int, env_kwargs: dict,
                       wrappers: tuple) -> None:
    """A run directory that an earlier comparison left is reused (finished) or resumed
    (interrupted) by name: only where this comparison would train that very run. A changed
    preset file, --steps, --cpus-per-run or env argument (or a landers whose presets changed) is
    one sentence here, before Ray starts, instead of old results shown as new ones."""
    from landers.run import spec as spec_mod

    # A preset file's path is recorded as the command gave it: what it set is compared instead.
    skip = {"hparams", "preset"}
    names = {"threads": "--cpus-per-run"}  # the option that sets it
    for job in jobs:
        config = job.run_dir / "config.json"
        if not config.exists():
            continue
        held = spec_mod.read_config(config)[0].to_json()
        preset = _preset_of(job).get("preset_file", job.preset)
        wanted = spec_mod.make_spec(job.algo, env_id, preset=preset, steps=steps, seed=job.seed, threads=cpus_per_run,
                                    env_kwargs=env_kwargs, wrappers=wrappers).to_json()
        same = lambda a, b: json.dumps(a, sort_keys=True) == json.dumps(b, sort_keys=True)  # noqa: E731
        changed = [names.get(k, k) for k in wanted if k not in skip and not same(held.get(k), wanted[k])]
        changed += [f"hparams.{k}" for k in wanted["hparams"] if not same(held["hparams"].get(k), wanted["hparams"][k])]
        if preset == job.preset and held.get("preset") != wanted["preset"]:  # a shipped preset's name
            changed.append("preset")
        if changed:
            raise LandersError(f"'{job.run_dir}' holds a run trained with other settings than this comparison's "
                               f"({', '.join(changed)}); choose another --out, delete that run to train it anew, "
                               "or continue it as it was with landers train --resume.")


@contextlib.contextmanager
def _output_to(log_file: Path):
    """While Ray runs, everything written to stdout or stderr goes to `log_file`: Ray's C++
    parts write to file descriptors 1 and 2, its Python threads print to sys.stdout/stderr
    (a dead worker's story, for one). Yields the terminal, for our own lines."""
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    saved = os.dup(1), os.dup(2)
    log = os.open(log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    previous = sys.stdout, sys.stderr
    terminal = os.fdopen(os.dup(saved[0]), "w", buffering=1)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = sys.stderr = open(log_file, "a", buffering=1)
    try:
        yield terminal
    finally:
        sys.stdout.close()
        terminal.close()
        sys.stdout, sys.stderr = previous
        for fd, original in zip((1, 2), saved):
            os.dup2(original, fd)
            os.close(original)
        os.close(log)


def _run(env_id: str, jobs: list[Job], steps: int | None, runs: Path, storage: str, address: str | None,
         cpus_per_run: int, out: Path, echo, terminal, env_kwargs: dict,
         wrappers: tuple, tracking: dict | None = None) -> tuple[list[Job], list[tuple[Job, str]]]:
    global _LINES
    from landers.run.trainer import Interrupted

    resources = _connect(address, cpus_per_run, out / "ray.log")
    try:
        # One Tune experiment per distinct request: the same command restores it; another
        # (more seeds, other algorithms) starts a new one whose trials reuse finished run dirs.
        key = json.dumps([env_id, [j.name for j in jobs], steps, cpus_per_run, str(runs)])
        name = f"compare-{hashlib.sha1(key.encode()).hexdigest()[:10]}"
        stop_key = f"landers:stop:{uuid.uuid4().hex}"
        trainable = tune.with_resources(_make_trainable(stop_key), {"cpu": cpus_per_run})
        experiment = f"{storage.rstrip('/')}/ray/{name}"
        restoring = tune.Tuner.can_restore(experiment)
        reused = sum(j.done for j in jobs)
        echo(f"{len(jobs)} runs ({reused} already finished) on Ray ({resources}, {cpus_per_run} CPU per run), "
             f"in {runs}" + ("; resuming the interrupted comparison (Ray restore)" if restoring and reused < len(jobs) else ""))
        if restoring:
            tuner = tune.Tuner.restore(experiment, trainable, resume_unfinished=True, resume_errored=True)
        else:
            param_space = {"env_id": env_id, "steps": steps, "cpus": cpus_per_run, "storage": storage,
                           "runs": str(runs), "env_kwargs": dict(env_kwargs or {}), "wrappers": list(wrappers),
                           "tracking": tracking,
                           "run": tune.grid_search([{"algo": j.algo, "seed": j.seed, **_preset_of(j)} for j in jobs])}
            tuner = tune.Tuner(
                trainable, param_space=param_space,
                # reuse_actors: the next trial runs in the finished one's worker process, which
                # has torch, gymnasium and landers imported already (seconds per trial here)
                tune_config=tune.TuneConfig(trial_dirname_creator=_trial_dirname_of_run,
                                            trial_name_creator=_trial_dirname_of_run, reuse_actors=True),
                run_config=tune.RunConfig(
                    name=name, storage_path=f"{storage.rstrip('/')}/ray", verbose=0,
                    failure_config=tune.FailureConfig(max_failures=MAX_FAILURES),
                    checkpoint_config=tune.CheckpointConfig(num_to_keep=2),
                    callbacks=[_Progress()]))
        _LINES = _Lines(jobs, echo, terminal)
        ctrl_c = _CtrlC(stop_key, echo)
        try:
            with ctrl_c:
                results = tuner.fit()
        finally:
            _LINES.close()
            _LINES = None
        finished, failed = [], []
        by_name = {j.name: j for j in jobs}
        for result in results:  # a trial that never started has no config, but its path
            name = _trial_dirname_of_config(result.config) if result.config else Path(result.path or "").name
            job = by_name.get(name)
            if job is None:
                continue
            if result.error is not None:
                failed.append((job, _one_line(result.error)))
            elif (result.metrics or {}).get("finished"):
                if _is_uri(storage) and result.checkpoint is not None and not job.done:
                    result.checkpoint.to_directory(str(job.run_dir))
                if job.done:
                    finished.append(job)
                else:  # Ray remembers it finished, but someone removed its files since
                    failed.append((job, f"it finished in an earlier comparison but {job.run_dir}/eval.json is gone; "
                                        f"remove {experiment} to run everything again"))
        unfinished = [j for j in jobs if j not in finished and j not in [f[0] for f in failed]]
        if ctrl_c.pressed and (unfinished or failed):
            raise Interrupted(f"Interrupted: {len(finished)} of {len(jobs)} runs finished, the others saved "
                              "checkpoints; run the same command again to resume them.")
        if unfinished:
            failed += [(j, "did not finish") for j in unfinished]
        order = {j.name: i for i, j in enumerate(jobs)}
        finished.sort(key=lambda j: order[j.name])
        failed.sort(key=lambda f: order[f[0].name])
        return finished, failed
    finally:
        ray.shutdown()


def _preset_of(job: Job) -> dict:
    """A job's preset for its trial: the name as given (it names the run), and a preset file's
    absolute path (the trial's worker has another working directory)."""
    if job.preset is None:
        return {}
    file = Path(job.preset)
    return {"preset": job.preset, **({"preset_file": str(file.absolute())} if file.is_file() else {})}


def _trial_dirname_of_config(config: dict) -> str:
    run = config.get("run", config)
    return run_name(run["algo"], run.get("preset"), run["seed"])


def _trial_dirname_of_run(trial) -> str:
    return _trial_dirname_of_config(trial.config)
