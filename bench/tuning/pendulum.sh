#!/bin/sh
# Issue 22's first study: `landers tune ppo Pendulum-v1` over the space in pendulum/space.json
# (30 trials x 2 seeds x 150k steps, objective final), run on one core of the 2-core VM beside
# other work (`taskset -c 1`; about 1 h 50 min). Its best configuration still needs its
# validation on 10 seeds no study used (`landers bench` / `compare` with first seed 101) before
# it ships as a preset. The study's small files are copied to bench/tuning/pendulum/.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-tune-pendulum}
HERE=$(dirname "$0")/pendulum
export OMP_NUM_THREADS=1
$LANDERS tune ppo Pendulum-v1 --trials 30 --steps 150000 --seeds 2 --objective final \
  --space "$HERE/space.json" --cpus-per-trial 2 --out "$OUT/study"
cp "$OUT"/study/best.json "$OUT"/study/trials.csv "$OUT"/study/tune.png "$OUT"/study/tune.svg \
  "$OUT"/study/study.json "$HERE"/
# Validation (not run yet): the candidate against the zoo's -172 on seeds 101-110.
# $LANDERS compare Pendulum-v1 --algos "ppo@$HERE/best.json,random" --seeds 10 --first-seed 101 --out "$OUT/validation"
