"""`landers tune` on a real embedded Ray with Optuna: a tiny study ends in a preset that
`landers train --preset` uses exactly, poor configurations are stopped early, an interrupted
study resumes without re-running finished trials, bad input is one sentence. No mocks."""

import csv
import json
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from test_ray import ray_env  # noqa: F401  (fixture: marked Ray processes, none left behind)

from conftest import landers_cli, landers_in_process

# Tiny trials: CartPole, 4 envs x 64 steps, an evaluation every 768 steps (each test says how many seeds).
SMALL = ["--steps", "3072", "--set", "num_envs=4", "--set", "num_steps=64",
         "--set", "eval_every=768", "--set", "eval_episodes=3", "--set", "final_eval_episodes=3"]


def trials(out: Path) -> list[dict]:
    return list(csv.DictReader((out / "trials.csv").open()))


def write_space(tmp_path: Path, space: dict) -> str:
    path = tmp_path / "space.json"
    path.write_text(json.dumps(space))
    return str(path)


@pytest.mark.ray
def test_a_tiny_study_prunes_and_ends_in_a_preset_train_uses_exactly(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "study"
    # lr 1e-7 cannot learn CartPole in 3k steps; 2.5e-3 can: the scheduler should stop some
    # poor trials at a rung, and the best configuration must be a learning one.
    space = write_space(tmp_path, {"replace": True, "lr": {"choice": [1e-7, 2.5e-3]}, "update_epochs": {"int": [2, 4]}})
    # An earlier study's ASHA rungs left in OUT (its Ray state deleted; the list-only format of
    # studies before the stopped ids were kept): a new study must not judge its trials against
    # them (a score of 1e9 at both rungs would stop every trial).
    out.mkdir()
    (out / "asha.json").write_text(json.dumps([[[2304, {"old": 1e9}], [768, {"old": 1e9}]]]))
    result = landers_cli("tune", "ppo", "CartPole-v1", "--trials", "5", "--seeds", "2", "--space", space, "--out", str(out), *SMALL,
                         env=ray_env, timeout=900)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "best: trial" in result.stdout and "Traceback" not in result.stdout + result.stderr
    rows = trials(out)
    assert len(rows) == 5 and {r["state"] for r in rows} <= {"COMPLETE", "PRUNED"}
    pruned = [r for r in rows if r["state"] == "PRUNED"]
    assert pruned and all(int(r["steps"]) < 3072 and r["pruned_at_step"] for r in pruned)
    assert all(r["score_seed1"] and r["score_seed2"] for r in rows if r["state"] == "COMPLETE")
    best = json.loads((out / "best.json").read_text())
    assert best["hparams"]["lr"] == 2.5e-3 and best["results"]["seeds"] == 2 and best["results"]["trials"] == 5
    assert best["results"]["machine"]["cpus"] and best["results"]["date"]
    for name in ("tune.png", "tune.svg", "report.html"):
        assert (out / name).stat().st_size > 0
    assert "Hyperparameter study" in (out / "report.html").read_text()
    for d in best["results"]["run_dirs"]:
        assert (Path(d) / "eval.json").exists()

    run_dir = tmp_path / "with-best"
    trained = landers_cli("train", "ppo", "CartPole-v1", "--preset", str(out / "best.json"), "--steps", "256",
                          "--run-dir", str(run_dir), "--quiet", "--set", "final_eval_episodes=2")
    assert trained.returncode == 0, trained.stderr
    config = json.loads((run_dir / "config.json").read_text())
    assert {k: config["hparams"][k] for k in best["hparams"]} == best["hparams"]
    assert config["preset"] == str(out / "best.json")


@pytest.mark.ray
def test_an_interrupted_study_resumes_without_rerunning_finished_trials(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "study"
    space = write_space(tmp_path, {"replace": True, "lr": {"float": [1e-3, 3e-3], "log": True}})
    # scored by the worse of its two seeds (--over-seeds), a setting the resume must keep
    args = [sys.executable, "-m", "landers", "tune", "ppo", "CartPole-v1", "--trials", "2", "--seeds", "2", "--space", space,
            "--over-seeds", "worst", "--out", str(out), *SMALL]
    first = subprocess.Popen(args, env=ray_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and first.poll() is None:
        if (out / "trials.csv").exists() and any(r["state"] == "COMPLETE" for r in trials(out)):
            break
        time.sleep(0.5)
    assert first.poll() is None, first.communicate()
    first.send_signal(signal.SIGINT)
    stdout, stderr = first.communicate(timeout=300)
    assert first.returncode == 130, stdout + stderr
    assert "resume" in stderr and "Traceback" not in stderr
    done = {r["name"]: r for r in trials(out) if r["state"] == "COMPLETE"}
    assert done and len(done) < 2
    finished_at = {name: (out / "trials" / name / "s1" / "eval.json").stat().st_mtime_ns for name in done}
    rung_ids = {trial_id for bracket in json.loads((out / "asha.json").read_text())["rungs"] for _, recorded in bracket
                for trial_id in recorded}
    assert rung_ids

    again = landers_cli(*args[3:], env=ray_env, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "resuming the study" in again.stdout
    rows = trials(out)
    assert len(rows) == 2 and all(r["state"] in ("COMPLETE", "PRUNED") for r in rows)
    # The resumed scheduler read the rungs back: what was recorded before is still there.
    assert rung_ids <= {trial_id for bracket in json.loads((out / "asha.json").read_text())["rungs"]
                        for _, recorded in bracket for trial_id in recorded}
    for name, row in done.items():  # finished trials kept, not trained again
        assert next(r for r in rows if r["name"] == name)["score"] == row["score"]
        assert (out / "trials" / name / "s1" / "eval.json").stat().st_mtime_ns == finished_at[name]
    assert json.loads((out / "study.json").read_text())["over_seeds"] == "worst"
    for r in rows:
        assert float(r["score"]) == pytest.approx(min(float(r["score_seed1"]), float(r["score_seed2"])), rel=1e-3)
    assert "worst of 2 seeds" in json.loads((out / "best.json").read_text())["results"]["summary"]


@pytest.mark.ray
def test_env_arguments_reach_every_seed_and_a_budget_the_batch_does_not_divide_runs_to_its_end(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "study"
    clip = 'gymnasium.wrappers:ClipReward:{"min_reward": -1, "max_reward": 1}'
    # a file without "replace" changes tune's default space (the network's size and activation
    # included), less what --set fixes
    space = write_space(tmp_path, {"lr": {"float": [1e-3, 3e-3]}, "ent_coef": None})
    # 2 envs x 64 steps: a batch of 128, which 300 is not a multiple of; the trial must still
    # train to its budget and complete, not be stopped at its last rung.
    result = landers_cli("tune", "ppo", "fake_envs:Configurable-v0", "--trials", "1", "--seeds", "1", "--steps", "300",
                         "--space", space, "--env-kwargs", "size=5", "--wrap", clip, "--out", str(out),
                         "--set", "num_envs=2", "--set", "num_steps=64", "--set", "num_minibatches=2",
                         "--set", "eval_every=128", "--set", "eval_episodes=2", "--set", "final_eval_episodes=2",
                         env=ray_env, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "--env-kwargs size=5 --wrap" in result.stdout
    (row,) = trials(out)
    assert row["state"] == "COMPLETE" and int(row["steps"]) >= 300 and not row["pruned_at_step"]
    run_dir = Path(json.loads((out / "best.json").read_text())["results"]["run_dirs"][0])
    config = json.loads((run_dir / "config.json").read_text())
    assert config["env_kwargs"] == {"size": 5} and config["wrappers"] == [clip]
    assert json.loads((run_dir / "eval.json").read_text())["step"] >= 300
    searched = json.loads((out / "study.json").read_text())["space"]
    assert {"lr", "hidden_sizes", "activation", "gamma"} <= set(searched)
    assert not {"ent_coef", "num_envs", "num_steps", "num_minibatches"} & set(searched)
    best = json.loads((out / "best.json").read_text())
    assert best["results"]["env_kwargs"] == {"size": 5} and best["results"]["wrappers"] == [clip]


@pytest.mark.ray
def test_a_trial_whose_seed_fails_is_a_failed_row_and_its_other_seeds_stop(tmp_path, ray_env):  # noqa: F811
    """Seed 1 of every trial raises at its env's reset; seed 2 would train 50k steps. The trial
    is a FAILED row with the env's error in one line (the study does not stop on it), seed 2
    is stopped with it, and a study with no completed trial ends with one sentence."""
    out = tmp_path / "study"
    env = {**ray_env, "PYTHONPATH": str(Path(__file__).resolve().parents[2])}  # the workers import tests.fake_envs
    result = landers_cli("tune", "ppo", "tests.fake_envs:RefusesSeedOne-v0", "--trials", "1", "--seeds", "2",
                         "--out", str(out), *SMALL[2:], "--steps", "50000", env=env, timeout=600)
    assert result.returncode == 1, result.stdout + result.stderr
    assert result.stderr.strip().splitlines() == ["error: No trial completed; see trials.csv for why."], result.stderr
    assert "1 failed" in result.stdout
    (row,) = trials(out)
    assert row["state"] == "FAILED" and row["score"] == ""
    assert row["error"] == "tests.fake_envs:RefusesSeedOne-v0 raised RuntimeError (this env refuses seed 1)"
    assert not (out / "trials" / row["name"] / "s2" / "eval.json").exists()  # stopped, not trained to its end


@pytest.mark.ray
def test_a_study_on_a_two_node_cluster(tmp_path, cluster):
    """`--address` joins a `ray start` cluster of two one-CPU nodes: a trial's two seeds need a
    CPU each, so every trial spans both nodes."""
    address, env = cluster
    out = tmp_path / "study"
    space = write_space(tmp_path, {"replace": True, "lr": {"float": [1e-3, 3e-3], "log": True}})
    result = landers_cli("tune", "ppo", "CartPole-v1", "--trials", "2", "--seeds", "2", "--space", space, "--out", str(out),
                         "--address", address, *SMALL, env=env, timeout=900)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    assert "2 CPUs per trial" in result.stdout
    rows = trials(out)
    assert len(rows) == 2 and all(r["state"] in ("COMPLETE", "PRUNED") for r in rows)
    assert all((out / "trials" / r["name"] / f"s{s}" / "config.json").exists() for r in rows for s in (1, 2))
    assert (out / "best.json").exists()


def test_asha_rungs_outlive_a_resume(tmp_path):
    """Tune hands a resumed study the scheduler as it was at the start; ResumableASHA reads its
    rungs back, so a poor new trial is stopped against the scores recorded before the resume
    (plain ASHA, with empty rungs, lets it go on)."""
    from types import SimpleNamespace

    from ray.tune.schedulers import ASHAScheduler, TrialScheduler

    from landers.scale import study
    from landers.scale.tune import ResumableASHA
    from landers.scale.tune_search import pruned_names, trial_folder

    state = tmp_path / "asha.json"
    settings = dict(time_attr="step", max_t=100, grace_period=25, reduction_factor=3, stop_last_trials=False,
                    metric="score", mode="max")

    def report(scheduler, trial_id: str, score: float) -> str:
        trial = SimpleNamespace(trial_id=trial_id)  # ASHA reads only the id of a trial
        if trial_id not in scheduler._trial_info:
            scheduler.on_trial_add(None, trial)
        return scheduler.on_trial_result(None, trial, {"step": 25, "score": score})

    before = ResumableASHA(str(state), **settings)
    assert [report(before, t, x) for t, x in (("a", 10.0), ("b", 20.0), ("c", 30.0))] == [TrialScheduler.CONTINUE] * 3
    saved = json.loads(state.read_text())
    assert saved["rungs"][0][-1][0] == 25 and saved["rungs"][0][-1][1] == {"a": 10.0, "b": 20.0, "c": 30.0}
    assert saved["stopped"] == []

    resumed = ResumableASHA(str(state), **settings)  # what Tune's restore gives back: empty rungs
    assert report(resumed, "d", 5.0) == TrialScheduler.STOP
    assert report(ASHAScheduler(**settings), "d", 5.0) == TrialScheduler.CONTINUE
    saved = json.loads(state.read_text())
    assert set(saved["rungs"][0][-1][1]) == {"a", "b", "c", "d"} and saved["stopped"] == ["d"]
    assert pruned_names(state) == {trial_folder("d")}
    # A study stopped by Ctrl-C: "d", which the scheduler stopped, is pruned; "c", which the
    # interrupt stopped, is STOPPED (a resume goes on with it).
    rows = [{"name": trial_folder(t), "last": {"step": 25, "score": x}, "config": {}, "status": "TERMINATED",
             "error": None, "tag": f"{i + 1}_x"} for i, (t, x) in enumerate((("c", 30.0), ("d", 5.0)))]
    states = [r.state for r in study.records(rows, space={}, settled=False, pruned=pruned_names(state))]
    assert states == ["STOPPED", "PRUNED"]
    assert [r.state for r in study.records(rows, space={}, settled=False)] == ["STOPPED", "STOPPED"]

    old = tmp_path / "old-asha.json"  # the list-only state of studies before the ids were kept
    old.write_text(json.dumps(saved["rungs"]))
    assert report(ResumableASHA(str(old), **settings), "e", 5.0) == TrialScheduler.STOP and pruned_names(old) == {"trial_e"}
    state.write_text("{not json")
    assert report(ResumableASHA(str(state), **settings), "f", 5.0) == TrialScheduler.CONTINUE  # unreadable: empty rungs
    assert pruned_names(tmp_path / "none.json") == set()

    # A trial whose seed failed reports a NaN score: it is stopped and enters no rung, neither
    # from its result nor from Tune's on_trial_complete, which hands the same result again.
    fresh = tmp_path / "fresh.json"
    scheduler = ResumableASHA(str(fresh), **settings)
    report(scheduler, "g", 10.0)
    failed, nan = SimpleNamespace(trial_id="h"), {"step": 25, "score": float("nan"), "failed": "boom"}
    scheduler.on_trial_add(None, failed)
    assert scheduler.on_trial_result(None, failed, nan) == TrialScheduler.STOP
    scheduler.on_trial_complete(None, failed, nan)
    saved = json.loads(fresh.read_text())
    assert {t for bracket in saved["rungs"] for _, recorded in bracket for t in recorded} == {"g"}
    assert "h" not in saved["stopped"]


@pytest.mark.parametrize("space, words", [
    ('{"lr": {"float": [1e-4', "not valid JSON"),
    ('{"learning_rate": {"float": [1e-4, 1e-3]}}', "'learning_rate'"),
    ('{"gamma": {"float": [0.9, 1.5]}}', "'gamma'"),
    ('{"clip_coef": {"choice": [0.2, -1]}}', "'clip_coef'"),
])
def test_a_bad_space_file_is_one_sentence_before_ray_starts(tmp_path, space, words):
    path = tmp_path / "space.json"
    path.write_text(space)
    start = time.monotonic()
    result = landers_in_process("tune", "ppo", "CartPole-v1", "--space", str(path), "--out", str(tmp_path / "s"))
    assert result.returncode == 2 and words in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.stderr
    assert time.monotonic() - start < 30 and not (tmp_path / "s").exists()


@pytest.mark.parametrize("args, words", [
    (["tune", "random", "CartPole-v1"], "no hyperparameters to tune"),
    (["tune", "ppo", "CartPole-v1", "--objective", "best"], "--objective"),
    (["tune", "ppo", "CartPole-v1", "--over-seeds", "median"], "--over-seeds must be one of mean, iqm, worst"),
    (["tune", "ppo", "CartPole-v1", "--trials", "0"], "must be positive"),
    (["tune", "ppo", "NoSuchEnv-v0"], "NoSuchEnv-v0"),
    (["tune", "ppo", "CartPole-v1", "--resume"], "no study"),
    (["tune", "ppo", "CartPole-v1", "--wrap", "nope_xyz:w"], "nope_xyz"),
    # an argument the env refuses: the driver builds the env once, before Ray starts
    (["tune", "ppo", "CartPole-v1", "--env-kwargs", "pole_lenght=1"], "pole_lenght"),
    # what every trial would refuse: memory TRPO lacks, a mask it cannot apply (Doors raises without it)
    (["tune", "trpo", "CartPole-v1", "--set", "rnn=gru"], "TRPO has no recurrent policies"),
    (["tune", "trpo", "fake_envs:Doors-v0"], "offers an action mask, which trpo cannot apply"),
    # what this machine cannot give or hold: refused before Ray starts and before OUT is made
    (["tune", "ppo", "CartPole-v1", "--cpus-per-trial", "999"], "more than this machine's"),
    (["tune", "ppo", "CartPole-v1", "--storage", "/proc/landers"], "Cannot write to '/proc/landers'"),
])
def test_bad_tune_input_is_one_sentence(tmp_path, args, words):
    result = landers_in_process(*args, "--out", str(tmp_path / "s"))
    assert result.returncode == 2 and words in result.stderr, result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "s").exists()
    assert "ray" not in sys.modules or not sys.modules["ray"].is_initialized(), "a refusal started Ray"


def test_a_seed_streams_its_evaluations_then_its_final_and_an_error_ray_cannot_carry_is_rebuilt(monkeypatch):
    """The seed task's own function, without Ray: rows as they come, the final last; an
    exception whose class cannot be unpickled (Ray would hand the trial an UnserializableException,
    not the seed's error) becomes a RuntimeError naming it."""
    from landers.scale import tune_trial

    def trains(setup, *, on_eval, **kw):
        on_eval((256, 1.0, 0.1))
        on_eval((512, 2.0, 0.2))
        return {"mean": 3.0, "step": 512}

    monkeypatch.setattr(tune_trial, "_train", trains)
    seed = tune_trial.seed_run._function
    assert list(seed(None, env_id="E", params={}, seed=1, run_dir="r", threads=1)) == [
        (256, 1.0, 0.1), (512, 2.0, 0.2), {"mean": 3.0, "step": 512}]

    class Picky(Exception):
        def __init__(self, code, text):  # pickling calls Picky(*args) with one argument: fails
            super().__init__(f"{code}: {text}")

    def fails(setup, *, on_eval, **kw):
        on_eval((256, 1.0, 0.1))
        raise Picky(3, "bad")

    monkeypatch.setattr(tune_trial, "_train", fails)
    stream = seed(None, env_id="E", params={}, seed=1, run_dir="r", threads=1)
    assert next(stream) == (256, 1.0, 0.1)
    with pytest.raises(RuntimeError, match="Picky: 3: bad"):
        next(stream)
