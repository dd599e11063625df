import functools
import os
import shutil
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

import pytest
import torch

torch.set_num_threads(1)

# Small, fast settings for runs that test plumbing rather than learning.
TINY = dict(num_envs=4, num_steps=16, num_minibatches=2, update_epochs=2)


TESTS = Path(__file__).resolve().parent


_START_ENV = dict(os.environ)  # the fork server's: not whatever a test has monkeypatched when it starts


def fork_server() -> str | None:
    """The socket of this pytest process's fork server (tests/forkserver.py: `landers` processes
    without seconds of imports each), started on first use; None with LANDERS_TEST_FRESH=1."""
    return None if os.environ.get("LANDERS_TEST_FRESH") == "1" else _start_fork_server()


@functools.cache
def _start_fork_server() -> str:
    import atexit
    import time

    where = tempfile.mkdtemp(prefix="lfs", dir="/tmp")
    path = os.path.join(where, "s")
    env = {k: v for k, v in _START_ENV.items() if k != "PYTHONPATH"}
    env["OMP_NUM_THREADS"] = "1"  # what every landers_cli process runs with, read once at torch's import
    # A session of its own: a Ctrl-C of the suite reaches a landers process once, through its client.
    server = subprocess.Popen([sys.executable, str(TESTS / "forkserver.py"), "serve", path, str(os.getpid())],
                              env=env, stdin=subprocess.DEVNULL, start_new_session=True)

    def stop():
        server.kill()
        server.wait()
        shutil.rmtree(where, ignore_errors=True)

    atexit.register(stop)
    deadline = time.monotonic() + 180
    while not os.path.exists(path):
        assert server.poll() is None and time.monotonic() < deadline, "the fork server did not start"
        time.sleep(0.05)
    return path


def python_command(*args: str) -> list[str]:
    """The command line of `python ARGS` (`-m landers ...` or `SCRIPT ...`): a client of the fork
    server, or a fresh interpreter without one."""
    server = fork_server()
    if server is None:
        return [sys.executable, *args]
    return [sys.executable, "-S", "-E", str(TESTS / "forkserver.py"), server, *args]


def landers_command(*args: str) -> list[str]:
    """The command line of a `landers` process (`python_command`)."""
    return python_command("-m", "landers", *args)


def landers_cli(*args: str, timeout: float = 300, env: dict | None = None, **kwargs) -> subprocess.CompletedProcess:
    """Run the real `landers` CLI in a process of its own (in `env`, default this process's),
    forked from the fork server (`landers_command`); `fake_envs` (tests/) is importable in it."""
    env = dict(os.environ if env is None else env)
    path = os.pathsep.join(p for p in (str(TESTS), env.get("PYTHONPATH", "")) if p)
    env.update({"OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1", "PYTHONPATH": path})
    return subprocess.run(landers_command(*args), capture_output=True, text=True, timeout=timeout, env=env, **kwargs)


def landers_in_process(*args: str) -> subprocess.CompletedProcess:
    """The `landers` CLI run in this process by typer's CliRunner, for checks that need no
    process of their own (bad input): the same returncode, stdout and stderr as `landers_cli`
    gives, in a fraction of the time. An exception that escapes a command (a traceback the user
    would see) is raised here, failing the test."""
    from typer.testing import CliRunner

    from landers.cli import app

    result = CliRunner().invoke(app, list(args))
    if result.exception is not None and not isinstance(result.exception, SystemExit):
        raise result.exception
    return subprocess.CompletedProcess(["landers", *args], result.exit_code, result.stdout, result.stderr)


@pytest.fixture(scope="session")
def cartpole_run(tmp_path_factory) -> Path:
    """A tiny finished CartPole run, shared by tests that only read it."""
    import landers

    run_dir = tmp_path_factory.mktemp("runs") / "cartpole"
    landers.train("ppo", "CartPole-v1", steps=2048, seed=3, run_dir=run_dir, backend="gymnasium",
                  eval_every=1024, final_eval_episodes=5, **TINY)
    return run_dir


def headless_chrome(window_size: str = "1200,2400"):
    """A headless Chromium driven by selenium (Debian's chromium and chromium-driver), or a
    skip saying what is missing. The background-networking flags keep it off this machine's
    closed network."""
    import shutil

    pytest.importorskip("selenium", reason="selenium is not installed (pip install 'landers[dev]')")
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    driver = shutil.which("chromedriver")
    if not chromium or not driver:
        pytest.skip("Chromium and ChromeDriver are not installed (Debian: apt-get install chromium chromium-driver)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for flag in ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync",
                 "--autoplay-policy=no-user-gesture-required", f"--window-size={window_size}"):
        options.add_argument(flag)
    return webdriver.Chrome(service=Service(driver), options=options)


@pytest.fixture(scope="session")
def cluster():
    """A real two-node Ray cluster on this machine: a head and a second node, one CPU each,
    each with its own temp dir, bound to 127.0.0.1, no token (a throwaway test cluster). One for
    the session: the tests that use it run one after another on one pytest-xdist worker
    (below), each a job of its own; starting it took about 10 s, stopping it 5 s. At the
    end its processes are stopped, and none may remain."""
    from test_ray import RAY, _free_port, _stop  # tests/scale: where every cluster test is

    port = _free_port()
    env = {**os.environ, "LANDERS_TEST_RAY": uuid.uuid4().hex, "RAY_AUTH_MODE": "disabled"}
    env.pop("RAY_TMPDIR", None)
    dirs = [tempfile.mkdtemp(prefix="lh", dir="/tmp"), tempfile.mkdtemp(prefix="lw", dir="/tmp")]
    common = ["--num-cpus", "1", "--node-ip-address", "127.0.0.1", "--disable-usage-stats"]
    try:
        for cmd in ([RAY, "start", "--head", "--port", str(port), "--include-dashboard", "false",
                     "--temp-dir", dirs[0], *common],
                    [RAY, "start", "--address", f"127.0.0.1:{port}", "--temp-dir", dirs[1], *common]):
            started = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=120)
            assert started.returncode == 0, started.stdout + started.stderr
        yield f"127.0.0.1:{port}", env
    finally:
        _stop(env["LANDERS_TEST_RAY"], tuple(dirs))
        for d in dirs:
            shutil.rmtree(d, ignore_errors=True)


# The tests that start a `ray start` cluster run in one group, on one pytest-xdist worker, one
# after another: a head takes fixed ports (the client server's among them), so two at once would
# collide. Every other Ray test (an embedded Ray on ports of its own, its processes marked per
# test) spreads over both workers like the rest. Grouping all Ray tests (in one group, then two)
# made one worker's serial queue the suite's critical path.


# The workers take tests in collection order, so the long ones (the cluster group, then the other
# Ray and slow tests) go first: otherwise a page of slow doc blocks, collected last, would keep one
# worker busy at the end while the other has nothing left.


def cost_rank(item) -> int:
    if item.get_closest_marker("ray") is not None:
        return 0 if "cluster" in getattr(item, "fixturenames", ()) else 1
    return 2 if item.get_closest_marker("slow") or item.get_closest_marker("learning") else 3


def pytest_collection_modifyitems(config, items):
    """Under pytest-xdist (`make test` runs `-n 2 --dist loadgroup`), the cluster tests go into
    one group, and the long tests are collected first."""
    for item in items:
        if cost_rank(item) == 0:
            item.add_marker(pytest.mark.xdist_group("ray-cluster"))
    items.sort(key=cost_rank)  # stable: each rank keeps the files' order
