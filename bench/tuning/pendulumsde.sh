#!/bin/sh
# Issue 22: PPO with gSDE on Pendulum-v1 within the zoo's budget (100k steps; its -172.2 uses gSDE).
# The zoo's gSDE settings gave -205/-205/-194 here (gsde/), and a 100k study without gSDE reached
# -177.7 (pendulum100k/), so this one searches with sde on, over the sample frequency, the initial
# log-std and the init as well: 30 trials x 3 seeds x 100k steps, objective final, on core 0 at
# nice 10 beside other work.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-tune-pendulumsde}
HERE=$(dirname "$0")/pendulumsde
export OMP_NUM_THREADS=1
nice -n 10 taskset -c ${CORE:-0} $LANDERS tune ppo Pendulum-v1 --trials 30 --steps 100000 --seeds 3 --objective final \
  --space "$HERE/space.json" --set sde=true --out "$OUT/study"
cp "$OUT"/study/best.json "$OUT"/study/trials.csv "$OUT"/study/tune.png "$OUT"/study/study.json "$HERE"/
# Stopped (2026-12-05) after 17 trials, to free the core: the best, trial 4 (candidate.json, -159.2
# over seeds 1-3), did not hold on fresh seeds: 201-205 gave -155.1, -297.3, -528.6, -165.3 and
# -730.8 before its validation was stopped too. Three seeds per trial do not see a one-in-two failure
# rate; a next study wants more seeds per trial (or a worst-seed objective) before any validation.
# $LANDERS bench Pendulum-v1 --algos "ppo@$HERE/candidate.json" --seeds 10 --first-seed 201 --out "$OUT/validation"
