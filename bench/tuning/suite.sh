#!/bin/sh
# Issue 22, the record: every env of the standard suite that ships a validated PPO preset with a
# budget under 1M steps, in one `landers bench` run with the shipped presets (the default --algos ppo takes each env's
# preset and its budget) on the validation seeds 201-210, one run at a time on one pinned core.
# The runs are the validations again (one machine gives the same numbers for the same seed), and
# the report adds the across-env aggregate figure. The 1M-step MuJoCo presets are left out: at
# about 12 minutes per run on one core their validations (mujoco.sh) are the record.
# The report's files are copied to bench/tuning/suite/ for the docs' Benchmarks page.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-suite}
HERE=$(dirname "$0")/suite
ENVS=${ENVS:-CartPole-v1,LunarLander-v3,MountainCar-v0,MountainCarContinuous-v0,InvertedPendulum-v4}
export OMP_NUM_THREADS=1
COMMAND="landers bench $ENVS --seeds 10 --first-seed 201"
${NICE:-} taskset -c ${CORE:-1} $LANDERS bench "$ENVS" --seeds 10 --first-seed 201 --out "$OUT"
mkdir -p "$HERE"
cp "$OUT"/bench.md "$OUT"/bench.csv "$OUT"/curves.png "$OUT"/aggregate.png "$HERE"/
echo "$COMMAND" > "$HERE"/command.txt
# Run 2026-12-05 (core 0 at nice 10 beside other work, so the seconds are inflated): every seed of the
# four classic/Box2D presets gave the number its validation recorded; InvertedPendulum's extra
# seeds 206-210 gave 1000 but for 209 (832.95), IQM 1000.0 [972.2, 1000.0].
# Rerun 2026-12-05 after ppo-mountaincar became the general defaults at 100k (core 1, the other core
# idle): CartPole, LunarLander, MountainCarContinuous and InvertedPendulum repeated every number;
# MountainCar on seeds 201-210 (its old validation seeds; the new record is 211-220): IQM -108.2
# [-111.1, -107.3] against the zoo's -110.4. Normalized IQM across the five envs 1.04 [1.04, 1.05].
