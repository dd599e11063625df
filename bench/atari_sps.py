"""Agent steps per second of the whole PPO training loop on Atari Breakout (rollout + update,
evaluation excluded), for each vector-env backend, with the `ppo-atari` preset.

    python bench/atari_sps.py [--steps 4096] [--device auto] [--results bench/RESULTS.md]
"""

from __future__ import annotations

import argparse
import csv
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def measure(backend: str, steps: int, device: str, root: Path) -> dict:
    run = root / backend
    cmd = [sys.executable, "-m", "landers", "train", "ppo", "BreakoutNoFrameskip-v4", "--steps", str(steps),
           "--backend", backend, "--device", device, "--quiet", "--run-dir", str(run), "--eval-every", str(10 * steps),
           "--set", "final_eval_episodes=1", "--set", "eval_max_steps=100"]
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    if proc.returncode != 0:
        return {"backend": backend, "error": proc.stderr.strip().splitlines()[-1:]}
    rows = list(csv.DictReader((run / "metrics.csv").open()))
    train_time = float(rows[-1]["time"])
    # the first update pays one-off costs (allocator, kernels): report the steady rate beside the overall one
    steady = [float(r["sps"]) for r in rows[1:]] or [float(rows[0]["sps"])]
    return {"backend": backend, "steps": int(rows[-1]["step"]), "train_s": train_time,
            "sps": int(rows[-1]["step"]) / train_time, "steady_sps": sorted(steady)[len(steady) // 2],
            "process_s": time.perf_counter() - start}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=4096)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--backends", default="gymnasium,envpool")
    ap.add_argument("--results", type=Path)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        rows = [measure(b, args.steps, args.device, Path(tmp)) for b in args.backends.split(",")]
    for r in rows:
        print(r)
    if args.results:
        import torch

        lines = [f"\n## PPO on BreakoutNoFrameskip-v4: training-loop throughput ({args.steps:,} steps, ppo-atari preset)\n",
                 f"Measured {time.strftime('%Y-%m-%d')} on {platform.node()}: {os.cpu_count()} cores, torch "
                 f"{torch.__version__}, device {args.device} (CUDA available: {torch.cuda.is_available()}), "
                 f"{torch.get_num_threads()} torch threads.\n",
                 "| backend | agent steps | training s | steps/s overall | steps/s per update (median) |", "|---|---|---|---|---|"]
        for r in rows:
            lines.append(f"| {r['backend']} | error: {r['error']} | | | |" if "error" in r else
                         f"| {r['backend']} | {r['steps']:,} | {r['train_s']:.1f} | {r['sps']:.0f} | {r['steady_sps']:.0f} |")
        with args.results.open("a") as f:
            f.write("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
