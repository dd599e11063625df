"""Table per config from sweep.py outputs: python3 summarize.py all1.json [all2.json ...]"""
import json, statistics, sys
from collections import defaultdict
THR = {"CartPole-v1": 475, "LunarLander-v3": 200, "LunarLanderContinuous-v3": 200}
rows = [r for f in sys.argv[1:] for r in json.load(open(f))]
by = defaultdict(list)
for r in rows:
    by[(r["env"], r["name"])].append(r)
for (env, name), rs in sorted(by.items()):
    rs.sort(key=lambda r: r["seed"])
    ok = [r for r in rs if r.get("solved") and r["final_mean"] >= THR[env]]
    per = " ".join(f"s{r['seed']}:" + ("ERR" if "error" in r else
                   (f"{r['steps']//1000}k/{r['train_s']:.1f}s/{r['final_mean']:.0f}" if r.get("solved") else f"no({r['final_mean']:.0f})"))
                   for r in rs)
    med = (f"med {statistics.median(r['steps'] for r in ok)/1000:.1f}k steps {statistics.median(r['train_s'] for r in ok):.2f}s"
           if ok else "")
    sps = statistics.median(r["sps"] for r in rs if "sps" in r) if any("sps" in r for r in rs) else 0
    print(f"{env[:12]:12} {name:28} {len(ok)}/{len(rs)} {med:28} sps {sps:7.0f} | {per}")
