"""The suite's fork server (tests/forkserver.py): a `landers` process (or script) forked from it
answers as a fresh interpreter does, gets the signals its client gets, ends its client as it
ended, and dies with its client."""

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import TESTS, fork_server, landers_cli, landers_command, python_command

pytestmark = pytest.mark.skipif(os.environ.get("LANDERS_TEST_FRESH") == "1", reason="LANDERS_TEST_FRESH=1: no fork server")


def fresh(*args: str, cwd=None) -> subprocess.CompletedProcess:
    env = dict(os.environ, OMP_NUM_THREADS="1", PYTHONUNBUFFERED="1", PYTHONPATH=str(TESTS))
    return subprocess.run([sys.executable, "-m", "landers", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


@pytest.mark.parametrize("args", [["train", "ppo", "NoSuch-v9"], ["config", "ppo"], ["train", "--help"],
                                  ["eval", "fake_envs_no_such_run"]])
def test_a_forked_landers_answers_as_a_fresh_one(args, tmp_path):
    assert fork_server() is not None
    forked, fresh_one = landers_cli(*args, cwd=tmp_path), fresh(*args, cwd=tmp_path)
    assert (forked.returncode, forked.stdout, forked.stderr) == (fresh_one.returncode, fresh_one.stdout, fresh_one.stderr)


def test_a_module_of_the_working_directory_is_found_as_in_a_fresh_process(tmp_path):
    (tmp_path / "herenv.py").write_text(
        "import gymnasium as gym\n"
        "gym.register('Here-v0', entry_point='gymnasium.envs.classic_control:CartPoleEnv', max_episode_steps=20)\n")
    args = ["train", "random", "herenv:Here-v0", "--steps", "64", "--quiet", "--set", "final_eval_episodes=2"]
    result = landers_cli(*args, "--run-dir", str(tmp_path / "run"), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "run" / "eval.json").exists()
    elsewhere = landers_cli(*args, "--run-dir", str(tmp_path / "run2"), cwd=TESTS)  # herenv is not there
    assert elsewhere.returncode == 2 and "Cannot import module 'herenv'" in elsewhere.stderr, elsewhere.stderr


def _alive(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z"
    except (OSError, IndexError):
        return False


def _lock_holder(run: Path, other_than: int = 0) -> int:
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        try:
            pid = int((run / ".lock").read_text().strip())
            if pid != other_than and (run / "checkpoints" / "last" / "state.json").exists() and _alive(pid):
                return pid
        except (OSError, ValueError):
            pass
        time.sleep(0.2)
    raise AssertionError(f"no landers process took {run}")


def test_ctrl_c_reaches_the_forked_process_and_it_dies_with_its_client(tmp_path):
    run = tmp_path / "run"
    env = dict(os.environ, OMP_NUM_THREADS="1")
    long = ["--steps", "10000000", "--quiet", "--set", "checkpoint_every_s=1"]
    client = subprocess.Popen(landers_command("train", "ppo", "CartPole-v1", "--run-dir", str(run), "--backend",
                                              "gymnasium", *long),
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    pid = _lock_holder(run)
    assert pid != client.pid  # the landers process is the server's, not the client
    client.send_signal(signal.SIGINT)
    _, err = client.communicate(timeout=60)
    assert client.returncode == 130 and "Interrupted at step" in err and "Traceback" not in err
    assert not _alive(pid)

    resume = landers_command("train", "--resume", str(run), *long)
    client = subprocess.Popen(resume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = _lock_holder(run, other_than=pid)
    os.kill(pid, signal.SIGKILL)  # the landers process killed: its client ends as it did
    assert client.wait(timeout=60) == -signal.SIGKILL

    client = subprocess.Popen(resume, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    pid = _lock_holder(run, other_than=pid)
    client.kill()  # as subprocess.run does at its timeout
    client.wait()
    deadline = time.monotonic() + 10
    while _alive(pid) and time.monotonic() < deadline:
        time.sleep(0.1)
    assert not _alive(pid)


SCRIPTS = {
    # argv, the script's directory first and PYTHONPATH next, a module found there, the exit code
    "paths": "import sys, mymod\nprint(sys.argv, sys.path[:2], mymod.__file__, __name__)\nraise SystemExit(int(sys.argv[1]))\n",
    # PYTHONUNBUFFERED: what was printed is in the pipe when a SIGKILL ends the process
    "killed": "import os, signal, sys\nprint('before', sys.argv[1:])\nos.kill(os.getpid(), signal.SIGKILL)\n",
    # an uncaught Ctrl-C: its traceback, then death by SIGINT
    "interrupted": "print('start')\nraise KeyboardInterrupt\n",
}


@pytest.mark.parametrize("name", SCRIPTS)
def test_a_script_runs_as_python_script_would(name, tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "lib").mkdir()
    (tmp_path / "lib" / "mymod.py").write_text("")
    script = tmp_path / "sub" / "show.py"
    script.write_text(SCRIPTS[name])
    command = [str(script), "3", "x y"]
    env = dict(os.environ, PYTHONPATH=str(tmp_path / "lib"), PYTHONUNBUFFERED="1")
    forked = subprocess.run(python_command(*command), capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    fresh_one = subprocess.run([sys.executable, *command], capture_output=True, text=True, cwd=tmp_path, env=env, timeout=60)
    assert (forked.returncode, forked.stdout) == (fresh_one.returncode, fresh_one.stdout)
    assert forked.stdout and forked.returncode == {"paths": 3, "killed": -9, "interrupted": -2}[name]
    assert forked.stderr.strip().splitlines()[-1:] == fresh_one.stderr.strip().splitlines()[-1:]
