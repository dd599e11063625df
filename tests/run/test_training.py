import csv
import json
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

import landers
from conftest import TINY, landers_cli
from landers.errors import LandersError
from landers.run.rundir import resume

TIMING = {"time", "sps"}


def metric_rows(run_dir):
    with (run_dir / "metrics.csv").open() as f:
        return [{k: v for k, v in row.items() if k not in TIMING} for row in csv.DictReader(f)]


@pytest.mark.parametrize("backend", ["gymnasium", "auto"])
def test_same_seed_gives_identical_metrics(tmp_path, backend):
    runs = [landers.train("ppo", "LunarLanderContinuous-v3", steps=1024, seed=5, run_dir=tmp_path / f"r{i}",
                          backend=backend, final_eval_episodes=3, eval_every=512, **TINY) for i in range(2)]
    a, b = metric_rows(runs[0].run_dir), metric_rows(runs[1].run_dir)
    assert len(a) == 1024 // 64 and a == b
    assert runs[0].eval.returns == runs[1].eval.returns
    other = landers.train("ppo", "LunarLanderContinuous-v3", steps=1024, seed=6, run_dir=tmp_path / "r3",
                          backend=backend, final_eval_episodes=3, eval_every=512, **TINY)
    assert metric_rows(other.run_dir) != a


def test_run_directory_contents(cartpole_run):
    config = json.loads((cartpole_run / "config.json").read_text())
    assert config["algo"] == "ppo" and config["seed"] == 3 and config["hparams"]["num_envs"] == 4
    assert {"landers", "torch", "gymnasium"} <= set(config["versions"])
    rows = list(csv.DictReader((cartpole_run / "metrics.csv").open()))
    for key in ("approx_kl", "clipfrac", "entropy", "policy_loss", "value_loss", "explained_variance", "lr", "sps"):
        assert all(row[key] != "" for row in rows), key
    episodes = list(csv.DictReader((cartpole_run / "episodes.csv").open()))
    assert episodes and all(float(e["return"]) == float(e["length"]) for e in episodes)  # CartPole: 1 per step
    assert list((cartpole_run / "tb").glob("events.out.tfevents.*"))
    assert (cartpole_run / "checkpoints" / "best").is_dir()
    result = json.loads((cartpole_run / "eval.json").read_text())
    assert result["episodes"] == 5 and len(result["returns"]) == 5 and "random" in result


def test_resume_continues_step_count_and_appends_metrics(cartpole_run, tmp_path):
    import shutil

    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    before = metric_rows(run)
    resumed = resume(run, steps=4096, quiet=True)
    after = metric_rows(run)
    assert resumed.global_step == 4096
    assert after[: len(before)] == before
    steps = [int(r["step"]) for r in after]
    assert steps == sorted(steps) and steps[-1] == 4096 and steps[len(before)] == int(before[-1]["step"]) + 64
    # TensorBoard holds the same updates as metrics.csv, the checkpoint's own step included
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    tb = EventAccumulator(str(run / "tb"))
    tb.Reload()
    assert [e.step for e in tb.Scalars("train/lr")] == steps
    # the learning-rate schedule continues from the step count (over the new budget) rather
    # than restarting at the initial rate
    lr0 = json.loads((run / "config.json").read_text())["hparams"]["lr"]
    lrs = [float(r["lr"]) for r in after[len(before):]]
    assert lrs[0] == pytest.approx(lr0 * (1 - 2048 / 4096))
    assert all(x > y for x, y in zip(lrs, lrs[1:], strict=False))  # neighbours: one pair fewer than lrs


def _start_training(tmp_path, *extra):
    run = tmp_path / "run"
    cmd = [sys.executable, "-m", "landers", "train", "ppo", "CartPole-v1", "--steps", "10000000", "--quiet",
           "--run-dir", str(run), "--backend", "gymnasium", "--set", "checkpoint_every_s=1", *extra]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 120
    while not (run / "checkpoints" / "last" / "state.json").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.2)
    time.sleep(2)
    return proc, run


@pytest.mark.slow  # a landers process and SIGINT: ~10 s at load 10
def test_ctrl_c_saves_last_and_exits_with_a_clear_message(tmp_path):
    proc, run = _start_training(tmp_path)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Interrupted at step" in err and "--resume" in err and "Traceback" not in err
    state = json.loads((run / "checkpoints" / "last" / "state.json").read_text())
    rows = metric_rows(run)
    assert state["global_step"] == int(rows[-1]["step"])


@pytest.mark.slow  # a killed landers process and a resume: ~24 s at load 12
def test_kill_9_leaves_a_loadable_checkpoint_and_resume_works(tmp_path):
    proc, run = _start_training(tmp_path)
    proc.kill()
    proc.wait()
    agent = landers.load(run)
    assert agent.predict(np.zeros(4, np.float32)) in (0, 1)
    step = json.loads((run / "checkpoints" / "last" / "state.json").read_text())["global_step"]
    result = landers_cli("train", "--resume", str(run), "--steps", str(step + 2048), "--quiet")
    assert result.returncode == 0, result.stderr
    assert str(run) in result.stdout.strip().splitlines()[-1]
    assert int(metric_rows(run)[-1]["step"]) >= step + 2048


def test_eval_max_steps_caps_the_final_evaluation_and_its_random_baseline(tmp_path):
    run = landers.train("ppo", "CartPole-v1", steps=256, seed=0, run_dir=tmp_path / "run", backend="gymnasium",
                        final_eval_episodes=4, eval_max_steps=9, **TINY)
    result = json.loads((run.run_dir / "eval.json").read_text())
    assert max(result["lengths"]) <= 9 and max(result["random"]["lengths"]) <= 9
    assert max(result["random"]["returns"]) <= 9  # CartPole: one point per step



@pytest.mark.parametrize("algo, settings, words", [
    ("reinforce", {"overlap": True}, "reinforce collects whole episodes"),
    ("ppo", {"overlap": True, "num_envs": 3, "num_minibatches": 1}, "num_envs=3 is not even"),
    ("ppo", {"env_threads": -1}, "env_threads"),
])
def test_overlap_and_env_threads_refuse_what_they_cannot_do(tmp_path, algo, settings, words):
    with pytest.raises(LandersError, match=words):
        landers.train(algo, "CartPole-v1", steps=64, run_dir=tmp_path / "run", backend="gymnasium", **settings)
    assert not (tmp_path / "run").exists()


def test_a_run_begun_on_a_backend_auto_no_longer_picks_says_so_when_resumed(tmp_path, capsys):
    """Pendulum-v1 ran on EnvPool under `auto` until its dynamics were found to differ; a run
    begun then (config.json: backend_resolved envpool) resumes on Gymnasium's, with one line
    saying so and the change recorded."""
    run = tmp_path / "run"
    landers.train("ppo", "Pendulum-v1", steps=256, seed=2, run_dir=run, eval_every=10**9, final_eval_episodes=1,
                  **TINY)
    config = json.loads((run / "config.json").read_text())
    assert config["backend"] == "auto" and config["backend_resolved"] == "gymnasium"
    (run / "config.json").write_text(json.dumps({**config, "backend_resolved": "envpool"}))
    capsys.readouterr()
    assert resume(run, steps=512, quiet=True).global_step == 512
    lines = capsys.readouterr().err.strip().splitlines()
    assert lines == ["warning: this run began on envpool's Pendulum-v1 and goes on with gymnasium's (backend auto "
                     "chooses it now); its curve may shift at this resume."]
    after = json.loads((run / "config.json").read_text())
    assert after["backend_resolved"] == "gymnasium" and after["resumed"][-1]["backend"] == "envpool -> gymnasium"
    capsys.readouterr()
    resume(run, steps=768, quiet=True)  # now recorded: no second warning
    assert "warning" not in capsys.readouterr().err
