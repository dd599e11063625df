"""Wall time of `landers compare CartPole-v1 --seeds 5` (all five algorithms, their presets)
through Ray, against the subprocess pool it replaced.

    python bench/compare_ray.py              # both, Ray first
    python bench/compare_ray.py --only ray   # or --only pool

`ray`: the real command, `landers compare ... --out DIR` (embedded Ray, as many CPUs as cores,
one per run). `pool`: what `landers compare --jobs <cores>` did before Ray, kept here to measure
against: a thread pool of `landers train ALGO ENV --seed S --steps ... --quiet` subprocesses,
OMP_NUM_THREADS=1, as many at once as cores. Both start from empty directories and include
every process start, evaluation and the final summary (Ray) or none (pool: it has no summary
step worth timing). Prints one JSON line per variant and writes bench/compare_ray.json.
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
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ALGOS = ["ppo", "trpo", "a2c", "reinforce", "random"]


def run_ray(env_id: str, seeds: int, work: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "landers", "compare", env_id, "--seeds", str(seeds), "--out", str(work)],
                   check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_pool(env_id: str, seeds: int, work: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def train(job):
        algo, seed = job
        subprocess.run([sys.executable, "-m", "landers", "train", algo, env_id, "--seed", str(seed),
                        "--run-dir", str(work / "runs" / f"{algo}__s{seed}"), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL, env=env)

    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(train, [(a, s) for a in ALGOS for s in range(1, seeds + 1)]))
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--only", choices=["ray", "pool"])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("compare_ray.json"))
    args = parser.parse_args()
    results = {"env": args.env, "seeds": args.seeds, "algos": ALGOS, "cores": os.cpu_count(),
               "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
               "load_average_before": os.getloadavg(), "wall_s": {}}
    for variant, fn in (("ray", run_ray), ("pool", run_pool)):
        if args.only not in (None, variant):
            continue
        work = Path(tempfile.mkdtemp(prefix=f"bench-compare-{variant}-"))
        try:
            results["wall_s"][variant] = round(fn(args.env, args.seeds, work), 1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
        print(json.dumps({"variant": variant, "wall_s": results["wall_s"][variant]}), flush=True)
    if {"ray", "pool"} <= results["wall_s"].keys():
        results["ray_overhead"] = round(results["wall_s"]["ray"] / results["wall_s"]["pool"] - 1, 3)
    results["load_average_after"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
