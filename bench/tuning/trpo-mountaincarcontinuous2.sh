#!/bin/sh
# Issue 22: TRPO on MountainCarContinuous-v0 (mark 92.5 at 50k), the second study. The first
# (trpo-mountaincarcontinuous.sh, 5 seeds per trial scored by their IQM) chose settings whose five
# seeds all found the flag, and four of ten fresh seeds then never did. Here each trial runs 8
# seeds and scores the worst of them (--over-seeds worst): a setting ranks high only where every
# seed reaches the flag. Same space, same starting point (the zoo's settings), one pinned core.
NAME=trpo-mountaincarcontinuous2
. "$(dirname "$0")/study.sh"
study trpo MountainCarContinuous-v0 --preset "$HERE/../family/probes/trpo-mountaincarcontinuous.json" \
  --trials 16 --steps 50000 --seeds 8 --objective final --over-seeds worst \
  --space "$HERE/../trpo-mountaincarcontinuous/space.json"
# Result (2026-12-05, 2-core AMD EPYC VM, core 1, Pendulum and SB3 runs beside it on both cores):
# stopped with Ctrl-C in trial 15 of 16 (4 complete; the driver predates the change that keeps
# ASHA's pruned ids, so trials.csv says STOPPED for the pruned ones). The first study's best
# (trial 0 here) lost two of eight seeds (-0.4). The best, trial 7 (best.json: max KL 0.034,
# 2 envs x 1024 steps, gamma 0.999, lambda 0.95, gSDE every 8 steps, initial log-std -0.31),
# worst seed 93.1 (all eight 93.1-93.5). On fresh seeds (evaluation from 10000 + 64 x seed):
# 211-220 at 50k IQM 93.3 [93.2, 93.3], 221-230 at 40k 93.0 [92.9, 93.2] (probe-50k/, probe-40k/:
# its periodic evaluations reached the flag by 10k on every seed), and the record, 231-240 at
# 10k: IQM 93.2 [92.9, 93.5], every seed 92.2-93.9, against the zoo's TRPO 92.5 at 50k: ships as
# the trpo-mountaincarcontinuous preset at 10k (../trpo-mountaincarcontinuous/validation-10k).
# $LANDERS bench MountainCarContinuous-v0 --algos "trpo@$HERE/best.json" --seeds 10 --first-seed 231 --steps 10000 --out "$OUT/validation"
