#!/bin/sh
# Issue 22: PPO on Acrobot-v1 (mark: the zoo's -73.5 at 1M), the second study, the first with
# disjoint evaluation seeds (10000 + 64 s). The first study (acrobot.sh, 300k steps, 3 seeds)
# validated at -80.5; the zoo's own settings (acrobot/zoo-like.json, observation normalization)
# reached -75.9/-75.5 at 500k on seeds 1-2. This study searches around those settings, with
# network sizes and a longer horizon (gamma) in the space, at 500k steps, 4 seeds per trial
# scored by their mean, on one pinned core.
NAME=acrobot2
. "$(dirname "$0")/study.sh"
study ppo Acrobot-v1 --preset "$HERE/../acrobot/zoo-like.json" --trials 20 --steps 500000 \
  --seeds 4 --objective final --space "$HERE/space.json"
# Decided before the study ran (2026-12-06 02:55 UTC): its best is validated on fresh seeds
# 601-610 at 500k; it ships if the IQM reaches the zoo's -73.5. Only that one candidate is tried.
# $LANDERS bench Acrobot-v1 --algos "ppo@$HERE/best.json" --seeds 10 --first-seed 601 --out "$OUT/validation"
