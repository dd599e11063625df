"""`landers compare` on real Ray: the embedded local Ray, a two-node cluster on 127.0.0.1, a
killed trial worker, Ctrl-C and the same command again, a wrong address. No mocks.

Every Ray process a test starts carries LANDERS_TEST_RAY=<a fresh id> in its environment (Ray's
workers inherit it from their raylet) or writes its logs into the test's own Ray temp dirs (the
dashboard and runtime-env agents, which Ray starts without that variable), so each test stops
exactly its own processes and checks that none is left; the two-node cluster, shared by the
tests that need one, is stopped and checked so at the end of the session.
"""

import csv
import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

import pytest

from conftest import landers_cli, landers_in_process

pytestmark = pytest.mark.ray  # a local Ray or a cluster in nearly every test: the edit loop skips them

RAY = str(Path(sys.executable).with_name("ray"))
COMPARE = ["compare", "CartPole-v1"]


def _processes_with(marker: str, dirs: tuple[str, ...] = ()) -> list[int]:
    """Processes whose environment holds the marker, or that hold a file open under `dirs`."""
    found, dirs = set(), tuple(d.rstrip("/") + "/" for d in dirs)
    for proc in glob.glob("/proc/[0-9]*"):
        try:
            if f"LANDERS_TEST_RAY={marker}".encode() in Path(proc, "environ").read_bytes().split(b"\0"):
                found.add(int(proc.split("/")[2]))
            elif dirs and any(os.readlink(fd).startswith(dirs) for fd in glob.glob(f"{proc}/fd/*")):
                found.add(int(proc.split("/")[2]))
        except OSError:
            continue
    return sorted(pid for pid in found if pid != os.getpid())


def _stop(marker: str, dirs: tuple[str, ...] = ()) -> None:
    """SIGTERM, then SIGKILL after 5 s, to the processes this test started; none may remain."""
    for sig, wait in ((signal.SIGTERM, 5.0), (signal.SIGKILL, 5.0)):
        for pid in _processes_with(marker, dirs):
            try:
                os.kill(pid, sig)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + wait
        while _alive(marker, dirs) and time.monotonic() < deadline:
            time.sleep(0.2)
    assert not _alive(marker, dirs), f"Ray processes left: {_processes_with(marker, dirs)}"


def _alive(marker: str, dirs: tuple[str, ...] = ()) -> list[int]:
    alive = []
    for pid in _processes_with(marker, dirs):
        try:
            if Path(f"/proc/{pid}/stat").read_text().split(") ")[1][0] != "Z":  # zombies are gone
                alive.append(pid)
        except (OSError, IndexError):
            continue
    return alive


@pytest.fixture
def ray_env():
    """The environment for a command that starts Ray, marked; afterwards checks none is left.
    RAY_TMPDIR keeps the sockets' paths short and this test's files apart."""
    marker = uuid.uuid4().hex
    tmp = tempfile.mkdtemp(prefix="lt", dir="/tmp")
    yield {**os.environ, "LANDERS_TEST_RAY": marker, "RAY_TMPDIR": tmp}
    # An embedded Ray stops with its command; give it a moment, then insist.
    deadline = time.monotonic() + 15
    while _alive(marker, (tmp,)) and time.monotonic() < deadline:
        time.sleep(0.5)
    _stop(marker, (tmp,))
    shutil.rmtree(tmp, ignore_errors=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _results(out: Path) -> dict[str, list[dict]]:
    """Ray's per-trial result log (one JSON line per tune.report), by run name."""
    found = {}
    for path in glob.glob(str(out / "ray" / "*" / "*" / "result.json")):
        lines = Path(path).read_text().splitlines()
        found[Path(path).parent.name] = [json.loads(line) for line in lines if line.strip()]
    return found


def _rows(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "comparison.csv").open()))


def test_landers_train_does_not_import_ray():
    result = subprocess.run([sys.executable, "-X", "importtime", "-m", "landers", "train", "--help"],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 0
    modules = [line.rsplit("|", 1)[-1].strip() for line in result.stderr.splitlines() if line.startswith("import time:")]
    assert "landers.cli" in modules and not [m for m in modules if m.split(".")[0] == "ray"]


@pytest.mark.ray
def test_compare_on_the_embedded_ray(tmp_path, ray_env, monkeypatch):
    out = tmp_path / "cmp"
    # A preset file, given relative to the working directory, as `landers tune` writes one.
    (tmp_path / "tuned").mkdir()
    (tmp_path / "tuned" / "best.json").write_text(json.dumps(
        {"algo": "ppo", "env_id": "CartPole-v1", "steps": 50000, "hparams": {"lr": 0.0011, "update_epochs": 3}}))
    args = [*COMPARE, "--algos", "ppo,random,ppo@tuned/best.json", "--seeds", "2", "--first-seed", "3", "--steps", "2048",
            "--out", str(out)]
    result = landers_cli(*args, env=ray_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "6 runs (0 already finished) on Ray (" in result.stdout and " on 1 node, 1 CPU per run)" in result.stdout
    assert [(r["algo"], r["seeds"]) for r in _rows(out)] == [("ppo", "2"), ("random", "2"), ("ppo@tuned/best.json", "2")]
    for name in ("curves_steps.png", "curves_steps.svg", "curves_time.png", "curves_time.svg", "comparison.md"):
        assert (out / name).stat().st_size > 0
    assert sorted(p.name for p in (out / "runs").iterdir()) == [
        "ppo@tuned_best.json__s3", "ppo@tuned_best.json__s4", "ppo__s3", "ppo__s4", "random__s3", "random__s4"]
    tuned = json.loads((out / "runs" / "ppo@tuned_best.json__s3" / "config.json").read_text())
    shipped = json.loads((out / "runs" / "ppo__s4" / "config.json").read_text())
    assert tuned["seed"] == 3 and shipped["seed"] == 4
    assert tuned["hparams"]["lr"] == 0.0011 and tuned["hparams"]["update_epochs"] == 3
    assert tuned["preset"] == str(tmp_path / "tuned" / "best.json") and shipped["preset"] == "ppo-cartpole"
    assert "| ppo@tuned/best.json | 2 |" in (out / "comparison.md").read_text()
    # Each trial reported its evaluations and handed Ray its checkpoint; Tune printed nothing.
    results = _results(out)
    assert all(rows[-1]["finished"] and any("eval_mean" in r for r in rows) for rows in results.values())
    assert all(glob.glob(str(out / "ray" / "*" / name / "checkpoint_*")) for name in results)
    assert "Configuration for experiment" not in result.stdout + result.stderr and not result.stderr.strip()
    (out / "comparison.md").unlink()
    again = landers_cli(*args, env=ray_env, cwd=tmp_path)
    assert again.returncode == 0 and "6 runs (6 already finished)" in again.stdout, again.stderr
    assert "Ray is not started" in again.stdout and (out / "comparison.md").stat().st_size > 0
    # A finished run is reused only for the very run it is: another budget, or a preset file
    # changed since, is one sentence (naming what differs) before anything runs or changes.
    # (Refused before Ray starts, so in this process.)
    monkeypatch.chdir(tmp_path)
    before = {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()}
    longer = landers_in_process(*[a if a != "2048" else "4096" for a in args])
    wider = landers_in_process(*args, "--cpus-per-run", "2")
    (tmp_path / "tuned" / "best.json").write_text(json.dumps(
        {"algo": "ppo", "env_id": "CartPole-v1", "steps": 50000, "hparams": {"lr": 0.002, "update_epochs": 3}}))
    edited = landers_in_process(*args)
    for result, words in ((longer, "(steps)"), (wider, "(--cpus-per-run)"), (edited, "(hparams.lr)")):
        lines = result.stderr.strip().splitlines()
        assert result.returncode == 2 and len(lines) == 1 and "other settings" in lines[0], result.stderr
        assert words in lines[0]
    assert "ppo@tuned_best.json__s3" in edited.stderr
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized(), "a refusal started Ray"
    assert {p: p.stat().st_mtime_ns for p in (out / "runs").rglob("*") if p.is_file()} == before


@pytest.mark.ray
def test_compare_trains_a_recurrent_policy_from_a_preset_file_on_an_env_that_raises_on_illegal_actions(
        tmp_path, ray_env):
    """`--algos ppo@gru.json,random` on Doors, which raises on a closed door: the preset file's
    rnn reaches its run on a Ray worker, and no run (trained, evaluated) ever breaks the mask."""
    from safetensors import safe_open

    (tmp_path / "gru.json").write_text(json.dumps({"algo": "ppo", "env_id": "Doors-v0", "steps": 512, "hparams": {
        "num_envs": 4, "num_steps": 32, "num_minibatches": 2, "update_epochs": 2, "rnn": "gru", "rnn_size": 16}}))
    out = tmp_path / "cmp"
    result = landers_cli("compare", "fake_envs:Doors-v0", "--algos", "ppo@gru.json,random", "--seeds", "1",
                         "--steps", "512", "--out", str(out), env=ray_env, cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert [r["algo"] for r in _rows(out)] == ["ppo@gru.json", "random"]
    runs = out / "runs"
    recurrent = json.loads((runs / "ppo@gru.json__s1" / "config.json").read_text())["hparams"]
    assert (recurrent["rnn"], recurrent["rnn_size"]) == ("gru", 16)
    with safe_open(str(runs / "ppo@gru.json__s1" / "checkpoints" / "last" / "tensors.safetensors"), "pt") as f:
        assert f.get_tensor("model.cores.0.weight_hh_l0").shape == (3 * 16, 16)  # a GRU's three gates
    metrics = list(csv.DictReader((runs / "ppo@gru.json__s1" / "metrics.csv").open()))
    assert metrics and all(float(m["gradient_steps"]) == 4 for m in metrics)  # 2 epochs x 2 groups of envs
    state = json.loads((runs / "ppo@gru.json__s1" / "checkpoints" / "last" / "state.json").read_text())
    assert state["action_mask"] == "method"
    for name in ("ppo@gru.json__s1", "random__s1"):  # the final 100 episodes of Doors ran
        assert json.loads((runs / name / "eval.json").read_text())["episodes"] == 100


@pytest.mark.ray
def test_a_uri_storage_holds_the_runs_as_checkpoints_and_out_gets_them(tmp_path, ray_env):
    out, storage = tmp_path / "cmp", tmp_path / "store"
    result = landers_cli(*COMPARE, "--algos", "random", "--seeds", "1", "--steps", "1024", "--out", str(out),
                         "--storage", f"file://{storage}", env=ray_env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert (out / "runs" / "random__s1" / "eval.json").exists() and len(_rows(out)) == 1
    # the trial trained in a scratch directory; Ray's checkpoint is the whole run directory
    assert glob.glob(str(storage / "ray" / "*" / "random__s1" / "checkpoint_*" / "eval.json"))
    assert not (storage / "runs").exists()


@pytest.mark.ray
def test_compare_on_a_two_node_cluster(tmp_path, cluster):
    address, env = cluster
    out = tmp_path / "cmp"
    result = landers_cli(*COMPARE, "--algos", "ppo,random", "--seeds", "2", "--steps", "2048", "--out", str(out),
                         "--address", address, env=env)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "on Ray (2 CPUs on 2 nodes" in result.stdout
    assert len(_rows(out)) == 2
    results = _results(out)
    assert len(results) == 4
    assert len({rows[-1]["node_id"] for rows in results.values()}) == 2, "every trial ran on one node"
    for name in results:  # written by whichever node ran it, under --out
        assert (out / "runs" / name / "eval.json").exists()


@pytest.mark.ray
def test_a_killed_worker_is_retried_from_its_checkpoint(tmp_path, ray_env):
    out = tmp_path / "cmp"
    args = [*COMPARE, "--algos", "ppo", "--seeds", "1", "--steps", "40000", "--out", str(out)]
    proc = subprocess.Popen([sys.executable, "-m", "landers", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env={**ray_env, "OMP_NUM_THREADS": "1"})
    try:
        deadline = time.monotonic() + 120
        while not (rows := _results(out).get("ppo__s1")) and time.monotonic() < deadline:
            time.sleep(0.2)
        assert rows, "no evaluation reported"
        killed_at = rows[-1]["step"]
        os.kill(rows[-1]["pid"], signal.SIGKILL)
        stdout, stderr = proc.communicate(timeout=240)
    finally:
        proc.kill()
    assert proc.returncode == 0, stdout + stderr
    assert "retry 1 of 3 from its last checkpoint" in stdout and "worker process died" in stdout
    assert len(_rows(out)) == 1
    rows = _results(out)["ppo__s1"]
    assert rows[-1]["finished"] and rows[-1]["pid"] != rows[0]["pid"]
    assert rows[-1]["start_step"] >= killed_at > 0  # resumed, not started over


@pytest.mark.ray
def test_ctrl_c_then_the_same_command_resumes(tmp_path, ray_env):
    out = tmp_path / "cmp"
    args = [*COMPARE, "--algos", "random,ppo", "--seeds", "1", "--out", str(out), "--steps", "20000"]
    env = {**ray_env, "OMP_NUM_THREADS": "1"}
    # random (cheap updates) finishes first; ppo is still training when Ctrl-C comes
    proc = subprocess.Popen([sys.executable, "-m", "landers", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=env)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not (
                (out / "runs" / "random__s1" / "eval.json").exists() and _results(out).get("ppo__s1")):
            time.sleep(0.2)
        assert _results(out).get("ppo__s1"), "ppo never reported"
        proc.send_signal(signal.SIGINT)
        stdout, stderr = proc.communicate(timeout=90)
    finally:
        proc.kill()
    assert proc.returncode == 130, stdout + stderr
    assert "stopped at" in stdout and "Traceback" not in stderr
    assert "run the same command again" in stderr
    saved = json.loads((out / "runs" / "ppo__s1" / "checkpoints" / "last" / "state.json").read_text())["global_step"]
    assert not (out / "runs" / "ppo__s1" / "eval.json").exists() and saved > 0
    random_eval = (out / "runs" / "random__s1" / "eval.json").stat().st_mtime_ns
    # The same command: Ray restores the experiment; random is not re-run, ppo resumes.
    again = landers_cli(*args, env=env, timeout=400)
    assert again.returncode == 0, again.stdout + again.stderr
    assert "resuming the interrupted comparison" in again.stdout
    assert (out / "runs" / "random__s1" / "eval.json").stat().st_mtime_ns == random_eval
    resumed = [r for r in _results(out)["ppo__s1"] if r["start_step"] > 0]
    assert resumed and resumed[0]["start_step"] == saved
    assert len(_rows(out)) == 2


@pytest.mark.ray
def test_a_run_that_keeps_failing_is_a_failed_row_and_the_others_finish(tmp_path, ray_env):
    out = tmp_path / "cmp"
    env = {**ray_env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # Ray's workers import tests.fake_envs
    result = landers_cli("compare", "tests.fake_envs:RefusesSeedOne-v0", "--algos", "random", "--seeds", "2",
                         "--steps", "512", "--out", str(out), env=env)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "retry 3 of 3" in result.stdout and "Traceback" not in result.stderr
    assert "1 run(s) failed (random seed 1: tests.fake_envs:RefusesSeedOne-v0 raised RuntimeError (this env refuses seed 1))" in result.stderr
    assert "| random seed 1 | failed: tests.fake_envs:RefusesSeedOne-v0 raised RuntimeError (this env refuses seed 1) |" in (out / "comparison.md").read_text()
    assert [(r["algo"], r["seeds"]) for r in _rows(out)] == [("random", "1")]


@pytest.mark.ray
def test_bad_input_is_one_sentence_and_quick(tmp_path, ray_env):
    port = _free_port()  # nothing listens there
    start = time.monotonic()
    result = landers_cli(*COMPARE, "--seeds", "1", "--out", str(tmp_path / "a"), "--address", f"127.0.0.1:{port}",
                         env=ray_env)
    assert time.monotonic() - start < 30
    assert result.returncode == 2 and result.stderr.count("\n") == 1 and "No Ray cluster answers" in result.stderr
    for args, words in ((["--jobs", "2"], "--jobs is gone"),
                        (["--cpus-per-run", "999"], "more than this machine's"),
                        (["--cpus-per-run", "0"], "must be positive"),
                        (["--storage", "/proc/landers"], "Cannot write"),
                        (["--algos", "ppo,dqn"], "Unknown algorithm 'dqn'"),
                        (["--algos", "ppo,ppo@no-such-preset"], "no-such-preset"),
                        (["--algos", "ppo,ppo"], "same entry twice"),
                        (["--algos", "ppo,ppo@"], "same entry twice"),
                        (["--algos", "ppo@a/b.json,ppo@a_b.json"], "same entry twice"),
                        (["--first-seed", "-1"], "--first-seed")):
        # refused before Ray starts, so in this process (a process each took 2 s)
        result = landers_in_process(*COMPARE, "--out", str(tmp_path / "b"), *args)
        assert result.returncode == 2 and words in result.stderr and result.stderr.count("\n") == 1, (args, result.stderr)
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized(), "a refusal started Ray"
    assert not (tmp_path / "b").exists()
