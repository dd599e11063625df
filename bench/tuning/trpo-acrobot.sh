#!/bin/sh
# Issue 22: trpo on Acrobot-v1 within the zoo's budget for it (mark -83.1 at 100k). The zoo's own
# settings (family/probes/trpo-acrobot-zoo.json) came close (family/README.md); this study searches
# around them: 5 seeds x 100000 steps per trial, objective final, scored by the IQM of the five
# seeds as a validation is (--over-seeds iqm), on one pinned core.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-tune-trpo-acrobot}
HERE=$(dirname "$0")/trpo-acrobot
export OMP_NUM_THREADS=1
taskset -c ${CORE:-0} $LANDERS tune trpo Acrobot-v1 --preset "$HERE/../family/probes/trpo-acrobot-zoo.json" \
  --trials 10 --steps 100000 --seeds 5 --objective final --over-seeds iqm --space "$HERE/space.json" --out "$OUT/study"
cp "$OUT"/study/best.json "$OUT"/study/trials.csv "$OUT"/study/tune.png "$OUT"/study/study.json "$HERE"/
