#!/bin/sh
# The PPO MuJoCo benchmark of issue 12: the ppo-mujoco preset (PPO's published settings,
# 1M steps) on Hopper-v4 and HalfCheetah-v4, 3 seeds each, then each run's final
# 100-episode deterministic evaluation (eval.json) and a 20-episode one to compare with the
# issue's by-hand 3,356 +- 20 on Hopper-v4. Needs pip install 'landers[mujoco]'. An
# interrupted benchmark resumes: run it again. Results go to bench/RESULTS.md by hand, next
# to published PPO figures at 1M steps (CleanRL's Hopper-v4 models: 1,476 / 1,608 / 2,504).
#
# JOBS=2 runs two at a time (how the results in bench/RESULTS.md were made).
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-bench/mujoco}
JOBS=${JOBS:-1}
mkdir -p "$OUT"
for env in Hopper-v4 HalfCheetah-v4; do
  for seed in 1 2 3; do
    echo "$env $seed"
  done
done | xargs -P "$JOBS" -L 1 sh -c '
  run="$0/$1__ppo__s$2"
  if [ -f "$run/eval.json" ]; then exit 0; fi
  if [ -f "$run/config.json" ]; then
    OMP_NUM_THREADS=1 '"$LANDERS"' train --resume "$run" --quiet
  else
    OMP_NUM_THREADS=1 '"$LANDERS"' train ppo "$1" --seed "$2" --run-dir "$run" --quiet
  fi
  '"$LANDERS"' eval "$run" --episodes 20 --json > "$run/eval20.json"
' "$OUT"
for f in "$OUT"/*/eval.json; do
  [ -f "$f" ] || continue
  python3 -c "import json, sys; d = json.load(open(sys.argv[1])); print(sys.argv[1], round(d['mean'], 1), '+-', round(d['std'], 1), 'over', d['episodes'], 'episodes at step', d['step'])" "$f"
done
