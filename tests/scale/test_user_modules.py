"""`compare`, `bench` and `tune` with the user's own env module from the current directory
(`myenvs:Tiny-v0`, `myenvs:make_tiny`), as `landers train` takes it: the driver imports it, and
so do the Ray workers that train each seed, whose PYTHONPATH does not hold that directory; on a
cluster by --address, whose workers do not see the driver's directory, the module arrives with
the job (Ray's runtime_env py_modules). A missing module is one sentence before Ray starts. On
real Ray; no mocks."""

import csv
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from test_ray import ray_env  # noqa: F401  (fixture: marked Ray processes, none left behind)

import landers
from conftest import landers_cli, landers_in_process

# Appends the path it was imported from to IMPORTS (filled in per test) on every import: the
# driver's, and each Ray worker's.
MODULE = '''
import gymnasium as gym
import numpy as np

with open({imports!r}, "a") as log:
    log.write(__file__ + "\\n")


class Tiny(gym.Env):
    """Ten steps; action 1 pays 1, so a learner beats the random policy's ~5."""

    observation_space = gym.spaces.Box(-1, 1, (2,), np.float32)
    action_space = gym.spaces.Discrete(2)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t = 0
        return np.zeros(2, np.float32), {{}}

    def step(self, action):
        self.t += 1
        return np.full(2, 0.1 * action, np.float32), float(action), self.t >= 10, False, {{}}


gym.register("Tiny-v0", entry_point=Tiny)


def make_tiny():
    return Tiny()
'''
FAST = ["--seeds", "1", "--steps", "256"]


def user_dir(tmp_path: Path) -> tuple[Path, Path]:
    """A directory holding myenvs.py (the user's current directory) and its import log."""
    home, imports = tmp_path / "home", tmp_path / "imports.log"
    home.mkdir()
    (home / "myenvs.py").write_text(MODULE.format(imports=str(imports)))
    return home, imports


def without(env: dict, directory: Path) -> dict:
    """`env` (a test's Ray environment) with the landers under test as its only import path (made
    absolute: the command runs elsewhere), checked not to hold `directory`."""
    env = {**env, "PYTHONPATH": str(Path(landers.__file__).resolve().parents[1])}
    env.pop("PYTHONSAFEPATH", None)
    assert not Path(env["PYTHONPATH"]).is_relative_to(directory)
    return env


def rows(path: Path) -> list[tuple[str, str]]:
    return [(r["algo"], r["seeds"]) for r in csv.DictReader(path.open())]


# The id form (myenvs:Tiny-v0) goes through the same workers in the bench test below; one Ray
# start per path keeps the serial Ray group of `make test` short.
@pytest.mark.ray
@pytest.mark.parametrize("env_id", ["myenvs:make_tiny"])
def test_compare_trains_an_env_of_a_module_in_the_current_directory(tmp_path, ray_env, env_id):  # noqa: F811
    home, imports = user_dir(tmp_path)
    out = tmp_path / "cmp"
    result = landers_cli("compare", env_id, "--algos", "ppo,random", *FAST, "--out", str(out),
                         env=without(ray_env, home), cwd=home)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert rows(out / "comparison.csv") == [("ppo", "1"), ("random", "1")]
    config = json.loads((out / "runs" / "ppo__s1" / "config.json").read_text())
    if env_id == "myenvs:make_tiny":  # recorded as `landers train` records a factory
        assert config["env_factory"] == "myenvs:make_tiny" and config["env_id"] == "make_tiny"
    else:
        assert config["env_id"] == "myenvs:Tiny-v0" and config["env_factory"] is None
    random_mean = json.loads((out / "runs" / "random__s1" / "eval.json").read_text())["mean"]
    assert 2 < random_mean < 8  # Tiny's returns: the module's own env ran in the workers
    # the driver and the workers (two trials, maybe one reused process) imported the file itself
    assert set(imports.read_text().split()) == {str(home / "myenvs.py")} and len(imports.read_text().split()) >= 2


@pytest.mark.ray
def test_tune_and_bench_take_a_factory_of_a_module_in_the_current_directory(tmp_path, ray_env):  # noqa: F811
    home, _ = user_dir(tmp_path)
    env = without(ray_env, home)
    study, space = tmp_path / "study", tmp_path / "space.json"
    space.write_text(json.dumps({"replace": True, "lr": {"float": [1e-3, 3e-3]}}))
    tuned = landers_cli("tune", "ppo", "myenvs:make_tiny", "--trials", "2", "--seeds", "1", "--steps", "256",
                        "--space", str(space),
                        "--set", "num_envs=2", "--set", "num_steps=64", "--set", "eval_every=128",
                        "--set", "eval_episodes=2", "--set", "final_eval_episodes=2", "--out", str(study),
                        env=env, cwd=home, timeout=600)
    assert tuned.returncode == 0, tuned.stdout + tuned.stderr[-3000:]
    assert "train with it: landers train ppo myenvs:make_tiny --preset" in tuned.stdout
    trials = list(csv.DictReader((study / "trials.csv").open()))
    assert len(trials) == 2 and {t["state"] for t in trials} <= {"COMPLETE", "PRUNED"}
    run_dir = Path(json.loads((study / "best.json").read_text())["results"]["run_dirs"][0])
    assert json.loads((run_dir / "config.json").read_text())["env_factory"] == "myenvs:make_tiny"

    out = tmp_path / "bench"
    benched = landers_cli("bench", "myenvs:Tiny-v0,myenvs:make_tiny", "--algos", "random", *FAST, "--out", str(out),
                          env=env, cwd=home, timeout=600)
    assert benched.returncode == 0, benched.stdout + benched.stderr[-3000:]
    for name in ("myenvs_Tiny-v0", "myenvs_make_tiny"):
        assert (out / "runs" / name / "random__s1" / "eval.json").exists()


@pytest.mark.parametrize("command", [["compare", "{env}", "--seeds", "1"], ["bench", "{env}", "--seeds", "1"],
                                     ["tune", "ppo", "{env}"]])
@pytest.mark.parametrize("env, words", [
    ("no_such_module_xyz:Tiny-v0", "Cannot import module 'no_such_module_xyz' for env 'no_such_module_xyz:Tiny-v0'"),
    ("fake_envs:make_nothing", "Module 'fake_envs' registers no such id and has no callable 'make_nothing'"),
])
def test_a_missing_module_or_name_is_one_sentence_before_ray_starts(tmp_path, command, env, words):
    result = landers_in_process(*[a.format(env=env) for a in command], "--out", str(tmp_path / "o"))
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized()
    assert not (tmp_path / "o").exists()


def test_what_goes_to_a_cluster_is_the_named_modules_under_the_current_directory(tmp_path, monkeypatch):
    from landers.envs.source import env_source
    from landers.scale.cluster import local_modules

    home, _ = user_dir(tmp_path)
    (home / "mypkg").mkdir()
    (home / "mypkg" / "__init__.py").write_text("")
    (home / "mypkg" / "wrappers.py").write_text("def keep(env):\n    return env\n")
    (home / "unused.py").write_text("")
    monkeypatch.chdir(home)
    monkeypatch.syspath_prepend(str(home))
    for name in ("myenvs", "mypkg", "mypkg.wrappers"):  # this test's own files, imported now, gone afterwards
        monkeypatch.setitem(sys.modules, name, None)
        monkeypatch.delitem(sys.modules, name)
    clip = 'gymnasium.wrappers:ClipReward:{"min_reward": -1, "max_reward": 1}'
    sources = [env_source("myenvs:make_tiny", wrappers=["mypkg.wrappers:keep", clip]), env_source("CartPole-v1"),
               env_source("fake_envs:NoRender-v0")]  # tests/, not under the current directory
    # a module's file, a package's directory (not the submodule); not gymnasium, tests/ or unused.py
    assert local_modules(sources) == [str(home / "myenvs.py"), str(home / "mypkg")]


def _unshare() -> list[str]:
    """`unshare` with a mount namespace of its own (and, not as root, a user namespace that
    allows it), or a skip where this system refuses one."""
    program = shutil.which("unshare")
    command = [program, "--mount", "--propagation", "private"] + (["--map-root-user"] if os.geteuid() else [])
    if program is None or subprocess.run([*command, "true"], capture_output=True).returncode != 0:
        pytest.skip("needs unshare with a mount namespace, to hide the driver's directory from the workers")
    return command


@pytest.mark.ray
def test_the_module_reaches_cluster_workers_that_do_not_see_the_drivers_directory(tmp_path, cluster):
    """The driver runs in a mount namespace of its own, where its current directory is a tmpfs
    holding myenvs.py: the cluster's workers (started by `ray start` outside it) see that
    directory empty, as a worker on another machine would, so they can only import the module
    that Ray shipped with the job."""
    address, env = cluster
    unshare = _unshare()
    home, imports = user_dir(tmp_path)
    source = home / "myenvs.py"
    private = tmp_path / "private"
    private.mkdir()
    out = tmp_path / "cmp"  # shared: the workers write the runs there
    script = f'mount -t tmpfs landers-test "{private}" && cp "{source}" "{private}/" && cd "{private}" && exec "$@"'
    args = ["compare", "myenvs:make_tiny", "--algos", "ppo,random", *FAST, "--out", str(out), "--address", address]
    driver = [*unshare, "sh", "-c", script, "sh", sys.executable, "-m", "landers", *args]
    env = {**without(env, private), "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    result = subprocess.run(driver, capture_output=True, text=True, timeout=600, env=env)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "on Ray (2 CPUs on 2 nodes" in result.stdout
    assert rows(out / "comparison.csv") == [("ppo", "1"), ("random", "1")]
    assert not (private / "myenvs.py").exists()  # outside the namespace, the driver's directory is empty
    paths = imports.read_text().split()
    driver_imports = [p for p in paths if p == str(private / "myenvs.py")]
    worker_imports = [p for p in paths if p != str(private / "myenvs.py")]
    assert driver_imports and worker_imports, paths
    assert all("/runtime_resources/py_modules_files/" in p for p in worker_imports), worker_imports


@pytest.mark.parametrize("env", ["broken_envs:Tiny-v0", "broken_envs:make_tiny"])
def test_a_user_module_with_a_syntax_error_is_one_sentence_naming_the_line(tmp_path, monkeypatch, env):
    (tmp_path / "broken_envs.py").write_text("import gymnasium\n\ndef make_tiny(:\n    pass\n")
    monkeypatch.chdir(tmp_path)
    monkeypatch.syspath_prepend(str(tmp_path))  # as the CLI puts the current directory first
    result = landers_in_process("train", "ppo", env, "--steps", "64")
    assert result.returncode == 2 and "broken_envs" in result.stderr and "line 3" in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
