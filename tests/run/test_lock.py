"""One writer per run: a second `train --resume`, `report` or `plot` into a run that is being
trained is refused in one sentence naming the holder, and touches nothing; readers go on."""

import csv
import hashlib
import json
import signal
import subprocess
import sys
import time

import pytest

from conftest import landers_cli
from landers.core.lock import run_lock
from landers.errors import LandersError


def snapshot(run, names=("metrics.csv", "episodes.csv", "evals.csv", "config.json")):
    return {n: hashlib.sha256((run / n).read_bytes()).hexdigest() for n in names if (run / n).exists()}


def assert_refused(result, pid):
    assert result.returncode == 2, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    assert lines[0].startswith("error: ") and f"being written by process {pid}" in lines[0], lines[0]


@pytest.mark.slow  # two landers processes and a kill: ~48 s at load 12
def test_a_second_writer_is_refused_and_a_killed_holder_leaves_no_stale_lock(tmp_path):
    run = tmp_path / "run"
    first = subprocess.Popen(
        [sys.executable, "-m", "landers", "train", "ppo", "CartPole-v1", "--steps", "10000000", "--quiet",
         "--run-dir", str(run), "--backend", "gymnasium", "--set", "checkpoint_every_s=1"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.time() + 120
        while not (run / "checkpoints" / "last" / "state.json").exists():
            assert first.poll() is None, first.communicate()
            assert time.time() < deadline
            time.sleep(0.2)
        assert (run / ".lock").read_text().strip() == str(first.pid)

        # The first is training all along; the writers below must refuse before writing.
        # Their refusals are compared on files the first only appends to.
        assert_refused(landers_cli("train", "--resume", str(run), "--steps", "20000000"), first.pid)
        assert_refused(landers_cli("report", str(run)), first.pid)
        assert_refused(landers_cli("plot", str(run)), first.pid)
        assert_refused(landers_cli("record", str(run)), first.pid)  # into RUN/videos
        assert not (run / "report.html").exists() and not (run / "plots.png").exists()
        # A reader needs no lock.
        result = landers_cli("eval", str(run), "--episodes", "2", "--json")
        assert result.returncode == 0, result.stderr
        # In-process too: the same sentence as an exception.
        try:
            with run_lock(run):
                raise AssertionError("a second lock on a run in use was granted")
        except LandersError as e:
            assert f"process {first.pid}" in str(e)
        config = (run / "config.json").read_text()
    finally:
        first.send_signal(signal.SIGINT)
        out, err = first.communicate(timeout=60)
    assert first.returncode == 130, err
    # One writer only: one header, steps strictly increasing, config untouched.
    with (run / "metrics.csv").open() as f:
        steps = [int(row["step"]) for row in csv.DictReader(f)]
    assert steps == sorted(set(steps))
    assert (run / "config.json").read_text() == config
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    assert state["global_step"] == steps[-1]

    # kill -9 of a holder: the OS drops its lock, nothing stale is left to remove by hand.
    holder = subprocess.Popen([sys.executable, "-c", (
        "import sys, time; from landers.core.lock import run_lock\n"
        f"with run_lock({str(run)!r}):\n    print('locked', flush=True); time.sleep(600)")],
        stdout=subprocess.PIPE, text=True)
    assert holder.stdout.readline().strip() == "locked"
    before = snapshot(run)
    assert_refused(landers_cli("train", "--resume", str(run), "--steps", str(steps[-1] + 64)), holder.pid)
    assert snapshot(run) == before
    holder.kill()
    holder.wait()
    result = landers_cli("train", "--resume", str(run), "--steps", str(steps[-1] + 64), "--quiet",
                         "--set", "final_eval_episodes=2")
    assert result.returncode == 0, result.stderr


def test_the_lock_is_reentrant_within_a_process(tmp_path):
    with run_lock(tmp_path):
        with run_lock(tmp_path):  # a report drawing its plots into the run it locked
            pass
        probe = subprocess.run([sys.executable, "-c", (
            "from landers.core.lock import run_lock\n"
            f"with run_lock({str(tmp_path)!r}): pass")], capture_output=True, text=True)
        assert probe.returncode != 0 and "being written by process" in probe.stderr
    probe = subprocess.run([sys.executable, "-c", (
        "from landers.core.lock import run_lock\n"
        f"with run_lock({str(tmp_path)!r}): pass")], capture_output=True, text=True)
    assert probe.returncode == 0, probe.stderr
