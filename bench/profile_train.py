"""Where a `landers train` process spends its time: runs the command in this process under
cProfile and splits it into imports, env stepping, the policy's side of collecting (forward
pass, sampling, normalizers, buffer writes), updates, logging, the per-update state snapshot
and evaluation. cProfile slows Python-heavy parts more than native code: compare shares
between versions, not absolute seconds with a plain run.

    OMP_NUM_THREADS=1 python bench/profile_train.py ppo LunarLander-v3 --seed 1 --steps 262144 --quiet ...
"""

import cProfile
import pstats
import sys
import time


def cumulative(stats: pstats.Stats, file_end: str, name: str, caller: tuple[str, str] | None = None) -> float:
    """Seconds spent in (and below) the function `name` of a file ending in `file_end`; with
    `caller`, only in calls made from that (file ending, function)."""
    total = 0.0
    for (file, _, func), (_, _, _, ct, callers) in stats.stats.items():
        if func != name or not file.replace("\\", "/").endswith(file_end):
            continue
        if caller is None:
            total += ct
        else:
            total += sum(c[3] for (cf, _, cn), c in callers.items()
                         if cn == caller[1] and cf.replace("\\", "/").endswith(caller[0]))
    return total


def main() -> None:
    profiler = cProfile.Profile()
    start = time.perf_counter()
    profiler.enable()
    from landers.cli import main as cli

    sys.argv = ["landers", "train", *sys.argv[1:]]
    try:
        cli()
    except SystemExit:
        pass
    profiler.disable()
    wall = time.perf_counter() - start
    stats = pstats.Stats(profiler)
    collect = cumulative(stats, "landers/core/rollout.py", "collect")
    env = cumulative(stats, "landers/envs/__init__.py", "step", caller=("landers/core/rollout.py", "_step"))
    env += cumulative(stats, "landers/envs/__init__.py", "recv", caller=("landers/core/rollout.py", "_collect_split"))
    env += cumulative(stats, "landers/envs/__init__.py", "send", caller=("landers/core/rollout.py", "_collect_split"))
    rows = {
        "imports": cumulative(stats, "<frozen importlib._bootstrap>", "_find_and_load"),
        "env stepping (in collect)": env,
        "policy side of collect": collect - env,
        "updates": sum(cumulative(stats, f"landers/algos/{a}.py", "update") for a in ("ppo", "a2c", "trpo", "reinforce")),
        "logging (metrics, episodes, TensorBoard)": sum(cumulative(stats, "landers/run/runlog.py", f)
                                                        for f in ("update", "episodes_done", "eval")),
        "state snapshot per update": cumulative(stats, "landers/run/state.py", "snapshot"),
        "evaluations (periodic, final, random)": cumulative(stats, "landers/policy/evaluation.py", "run_episodes"),
    }
    rows["everything else"] = wall - sum(rows.values())
    print("| part | s under cProfile | share |\n|---|---|---|", file=sys.stderr)
    for name, seconds in rows.items():
        print(f"| {name} | {seconds:.2f} | {seconds / wall:.0%} |", file=sys.stderr)
    print(f"| whole process | {wall:.2f} | 100% |", file=sys.stderr)


if __name__ == "__main__":
    main()
