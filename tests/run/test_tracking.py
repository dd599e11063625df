"""Weights & Biases tracking in W&B's offline mode: the offline run's transaction log, read back
with wandb's own reader (`wandb leet inspect --json`), against the run's CSVs and eval.json."""

import csv
import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import landers_cli, landers_in_process

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "scale"))
from test_ray import ray_env  # noqa: E402, F401  (fixture: a marked Ray environment, none left behind)

wandb = pytest.importorskip("wandb")

TINY_SET = ["--set", "num_envs=4", "--set", "num_steps=16", "--set", "num_minibatches=2", "--set", "update_epochs=2"]


def wandb_env(tmp_path) -> dict:
    env = dict(os.environ, WANDB_MODE="offline", WANDB_SILENT="true", WANDB_CONFIG_DIR=str(tmp_path / "wandb-config"),
               WANDB_CACHE_DIR=str(tmp_path / "wandb-cache"), WANDB_DATA_DIR=str(tmp_path / "wandb-data"))
    env.pop("WANDB_API_KEY", None)
    return env


def records(offline_run: Path) -> list[dict]:
    """The records of an offline run's .wandb file, as wandb's own reader prints them."""
    wandb_cli = Path(sys.executable).with_name("wandb")
    result = subprocess.run([str(wandb_cli), "leet", "inspect", "--json", str(offline_run)], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def offline_runs(run_dir: Path) -> list[Path]:
    return sorted((run_dir / "wandb").glob("offline-run-*"))


def history(recs: list[dict]) -> list[dict]:
    return [r["history"] for r in recs if r["type"] == "history"]


def rows(path: Path) -> list[dict]:
    with path.open() as f:
        return list(csv.DictReader(f))


def number(cell: str) -> float | None:
    try:
        value = float(cell)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def expected_rows(run_dir: Path) -> list[tuple[str, dict]]:
    """(prefix, row) of every CSV row in the order RunLog wrote them: an update's row, the
    episodes that ended in it, then the evaluation at its step if there was one."""
    updates, episodes, evals = (rows(run_dir / n) for n in ("metrics.csv", "episodes.csv", "evals.csv"))
    out, e, v = [], 0, 0
    for update in updates:
        step = int(update["step"])
        out.append(("train", update))
        while e < len(episodes) and int(episodes[e]["step"]) <= step:
            out.append(("episode", {"return": episodes[e]["return"], "length": episodes[e]["length"],
                                    "step": episodes[e]["step"]}))
            e += 1
        while v < len(evals) and int(evals[v]["step"]) == step:
            out.append(("eval", evals[v]))
            v += 1
    assert e == len(episodes) and v == len(evals)
    return out


def assert_history_matches(hist: list[dict], expected: list[tuple[str, dict]], first_step: int = 0):
    assert [h["step"]["num"] for h in hist] == list(range(first_step, first_step + len(hist)))
    assert len(hist) == len(expected)
    for h, (prefix, row) in zip(hist, expected, strict=True):
        item = h["item"]
        assert item["global_step"] == int(row["step"])
        want = {f"{prefix}/{k}": number(c) for k, c in row.items() if k not in ("step", "time")}
        want = {k: v for k, v in want.items() if v is not None}
        got = {k: v for k, v in item.items() if not k.startswith(("_", "eval/video")) and k != "global_step"}
        assert got.keys() == want.keys(), (prefix, got.keys() ^ want.keys())
        for key, value in want.items():
            assert got[key] == pytest.approx(value, rel=1e-6, abs=1e-9), key


@pytest.mark.slow  # a landers process with W&B: 37 s at load 5
def test_train_track_wandb_logs_what_tensorboard_gets_the_config_evals_video_final_and_report(tmp_path):
    run_dir = tmp_path / "run"
    result = landers_cli("train", "ppo", "CartPole-v1", "--steps", "1024", "--seed", "2", "--backend", "gymnasium",
                         *TINY_SET, "--eval-every", "512", "--record-every", "2", "--set", "final_eval_episodes=4",
                         "--run-dir", str(run_dir), "--report", "--quiet", "--track", "wandb",
                         "--wandb-project", "landers-test", "--wandb-group", "g1", env=wandb_env(tmp_path))
    assert result.returncode == 0, result.stderr
    (offline,) = offline_runs(run_dir)
    recs = records(offline)
    run = next(r["run"] for r in recs if r["type"] == "run")
    assert run["project"] == "landers-test" and run["run_group"] == "g1"
    tracked = json.loads((run_dir / "tracking.json").read_text())
    assert run["run_id"] == tracked["id"] and offline.name.endswith(tracked["id"])

    config = json.loads((run_dir / "config.json").read_text())
    logged_config = {k: v for k, v in run["config"]["update"].items() if k != "_wandb"}
    assert logged_config["hparams"] == config["hparams"]
    assert {k: logged_config[k] for k in ("algo", "env_id", "seed", "steps")} == {
        k: config[k] for k in ("algo", "env_id", "seed", "steps")}

    hist = history(recs)
    assert_history_matches(hist, expected_rows(run_dir))
    evals = [h for h in hist if "eval/mean" in h["item"]]
    assert len(evals) == 2
    # wandb's reader flattens the video's entry into eval/video._type, .path, .sha256, .size
    video_rows = [h["item"] for h in hist if h["item"].get("eval/video._type") == "video-file"]
    assert len(video_rows) == 1 and video_rows[0]["global_step"] == 1024  # the second evaluation's row
    video = offline / "files" / video_rows[0]["eval/video.path"]
    assert video.read_bytes() == (run_dir / "videos" / "step-000001024.mp4").read_bytes()

    summary = {}
    for r in recs:
        if r["type"] == "summary":
            summary.update(r["summary"].get("update", {}))
    final = json.loads((run_dir / "eval.json").read_text())
    assert summary["final/mean"] == pytest.approx(final["mean"])
    assert summary["final/random_mean"] == pytest.approx(final["random"]["mean"])
    assert summary["final/episodes"] == final["episodes"] == 4
    saved = [f["path"] for r in recs if r["type"] == "files" for f in r["files"]["files"]]
    assert "report.html" in saved
    assert (offline / "files" / "report.html").read_bytes() == (run_dir / "report.html").read_bytes()


@pytest.mark.slow  # two landers processes with W&B: 27 s
def test_resume_continues_the_same_wandb_run_without_duplicate_steps(tmp_path):
    env = wandb_env(tmp_path)
    run_dir = tmp_path / "run"
    result = landers_cli("train", "random", "CartPole-v1", "--steps", "2048", "--seed", "3", "--backend", "gymnasium",
                         "--set", "num_envs=4", "--eval-every", "512", "--set", "final_eval_episodes=3",
                         "--run-dir", str(run_dir), "--quiet", "--track", "wandb", env=env)
    assert result.returncode == 0, result.stderr
    first_rows = expected_rows(run_dir)
    best_step = json.loads((run_dir / "checkpoints" / "best" / "state.json").read_text())["global_step"]
    assert best_step < 2048  # the resumed run rewinds: rows after the best checkpoint were logged

    # From the best checkpoint: W&B, like the CSVs and TensorBoard, drops what came after it.
    result = landers_cli("train", "--resume", str(run_dir / "checkpoints" / "best"), "--steps", "2560", "--quiet",
                         env=env)
    assert result.returncode == 0, result.stderr
    first, second = offline_runs(run_dir)
    a, b = records(first), records(second)
    run_a, run_b = (next(r["run"] for r in recs if r["type"] == "run") for recs in (a, b))
    assert run_a["run_id"] == run_b["run_id"]
    kept = [r for r in first_rows if int(r[1]["step"]) <= best_step]
    assert run_b["branch_point"] == {"metric": "_step", "run": run_a["run_id"], "value": len(kept) - 1}
    assert len(history(a)) == len(first_rows) > len(kept)
    # What W&B shows after the rewind: the first run's rows up to the branch point, then the second's;
    # together, exactly the rows of the resumed run's CSVs, each once.
    shown = [h for h in history(a) if h["step"]["num"] <= len(kept) - 1] + history(b)
    assert_history_matches(shown, expected_rows(run_dir))
    steps = [h["item"]["global_step"] for h in shown if "train/sps" in h["item"]]
    assert len(steps) == len(set(steps)) and steps[-1] == 2560


def test_track_wandb_without_wandb_installed_is_one_sentence(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "wandb", None)  # what `import wandb` meets when it is not installed
    for command in (["train", "ppo", "CartPole-v1", "--steps", "64", "--run-dir", str(tmp_path / "run")],
                    ["compare", "CartPole-v1", "--out", str(tmp_path / "cmp")],
                    ["tune", "ppo", "CartPole-v1", "--out", str(tmp_path / "study")]):
        result = landers_in_process(*command, "--track", "wandb")
        assert result.returncode == 2, result.stderr
        assert result.stderr.strip() == "error: --track wandb needs wandb: pip install 'landers[track]'."
    assert not any(tmp_path.iterdir())
    result = landers_in_process("train", "ppo", "CartPole-v1", "--wandb-project", "p")
    assert result.returncode == 2 and "go with --track wandb" in result.stderr


def test_unknown_tracker_is_one_sentence():
    from landers.errors import LandersError
    from landers.run import tracking

    with pytest.raises(LandersError, match="Unknown tracker 'mlflow'; --track takes wandb"):
        tracking.check("mlflow")


@pytest.mark.ray
def test_compare_tracks_every_run_in_one_group(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "cmp"
    result = landers_cli("compare", "CartPole-v1", "--algos", "random,ppo", "--seeds", "1", "--steps", "512",
                         "--out", str(out), "--track", "wandb", "--wandb-project", "landers-test",
                         env={**ray_env, **wandb_env(tmp_path)})
    assert result.returncode == 0, result.stderr
    (report,) = offline_runs(out)
    recs = records(report)
    run = next(r["run"] for r in recs if r["type"] == "run")
    assert run["run_group"] == "cmp" and run["job_type"] == "compare-report"
    assert (report / "files" / "comparison.md").read_bytes() == (out / "comparison.md").read_bytes()
    names = set()
    for run_dir in sorted((out / "runs").iterdir()):
        (offline,) = offline_runs(run_dir)
        recs = records(offline)
        run = next(r["run"] for r in recs if r["type"] == "run")
        assert run["run_group"] == "cmp" and run["project"] == "landers-test"
        names.add(run["display_name"])
        assert_history_matches(history(recs), expected_rows(run_dir))
    assert names == {"CartPole-v1-random__s1", "CartPole-v1-ppo__s1"}


@pytest.mark.ray
def test_tune_tracks_the_run_of_every_trial_in_one_group(tmp_path, ray_env):  # noqa: F811
    out = tmp_path / "study"
    space = tmp_path / "space.json"
    space.write_text(json.dumps({"replace": True, "lr": {"choice": [1e-3, 2e-3]}}))
    result = landers_cli("tune", "ppo", "CartPole-v1", "--trials", "2", "--seeds", "1", "--steps", "512",
                         "--space", str(space), "--out", str(out), "--set", "num_envs=4", "--set", "num_steps=64",
                         "--set", "eval_every=256", "--set", "final_eval_episodes=2", "--track", "wandb",
                         env={**ray_env, **wandb_env(tmp_path)}, timeout=600)
    assert result.returncode == 0, result.stderr
    run_dirs = sorted(out.glob("trials/*/s*"))
    assert len(run_dirs) == 2
    names = set()
    for run_dir in run_dirs:
        (offline,) = offline_runs(run_dir)
        recs = records(offline)
        run = next(r["run"] for r in recs if r["type"] == "run")
        assert run["run_group"] == "study" and run["job_type"] == "tune"
        names.add(run["display_name"])
        config = run["config"]["update"]
        assert config["hparams"]["lr"] == json.loads((run_dir / "config.json").read_text())["hparams"]["lr"]
        assert_history_matches(history(recs), expected_rows(run_dir))
    assert names == {f"{d.parent.name}-{d.name}" for d in run_dirs}
    (report,) = offline_runs(out)
    run = next(r["run"] for r in records(report) if r["type"] == "run")
    assert run["run_group"] == "study" and run["job_type"] == "tune-report"
    for name in ("report.html", "best.json", "trials.csv"):
        assert (report / "files" / name).read_bytes() == (out / name).read_bytes(), name


@pytest.mark.slow  # W&B's service in a process of its own: 17 s
def test_wandb_that_cannot_start_is_one_sentence_and_leaves_no_run(tmp_path):
    env = dict(wandb_env(tmp_path), WANDB_MODE="online")  # no API key anywhere: W&B refuses at once
    run_dir = tmp_path / "run"
    result = landers_cli("train", "ppo", "CartPole-v1", "--steps", "64", "--run-dir", str(run_dir), "--quiet",
                         "--track", "wandb", env=env)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: W&B could not start a run (") and "WANDB_MODE=offline" in lines[0]
    assert not run_dir.exists()


def test_landers_imports_neither_wandb_nor_huggingface_hub_until_a_command_uses_them():
    code = ("import sys, landers, landers.cli, landers.run.rundir, landers.run.runlog, landers.share.hub; "
            "print([m for m in ('wandb', 'huggingface_hub') if m in sys.modules])")
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.stdout.strip() == "[]", result.stderr
