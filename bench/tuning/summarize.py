"""Markdown table per config from sweep.py outputs: python3 summarize.py FILE[:TAG] ...

A seed counts as solved when its first 10-episode eval reached the threshold AND the final
100-episode eval of that policy is >= threshold (as bench/solve_time.py's summary counts).
Rows that errored before training (missing pygame on the device in batch 1) are dropped.
"""
import json, statistics, sys
from collections import defaultdict
THR = {"CartPole-v1": 475, "LunarLander-v3": 200, "LunarLanderContinuous-v3": 200}
by = defaultdict(list)
for arg in sys.argv[1:]:
    f, _, tag = arg.partition(":")
    for r in json.load(open(f)):
        if "error" in r:
            continue
        r["tag"] = tag or "?"
        by[(r["env"], r["name"])].append(r)
print("| env | config | solved (final ok)/seeds | median steps (all first crossings) | median train s | median sps | per seed: steps / train s / final 100-ep [machine] |")
print("|---|---|---|---|---|---|---|")
for (env, name), rs in sorted(by.items()):
    rs.sort(key=lambda r: r["seed"])
    ok = [r for r in rs if r.get("solved") and r["final_mean"] >= THR[env]]
    cross = [r for r in rs if r.get("solved")]
    per = "; ".join(f"s{r['seed']}: " + (f"{r['steps']/1000:.1f}k / {r['train_s']:.2f} / {r['final_mean']:.0f}"
                    if r.get("solved") else f"not solved (final {r['final_mean']:.0f})") + f" [{r['tag']}]" for r in rs)
    # median over all seeds, unsolved counted as infinite
    inf = float("inf")
    med_steps = statistics.median([r["steps"] if r.get("solved") else inf for r in rs])
    med_t = statistics.median([r["train_s"] if r.get("solved") else inf for r in rs])
    sps = statistics.median(r["sps"] for r in rs)
    f = lambda v, s: "-" if v == inf else format(v, s)
    print(f"| {env} | {name} | {len(ok)}/{len(rs)} ({len(cross)} crossed) | {f(med_steps, ',.0f')} | {f(med_t, '.2f')} | {sps:,.0f} | {per} |")
