#!/bin/sh
# Issue 22: PPO on Pendulum-v1 within the zoo's budget (100k steps; its mark -172.2 uses gSDE),
# searched around PPO's general defaults (since 2026-12-05: -211.7 at 100k in the defaults check).
# Probes first (pendulum2/probes/, seeds 401-405, 100k): the defaults with gamma 0.98 gave
# -175.9/-177.0/-193.4/-182.4/-175.6; with sde on, seeds failed (-979.5 at gamma 0.999; -315.2
# at gamma and lambda 0.95, whose other seeds reached -159.5 and -162.3). Earlier studies with
# three seeds per trial picked configurations that failed one seed in two on fresh seeds
# (pendulumsde.sh), so this one scores each trial by the mean of five seeds: 30 trials x 5 seeds
# x 100k steps, objective final, on one pinned core.
NAME=pendulum2
. "$(dirname "$0")/study.sh"
study ppo Pendulum-v1 --preset none --trials 30 --steps 100000 --seeds 5 --objective final \
  --space "$HERE/space.json"
# Result (2026-12-05, 2-core AMD EPYC VM, core 0, the other core running Walker2d): 8 trials
# complete, 22 pruned; the best, trial 5 (best.json: -171.7 over seeds 1-5), on fresh seeds 501-510:
# IQM -176.3 [-191.6, -169.9] (validation-100k/), under the zoo's -172.2: no preset ships.
# $LANDERS bench Pendulum-v1 --algos "ppo@$HERE/best.json" --seeds 10 --first-seed 501 --out "$OUT/validation"
# Then trial 29 (trial29.json: -185.9 over seeds 1-5, but 4 of its 5 seeds at -159 to -184, the
# shape an IQM rewards), on fresh seeds 511-520: IQM -171.7 [-184.3, -160.2] (trial29-validation-100k/),
# just over the mark. As it was the second candidate tried on fresh seeds, it had to hold on ten
# more before shipping (decided before they ran: the IQM over all 20 seeds must reach the mark):
# seeds 521-530 gave IQM -187.6 (trial29-confirmation-100k/), all 20 -178.9: no preset ships.
# $LANDERS bench Pendulum-v1 --algos "ppo@$HERE/trial29.json" --seeds 10 --first-seed 511 --out "$OUT/trial29"
# $LANDERS bench Pendulum-v1 --algos "ppo@$HERE/trial29.json" --seeds 10 --first-seed 521 --out "$OUT/trial29-confirmation"
