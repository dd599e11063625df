"""Ray plumbing that `compare`, `bench` and `tune` share, on the driver: joining (or starting) a
cluster, checking that the storage takes writes, keeping Ray's own output off the terminal,
saying a trial's failure in one line, and how often a failed trial is retried.

Everything here runs before or around `Tuner.fit`; nothing is imported by `landers train`.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import socket
import sys
import threading
import uuid
from pathlib import Path

import ray

from landers.errors import LandersError
from landers.run.spec import available_cores

MAX_FAILURES = 3  # retries of a trial whose worker died or raised, each from its last checkpoint
CONNECT_WAIT_S = 5.0  # for --address: TCP within this, ray.init within 6 times this
IDLE_WORKER_MS = 10_000  # how long a local Ray keeps an idle worker process beyond its soft limit


def is_uri(storage: str) -> bool:
    """Whether the storage is a URI (s3://...), which no node can write a run directory to."""
    return "://" in storage

def one_line(error: BaseException | str | None) -> str:
    """A trial's failure in one line: the innermost cause of a Ray error, a LandersError's own
    sentence, or the last line of a traceback's text."""
    if error is None:
        return "unknown error"
    if isinstance(error, str):
        lines = [line.strip() for line in error.strip().splitlines() if line.strip()]
        return lines[-1] if lines else "unknown error"
    from ray.exceptions import NodeDiedError, OutOfMemoryError, RayActorError, RayTaskError, WorkerCrashedError

    cause = error
    while isinstance(cause, RayTaskError) and getattr(cause, "cause", None) is not None and cause.cause is not cause:
        cause = cause.cause
    if isinstance(cause, (RayActorError, WorkerCrashedError, OutOfMemoryError, NodeDiedError)):
        return "its worker process died (killed, or out of memory)"
    if isinstance(cause, LandersError):
        return str(cause)
    text = str(cause).strip().splitlines()
    return f"{type(cause).__name__}: {text[-1] if text else ''}".rstrip(": ")


def reason_of(trial) -> str:
    """Why a Tune trial failed, in one line, from its error file."""
    error_file = getattr(trial, "error_file", None) or getattr(trial, "local_error_file", None)
    try:
        text = Path(error_file).read_text() if error_file else ""
    except OSError:
        text = ""
    if any(word in text for word in ("ActorDiedError", "RayActorError", "The actor died", "WorkerCrashedError",
                                      "OutOfMemoryError", "NodeDiedError")):
        return "its worker process died (killed, or out of memory)"
    return one_line(text or getattr(trial, "error_msg", None))

def quiet_ray_logs(log_file: Path) -> None:
    """Ray's Python loggers write to `log_file`, not the terminal; Tune prints no tables.
    After `import ray`, which gives the "ray" logger its terminal handler."""
    os.environ["RAY_AIR_NEW_OUTPUT"] = "0"  # the legacy reporter, which verbose=0 silences
    os.environ["TUNE_DISABLE_SIGINT_HANDLER"] = "1"  # Ctrl-C is ours; Tune still stops on SIGUSR1
    handler = logging.FileHandler(log_file)
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    logger = logging.getLogger("ray")  # ray.init(configure_logging=True) keeps its handlers
    logger.handlers = [handler]
    logger.propagate = False


def resolve_address(address: str) -> str:
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


def local_modules(sources) -> list[str]:
    """The files and package directories, under the current directory, of the modules that the
    env `sources` (EnvSources) import by name (`module:EnvId`, `module:factory`, `--wrap
    module:callable`): the top-level module or package of each, as the driver imported it."""
    cwd = Path.cwd().resolve()
    found: list[str] = []
    for name in dict.fromkeys(m.split(".")[0] for source in sources for m in source.modules):
        if name == "landers":  # the workers run their own landers: never one shipped over it
            continue
        try:
            module = importlib.import_module(name)  # imported already by the checks before Ray
        except ImportError:
            continue
        package = list(getattr(module, "__path__", None) or [])
        where = package[0] if len(package) == 1 else getattr(module, "__file__", None)
        if where and Path(where).resolve().is_relative_to(cwd):
            found.append(str(Path(where).resolve()))
    return found


def connect(address: str | None, *, cpus_per_run: int, log_file: Path, modules: list[str] = ()) -> str:
    """Start a local Ray (no address) or join the cluster at `address`; Ray's logs go to
    `log_file`. Returns the resources in words; one sentence when a run cannot fit.
    `cpus_per_run` is what one trial asks for (checked against the biggest node). `modules`
    (`local_modules`) go to a cluster's workers with the job (Ray's runtime_env py_modules)."""
    quiet_ray_logs(log_file)
    common = dict(include_dashboard=False, log_to_driver=False, logging_level=logging.INFO)
    if address is not None and modules:
        # Ray puts the driver's working directory on every worker's sys.path, which finds a user's
        # env module on this machine only: a worker on another machine has no such file there.
        # So the module's file (or its package) is uploaded with the job, nothing else of the
        # directory; on this machine the working directory still comes first.
        common["runtime_env"] = {"py_modules": list(modules)}
    if address is None:
        cpus = check_fits_here(cpus_per_run)
        # A worker idle for a moment is kept (Ray's default ends one beyond the soft limit, about
        # a worker per CPU, after 1 s): a study's next trial starts its seeds in the last one's
        # processes, with torch and the envs imported, while its own trial process starts.
        ray.init(address="local", num_cpus=cpus, _system_config={"idle_worker_killing_time_threshold_ms": IDLE_WORKER_MS},
                 **common)
    else:
        address = resolve_address(address)
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
            why = one_line(str(result.get("error", f"no Ray answer within {CONNECT_WAIT_S * 6:.0f} s"))).rstrip(".")
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


def check_fits_here(cpus_per_run: float, option: str = "--cpus-per-run") -> int:
    """This machine's CPUs for a local Ray, or one sentence when one run (or trial, `option`
    says which) asks for more."""
    cpus = available_cores()
    if cpus_per_run > cpus:
        raise LandersError(f"{option} {cpus_per_run:g} is more than this machine's {cpus} CPUs.")
    return cpus


def check_storage(storage: str) -> None:
    """One sentence now, not a failed trial later, when `storage` (a path or a URI) takes no writes."""
    probe = f".landers-probe-{uuid.uuid4().hex[:8]}"
    if is_uri(storage):
        import pyarrow.fs

        try:
            fs, path = pyarrow.fs.FileSystem.from_uri(storage)
            fs.create_dir(path, recursive=True)
            with fs.open_output_stream(f"{path}/{probe}"):
                pass
            fs.delete_file(f"{path}/{probe}")
        except Exception as e:  # noqa: BLE001 - pyarrow raises many kinds
            raise LandersError(f"Cannot write to the storage '{storage}': {one_line(str(e))}.") from None
        return
    try:
        Path(storage, "runs").mkdir(parents=True, exist_ok=True)
        (Path(storage) / probe).write_text("")
        (Path(storage) / probe).unlink()
    except OSError as e:
        raise LandersError(f"Cannot write to '{storage}': {e.strerror}.") from None

@contextlib.contextmanager
def output_to(log_file: Path):
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
        for fd, original in zip((1, 2), saved, strict=True):
            os.dup2(original, fd)
            os.close(original)
        os.close(log)
