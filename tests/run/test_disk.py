"""Writes that fail (a full disk, a read-only filesystem) leave the previous checkpoint complete
and the CSVs without partial rows, and end the run with one sentence naming the file. The
filesystems are real: small tmpfs mounts, which need root."""

import contextlib
import errno
import os
import shutil
import subprocess
import sys
import time

import numpy as np
import pytest

import landers
from conftest import landers_cli
from landers.core import checkpoint
from landers.core.files import CsvAppender, read_json_object, read_table
from landers.errors import WriteFailed


@pytest.fixture
def mount(tmp_path):
    """mount(size, ro=False) -> a fresh tmpfs of `size` (e.g. "2m") under tmp_path."""
    if os.geteuid() != 0:
        pytest.skip("mounting a small tmpfs needs root")
    mounted = []

    def make(size):
        where = tmp_path / f"mnt{len(mounted)}"
        where.mkdir()
        proc = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(where)],
                              capture_output=True, text=True)
        if proc.returncode != 0:
            pytest.skip(f"cannot mount a tmpfs here: {proc.stderr.strip()}")
        mounted.append(where)
        return where

    yield make
    for where in mounted:
        subprocess.run(["umount", "-l", str(where)], check=False)


def fill(directory, name="filler"):
    """Take every free byte of `directory`'s filesystem."""
    with open(directory / name, "wb", buffering=0) as f:
        for size in (1 << 20, 4096, 1):
            with contextlib.suppress(OSError):
                while True:
                    f.write(b"\0" * size)


def assert_one_sentence(result, code, *fragments):
    assert result.returncode == code, (result.returncode, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "Traceback" not in result.stderr, result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def test_writes_into_a_full_disk_fail_whole_and_keep_what_was_there(cartpole_run, mount):
    run = mount("2m") / "run"
    shutil.copytree(cartpole_run, run)
    probe = np.zeros(4, np.float32)
    expected = landers.load(run).predict(probe)
    tensors, state = checkpoint.read(run / "checkpoints" / "last")
    metrics = (run / "metrics.csv").read_bytes()
    fill(run.parent)

    with pytest.raises(WriteFailed, match="No space left on device") as caught:
        checkpoint.write(run / "checkpoints" / "last", tensors, state)
    assert str(run / "checkpoints" / "last.tmp") in str(caught.value)
    assert landers.load(run).predict(probe) == expected
    assert sorted(p.name for p in (run / "checkpoints").iterdir()) == ["best", "last"]

    with pytest.raises(WriteFailed, match=f"Cannot write '{run / 'eval.json'}': No space left on device"):
        checkpoint.write_json_atomic(run / "eval.json", {"mean": 1.0})
    assert "random" in read_json_object(run / "eval.json")

    log = CsvAppender(run / "metrics.csv", ["step", "policy_loss"])
    with pytest.raises(WriteFailed, match="metrics.csv': No space left on device"):
        log.write([{"step": 1, "policy_loss": "1" * 20_000}])  # more than a page: a short write
    log.close()
    assert (run / "metrics.csv").read_bytes() == metrics  # undone back to the last whole row


@pytest.mark.slow  # landers processes on a full disk: ~15 s at load 12
def test_a_run_whose_disk_fills_up_ends_in_one_sentence_and_resumes_once_there_is_room(mount):
    run = mount("8m") / "run"
    proc = subprocess.Popen(
        [sys.executable, "-m", "landers", "train", "ppo", "CartPole-v1", "--steps", "10000000", "--quiet",
         "--run-dir", str(run), "--backend", "gymnasium", "--set", "checkpoint_every_s=0.5"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env={**os.environ, "OMP_NUM_THREADS": "1"})
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last" / "state.json").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.2)
    fill(run.parent)
    try:
        out, err = proc.communicate(timeout=120)
    finally:
        proc.kill()
    result = subprocess.CompletedProcess(proc.args, proc.returncode, out, err)
    assert_one_sentence(result, 1, "No space left on device", f"Cannot write '{run}", "checkpoints/last keeps step",
                        f"landers train --resume {run}")

    state = checkpoint.read(run / "checkpoints" / "last")[1]
    assert landers.load(run).predict(np.zeros(4, np.float32)) in (0, 1)
    for name in ("metrics.csv", "episodes.csv"):
        header, rows, dropped = read_table(run / name)
        assert rows and dropped == 0, name  # every row whole: nothing torn to skip
    (run.parent / "filler").unlink()
    result = landers_cli("train", "--resume", str(run), "--steps", str(state["global_step"] + 1024), "--quiet",
                         "--set", "final_eval_episodes=2")
    assert result.returncode == 0, result.stderr


@pytest.mark.slow  # landers processes on a read-only mount: ~8 s at load 10
def test_a_read_only_filesystem_is_one_sentence_and_changes_nothing(cartpole_run, mount):
    run = mount("2m") / "run"
    shutil.copytree(cartpole_run, run)
    (run / "report.html").unlink(missing_ok=True)
    before = {p: p.read_bytes() for p in run.rglob("*") if p.is_file()}
    proc = subprocess.run(["mount", "-o", "remount,ro", str(run.parent)], capture_output=True, text=True)
    if proc.returncode != 0:
        pytest.skip(f"cannot remount the tmpfs read-only: {proc.stderr.strip()}")
    assert_one_sentence(landers_cli("train", "--resume", str(run), "--steps", "4096"), 1,
                        f"'{run}'", os.strerror(errno.EROFS))
    assert_one_sentence(landers_cli("report", str(run)), 1, os.strerror(errno.EROFS))
    assert {p: p.read_bytes() for p in run.rglob("*") if p.is_file()} == before
    assert landers.load(run).predict(np.zeros(4, np.float32)) in (0, 1)  # readers need no write
