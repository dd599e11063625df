#!/bin/sh
# Issue 22: PPO on BipedalWalker-v3 (mark: the zoo's 287.9 at 5M). A probe of the zoo's own
# settings (bipedalwalker/zoo-like.json) on seeds 401-402, two runs at a time (Ray, one CPU per
# run, about 3.5k steps/s each on the 2-core VM): whether landers reaches the mark with them at
# the zoo's budget before a 10-seed validation (hours on this machine) is worth its time.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-bipedalwalker}
HERE=$(dirname "$0")/bipedalwalker
export OMP_NUM_THREADS=1
$LANDERS bench BipedalWalker-v3 --algos "ppo@$HERE/zoo-like.json" --seeds 2 --first-seed 401 --out "$OUT/probe"
# Result (2026-12-06, 28 min for both): final evaluations 265.7 (seed 401) and 288.2 (seed 402),
# mean 277.0 against the zoo's 287.9 (probe-5m/). Seed 402 held ~293 from 2.5M on; seed 401 was
# still climbing (235 at 3.5M, 255-257 after). Not validated: one of two seeds under the mark.
