"""`landers bench` on a real embedded Ray: a tiny suite of two classic envs writes every file
of its report, and the same command again reuses every finished run. `landers tune` grows a
finished study of two envs. No mocks."""

import csv
import json

import pytest
from test_ray import ray_env  # noqa: F401  (fixture: marked Ray processes, none left behind)

from conftest import landers_cli


@pytest.mark.ray
def test_bench_on_a_tiny_suite_writes_every_file_and_resumes(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "bench"
    args = ("bench", "CartPole-v1,Pendulum-v1", "--algos", "ppo,random", "--seeds", "2", "--steps", "1024",
            "--out", str(out))
    result = landers_cli(*args, env=ray_env, timeout=900)
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    assert "envs: 2 done, 0 running, 0 failed of 2" in result.stdout and "Traceback" not in result.stderr
    for name in ("report.html", "bench.md", "bench.csv", "curves.png", "curves.svg", "aggregate.png", "aggregate.svg"):
        assert (out / name).stat().st_size > 0, name
    for env in ("CartPole-v1", "Pendulum-v1"):
        for run in ("ppo__s1", "ppo__s2", "random__s1", "random__s2"):
            assert (out / "runs" / env / run / "eval.json").exists()
    rows = list(csv.DictReader((out / "bench.csv").open()))
    per_env = [(r["env"], r["algo"], r["seeds"]) for r in rows if not r["metric"]]
    assert per_env == [("CartPole-v1", "ppo", "2"), ("CartPole-v1", "random", "2"),
                       ("Pendulum-v1", "ppo", "2"), ("Pendulum-v1", "random", "2")]
    aggregates = {(r["algo"], r["metric"]) for r in rows if r["metric"]}
    assert aggregates == {(a, m) for a in ("ppo", "random") for m in ("iqm", "median", "mean", "optimality_gap")}
    for r in rows:
        if r["metric"]:
            assert float(r["ci_low"]) <= float(r["value"]) <= float(r["ci_high"])
    md = (out / "bench.md").read_text()
    assert "P(ppo > random)" in md and "SB3 zoo" in md  # Pendulum's published PPO figure, with its source
    html = (out / "report.html").read_text()
    assert "Across envs" in html and html.count("data:image/png;base64,") == 2

    again = landers_cli(*args, env=ray_env, timeout=900)
    assert again.returncode == 0, again.stderr[-3000:]
    assert "8 runs (8 already finished)" in again.stdout


SMALL = ["--seeds", "1", "--steps", "1024", "--set", "num_envs=4", "--set", "num_steps=64", "--set", "eval_every=256",
         "--set", "eval_episodes=2", "--set", "final_eval_episodes=2"]


@pytest.mark.ray
def test_a_finished_two_env_study_grows_by_exactly_the_new_trials(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "study"
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"replace": True, "lr": {"float": [1e-4, 3e-3], "log": True}}))
    command = ["tune", "ppo", "CartPole-v1,Pendulum-v1", "--space", str(space), "--out", str(out), *SMALL]
    first = landers_cli(*command, "--trials", "1", env=ray_env, timeout=900)
    assert first.returncode == 0, first.stderr[-3000:]
    before = {r["name"]: r for r in csv.DictReader((out / "trials.csv").open())}
    assert len(before) == 1 and {r["state"] for r in before.values()} == {"COMPLETE"}

    # each trial's score: the mean over envs of (score - random) / (threshold - random)
    best = json.loads((out / "best.json").read_text())
    randoms, thresholds = best["results"]["random_policy"], best["results"]["thresholds"]
    assert best["env_id"] == ["CartPole-v1", "Pendulum-v1"] and thresholds == [475.0, -200.0]
    for r in before.values():
        raw = [float(r["score_seed1"]), float(r["score_seed2"])]  # CartPole's seed, then Pendulum's
        normalized = [(s - lo) / (t - lo) for s, lo, t in zip(raw, randoms, thresholds, strict=True)]
        assert float(r["score"]) == pytest.approx(sum(normalized) / 2, abs=2e-3)  # trials.csv keeps 4 digits

    grown = landers_cli(*command, "--trials", "2", env=ray_env, timeout=900)
    assert grown.returncode == 0, grown.stderr[-3000:]
    assert "growing the study" in grown.stdout
    after = {r["name"]: r for r in csv.DictReader((out / "trials.csv").open())}
    assert len(after) == 2 and set(before) < set(after)
    for name, row in before.items():  # the first kept as it was, not trained again
        assert after[name]["score"] == row["score"] and after[name]["lr"] == row["lr"]
    assert sorted(int(r["trial"]) for r in after.values()) == [0, 1]
    assert json.loads((out / "study.json").read_text())["trials"] == 2
