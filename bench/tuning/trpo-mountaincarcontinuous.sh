#!/bin/sh
# Issue 22: TRPO on MountainCarContinuous-v0 within the zoo's TRPO budget (50k steps, mark 92.5).
# The zoo's own settings (family/probes/trpo-mountaincarcontinuous.json: 2 envs x 2048 steps, gSDE
# every 4 steps, normalization) reached 92.5, 92.1, 92.2 on seeds 401-403: every seed climbs, and
# what separates them from the mark is the fuel spent on the way. This study searches around
# those settings (trust-region size, rollout length, discount, lambda, gSDE's resampling and
# initial noise): 5 seeds x 50k per trial, objective final, scored by the IQM of the five seeds
# as a validation is (--over-seeds iqm), on one pinned core.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-tune-trpo-mountaincarcontinuous}
HERE=$(dirname "$0")/trpo-mountaincarcontinuous
export OMP_NUM_THREADS=1
taskset -c ${CORE:-0} $LANDERS tune trpo MountainCarContinuous-v0 --preset "$HERE/../family/probes/trpo-mountaincarcontinuous.json" \
  --trials 12 --steps 50000 --seeds 5 --objective final --over-seeds iqm --space "$HERE/space.json" --out "$OUT/study"
cp "$OUT"/study/best.json "$OUT"/study/trials.csv "$OUT"/study/tune.png "$OUT"/study/study.json "$HERE"/
