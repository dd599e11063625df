#!/bin/sh
# Issue 22: PPO on LunarLanderContinuous-v3 within the zoo's budget (1M steps; its mark 270.9).
# Probes first (lunarlandercontinuous/probes/, seeds 401-403, 1M steps, final 100-episode evals):
# the shipped unvalidated preset 231.6/261.3/262.0, the LunarLander-v3 preset's shape
# 265.6/255.5/262.0, the zoo's own settings 265.2/259.7/262.9: all near, none at the mark. So a study
# over the shape's neighbourhood, 3 seeds per trial at 1M, objective final, on one pinned core.
NAME=lunarlandercontinuous
. "$(dirname "$0")/study.sh"
study ppo LunarLanderContinuous-v3 --preset "$HERE/probes/lunarlander-shape.json" \
  --trials 20 --steps 1000000 --seeds 3 --objective final --space "$HERE/space.json"
# Validation (2026-12-05, core 1, while the study ran on core 0): trial 2 (trial2.json; 272.6 over
# seeds 1-3, the best when its validation began) on fresh seeds 201-210 at 1M: IQM 276.3 [270.2, 279.7]
# against the zoo's 270.9 (validation-1000k/); shipped as src/landers/presets/ppo-lunarlandercontinuous.json.
# The study was then stopped (Ctrl-C; the same command resumes it): trials.csv, study.json and
# tune.png are its state at 14 of 20 trials.
# $LANDERS bench LunarLanderContinuous-v3 --algos "ppo@$HERE/trial2.json" --seeds 10 --first-seed 201 --out "$OUT/validation"
