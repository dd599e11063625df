#!/bin/sh
# Issue 11's benchmark: `landers tune ppo LunarLander-v3` (40 trials x 3 seeds x 300k steps,
# evaluations every 32,768 steps; about an hour on the 2-core VM), then the best configuration
# against the shipped ppo-lunarlander preset on 10 seeds the study never trained on (101-110),
# each with its own step budget and the same evaluation interval; then the same hyperparameters
# with the shipped budget on seeds 111-120. Both steps resume when run
# again. The study's small files and the comparison are copied to bench/tuning/lunarlander/;
# the numbers and the decision are in bench/RESULTS.md.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-tune-lunarlander}
HERE=$(dirname "$0")/lunarlander
export OMP_NUM_THREADS=1
$LANDERS tune ppo LunarLander-v3 --trials 40 --steps 300000 --seeds 3 --set eval_every=32768 --out "$OUT/study"
$LANDERS compare LunarLander-v3 --algos "ppo@$HERE/shipped-eval32k.json,ppo@$OUT/study/best.json" \
  --seeds 10 --first-seed 101 --out "$OUT/validation"
cp "$OUT"/study/best.json "$OUT"/study/trials.csv "$OUT"/study/tune.png "$OUT"/study/tune.svg \
  "$OUT"/study/study.json "$HERE"/
cp "$OUT"/validation/comparison.md "$OUT"/validation/comparison.csv "$OUT"/validation/curves_*.png "$HERE"/
# The second validation: best.json's hyperparameters with the shipped 1M-step budget
# (best-1M.json, written by hand from best.json), on seeds 111-120; it replaced the preset.
$LANDERS compare LunarLander-v3 --algos "ppo@$HERE/shipped-eval32k.json,ppo@$HERE/best-1M.json" \
  --seeds 10 --first-seed 111 --out "$OUT/validation-1M"
for f in comparison.md comparison.csv curves_steps.png curves_time.png; do
  cp "$OUT/validation-1M/$f" "$HERE/${f%.*}-1M.${f##*.}"
done
