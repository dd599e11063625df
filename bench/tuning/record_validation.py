"""Write a preset's validation record from a finished `landers bench` run, so that the numbers in
a preset file are never typed by hand.

    python bench/tuning/record_validation.py BENCH_OUT --preset src/landers/presets/ppo-cartpole.json \
        --command "landers bench CartPole-v1 --algos ppo --seeds 10 --first-seed 201"

It reads every run's final evaluation (eval.json) under BENCH_OUT/runs, recomputes the IQM and its
bootstrap CI with landers' own statistics, compares it with the published reference for the
algorithm (`preset_mark`: the zoo's figure, else CleanRL's; CleanRL's first for MuJoCo), times one whole `landers train` process with the
preset (the first validation seed, pinned to the cores this script may use), copies the bench
report's small files to bench/tuning/<env>/validation-<steps>/ (<algo>-<env> for an algorithm
other than PPO), and writes the `validation` object into the preset file. `--study DIR` records the `landers tune` study it came from
(DIR holds best.json and study.json).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np

from landers.scale.references import preset_mark
from landers.see.aggregate import aggregate_iqm, stratified_bootstrap_ci
from landers.see.stats import iqm

HERE = Path(__file__).resolve().parent


def finished_runs(out: Path) -> list[dict]:
    runs = []
    for eval_file in sorted(out.glob("runs/*/*/eval.json")):
        config = json.loads((eval_file.parent / "config.json").read_text())
        # metrics.csv's last row: the steps and training seconds (evaluation excluded) at the end
        last = eval_file.parent.joinpath("metrics.csv").read_text().strip().split("\n")[-1].split(",")
        result = json.loads(eval_file.read_text())
        runs.append({"seed": config["seed"], "env_id": config["env_id"], "algo": config["algo"],
                     "steps": int(last[0]), "train_s": float(last[1]), "final": result["mean"],
                     "episodes": result["episodes"]})
    if not runs:
        sys.exit(f"No finished runs (runs/*/*/eval.json) under {out}.")
    return runs


def cpu_model() -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines() if Path("/proc/cpuinfo").exists() else []:
        if line.startswith("model name"):
            return line.split(":", 1)[1].strip()
    return platform.processor()


def mark(env_id: str, algo: str) -> dict | None:
    ref = preset_mark(env_id, algo)
    return None if ref is None else {"library": ref.library, "score": ref.score, "steps": ref.steps,
                                     "source": ref.source, "measured_on": ref.measured_on}


def whole_process_seconds(algo: str, env_id: str, preset: Path, seed: int) -> float:
    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "landers", "train", algo, env_id, "--preset", str(preset),
                        "--seed", str(seed), "--run-dir", str(Path(tmp) / "run"), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL)
        return time.perf_counter() - start


def study_record(study: Path) -> dict:
    best = json.loads((study / "best.json").read_text())
    results = best.get("results", {})
    return {"results": os.path.relpath(study, HERE.parent.parent), "objective": results.get("objective"),
            **({"over_seeds": results["over_seeds"]} if "over_seeds" in results else {}),
            "trials": results.get("trials"), "completed": results.get("completed"), "seeds": results.get("seeds"),
            "steps_per_seed": results.get("steps_per_seed"), "best_score": results.get("score"),
            "seed_scores": results.get("seed_scores"), "date": results.get("date")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("bench_out", type=Path)
    parser.add_argument("--preset", type=Path, required=True, help="the preset file to write the record into")
    parser.add_argument("--command", required=True, help="the landers bench command that made BENCH_OUT")
    parser.add_argument("--how", default="one run at a time on one pinned core (taskset -c 1), other work on the other",
                        help="the conditions the bench ran under, in words")
    parser.add_argument("--study", type=Path, help="the landers tune study directory the preset came from")
    parser.add_argument("--no-timing", action="store_true", help="skip the whole-process timing run")
    args = parser.parse_args()

    preset = json.loads(args.preset.read_text())
    runs = finished_runs(args.bench_out)
    env_ids = {r["env_id"] for r in runs}
    if len(env_ids) != 1:
        sys.exit(f"{args.bench_out} holds runs of several envs ({sorted(env_ids)}); validate one env at a time.")
    env_id, algo = env_ids.pop(), runs[0]["algo"]
    finals = np.array([r["final"] for r in runs])
    _, low, high = stratified_bootstrap_ci([finals], aggregate_iqm, reps=2000)
    reference = mark(env_id, algo)
    steps = max(r["steps"] for r in runs)
    record = {
        "env_id": env_id,
        "command": args.command,
        "seeds": [r["seed"] for r in runs],
        "steps": steps,
        "final_evals": [round(r["final"], 2) for r in runs],
        "episodes_per_eval": runs[0]["episodes"],
        "iqm": round(iqm(finals), 2),
        "iqm_ci95": [round(low, 2), round(high, 2)],
        "mean": round(float(finals.mean()), 2),
        "reference": reference,
        "meets_reference": reference is not None and iqm(finals) >= reference["score"],
        "train_s_median": round(float(np.median([r["train_s"] for r in runs])), 1),
        "date": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "machine": {"platform": platform.platform(), "cpu": cpu_model(), "cpus": os.cpu_count(),
                    "python": platform.python_version()},
        "how": args.how,
    }
    if not args.no_timing:
        record["whole_process_s"] = round(whole_process_seconds(algo, env_id, args.preset, runs[0]["seed"]), 1)
        record["whole_process_seed"] = runs[0]["seed"]
    # PPO's records live under the env's name (bench/tuning/cartpole/...), another algorithm's
    # under ALGO-ENV (bench/tuning/trpo-mountaincar/...), so that no record overwrites another's.
    env_dir = env_id.split("-")[0].lower()
    dest = HERE / (env_dir if algo == "ppo" else f"{algo}-{env_dir}") / f"validation-{preset['steps'] // 1000}k"
    dest.mkdir(parents=True, exist_ok=True)
    for name in ("bench.md", "bench.csv", "curves.png"):
        if (args.bench_out / name).exists():
            shutil.copy(args.bench_out / name, dest / name)
    record["results"] = os.path.relpath(dest, HERE.parent.parent)
    preset["validation"] = record
    if args.study:
        preset["study"] = study_record(args.study)
    args.preset.write_text(json.dumps(preset, indent=2) + "\n")
    verdict = "meets" if record["meets_reference"] else "does NOT meet"
    print(f"{env_id} {algo}: IQM {record['iqm']} [{low:.1f}, {high:.1f}] over {len(runs)} seeds at {steps:,} steps; "
          f"{verdict} {reference['library'] if reference else 'no reference'} "
          f"{reference['score'] if reference else ''}; written to {args.preset}")


if __name__ == "__main__":
    main()
