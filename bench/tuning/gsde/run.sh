#!/bin/sh
# The gSDE measurements of README.md: rl-baselines3-zoo's PPO settings with gSDE for
# MountainCarContinuous-v0 and Pendulum-v1 in landers' keys (the two JSON files here), seeds 0-2,
# one run at a time on one core; periodic evaluations of 5 episodes, a final one of 20.
set -e
LANDERS=${LANDERS:-landers}
OUT=${OUT:-runs/bench-gsde}
HERE=$(dirname "$0")
export OMP_NUM_THREADS=1
for seed in 0 1 2; do
  for env in MountainCarContinuous-v0:mountaincarcontinuous Pendulum-v1:pendulum; do
    id=${env%%:*} name=${env##*:}
    taskset -c 0 $LANDERS train ppo "$id" --preset "$HERE/ppo-$name-gsde.json" --seed "$seed" \
      --eval-episodes 5 --set final_eval_episodes=20 --run-dir "$OUT/$name-s$seed"
  done
done
# The variants of README.md's table add e.g. --set ortho_init=true, --set sde=false or
# --set anneal_lr=true to the MountainCarContinuous runs.
