"""Wall time of `landers compare CartPole-v1 --seeds 5` (all five algorithms, their presets)
through Ray, against the subprocess pool it replaced.

    python bench/compare_ray.py              # both, Ray first
    python bench/compare_ray.py --only ray   # or --only pool; --algos ppo,random --seeds 2

`ray`: the real command, `landers compare ... --out DIR` (embedded Ray, as many CPUs as cores,
one per run). `pool`: what `landers compare --jobs <cores>` did before Ray, kept here to measure
against: a thread pool of `landers train ALGO ENV --seed S --steps ... --quiet` subprocesses,
OMP_NUM_THREADS=1, as many at once as cores. Both start from empty directories and include
every process start, evaluation and the final summary (comparison table and curves). Prints one JSON line per variant and writes bench/compare_ray.json.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ALGOS = ["ppo", "trpo", "a2c", "reinforce", "random"]
TICK = os.sysconf("SC_CLK_TCK")


class CpuSampler:
    """CPU seconds used by every process whose environment holds BENCH_COMPARE_RUN=marker (the
    variant's processes: Ray's driver, raylet, GCS and workers, or the pool's `landers train`s),
    read from /proc every 0.25 s; less sensitive than wall time to other work on the machine.
    A process's last quarter second can be missed."""

    def __init__(self, marker: str):
        self.needle, self.seen, self.done = f"BENCH_COMPARE_RUN={marker}".encode(), {}, threading.Event()
        self.thread = threading.Thread(target=self._loop, daemon=True)
        self.thread.start()

    def _loop(self):
        while not self.done.wait(0.25):
            for stat in glob.glob("/proc/[0-9]*/stat"):
                pid = stat.split("/")[2]
                try:
                    if self.needle not in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
                        continue
                    fields = Path(stat).read_text().rsplit(") ", 1)[1].split()
                    self.seen[pid] = (int(fields[11]) + int(fields[12])) / TICK  # utime + stime
                except (OSError, IndexError, ValueError):
                    continue

    def stop(self) -> float:
        self.done.set()
        self.thread.join()
        return sum(self.seen.values())


def run_ray(env_id: str, algos: list[str], seeds: int, work: Path) -> float:
    start = time.perf_counter()
    subprocess.run([sys.executable, "-m", "landers", "compare", env_id, "--algos", ",".join(algos),
                    "--seeds", str(seeds), "--out", str(work)], check=True, stdout=subprocess.DEVNULL)
    return time.perf_counter() - start


def run_pool(env_id: str, algos: list[str], seeds: int, work: Path) -> float:
    env = {**os.environ, "OMP_NUM_THREADS": "1"}

    def train(job):
        algo, seed = job
        subprocess.run([sys.executable, "-m", "landers", "train", algo, env_id, "--seed", str(seed),
                        "--run-dir", str(work / "runs" / f"{algo}__s{seed}"), "--quiet"],
                       check=True, stdout=subprocess.DEVNULL, env=env)

    start = time.perf_counter()
    with ThreadPoolExecutor(os.cpu_count() or 1) as pool:
        list(pool.map(train, [(a, s) for a in algos for s in range(1, seeds + 1)]))
    # then the same summary `landers compare` writes (a fresh process, as the CLI was)
    subprocess.run([sys.executable, "-c", "import sys; from pathlib import Path; "
                    "from landers.scale.compare import summarize; from landers.scale.jobs import Job; "
                    "w = Path(sys.argv[1]); summarize(sys.argv[2], [Job(a, int(s), w / 'runs' / f'{a}__s{s}') "
                    "for a in sys.argv[3].split(',') for s in range(1, int(sys.argv[4]) + 1)], w)",
                    str(work), env_id, ",".join(algos), str(seeds)], check=True)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--env", default="CartPole-v1")
    parser.add_argument("--seeds", type=int, default=5)
    parser.add_argument("--algos", default=",".join(ALGOS))
    parser.add_argument("--only", choices=["ray", "pool"])
    parser.add_argument("--out", type=Path, default=Path(__file__).with_name("compare_ray.json"))
    args = parser.parse_args()
    algos = args.algos.split(",")
    results = {"env": args.env, "seeds": args.seeds, "algos": algos, "cores": os.cpu_count(),
               "machine": f"{platform.machine()} {platform.processor() or ''}".strip(),
               "load_average_before": os.getloadavg(), "wall_s": {}}
    for variant, fn in (("ray", run_ray), ("pool", run_pool)):
        if args.only not in (None, variant):
            continue
        work = Path(tempfile.mkdtemp(prefix=f"bench-compare-{variant}-"))
        os.environ["BENCH_COMPARE_RUN"] = marker = f"{variant}-{time.time_ns()}"
        sampler = CpuSampler(marker)
        try:
            results["wall_s"][variant] = round(fn(args.env, algos, args.seeds, work), 1)
        finally:
            shutil.rmtree(work, ignore_errors=True)
            results.setdefault("cpu_s", {})[variant] = round(sampler.stop(), 1)
        print(json.dumps({"variant": variant, "wall_s": results["wall_s"][variant],
                          "cpu_s": results["cpu_s"][variant]}), flush=True)
    if {"ray", "pool"} <= results["wall_s"].keys():
        results["ray_overhead"] = round(results["wall_s"]["ray"] / results["wall_s"]["pool"] - 1, 3)
    results["load_average_after"] = os.getloadavg()
    args.out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results))


if __name__ == "__main__":
    main()
