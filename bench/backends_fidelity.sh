#!/bin/sh
# The same trained policy evaluated on EnvPool's and on Gymnasium's env of the same id.
cd /work/studies
for r in lunar-val300k/runs/LunarLander-v3/ppo__s201 hopper-500k-fresh/runs/Hopper-v4/ppo__s211 \
  "s5/walker2d-500k/runs/Walker2d-v4/ppo@bench_tuning_mujoco_ppo-walker2d.json__s211" ip-20k-fresh/runs/InvertedPendulum-v4/ppo__s211 \
  $(ls -d s7/hc-500k/runs/*/* | head -1) $(ls -d s7/llc-800k/runs/*/* | head -1) $(ls -d s6/ant-700k/runs/*/* | head -1) \
  "defaults-check/runs/BipedalWalker-v3/ppo@bench_tuning_defaults_candidate.json__s201" \
  "defaults-check/runs/Swimmer-v4/ppo@bench_tuning_defaults_candidate.json__s201" \
  "defaults-check/runs/Reacher-v4/ppo@bench_tuning_defaults_candidate.json__s201" \
  "defaults-check/runs/InvertedDoublePendulum-v4/ppo@bench_tuning_defaults_candidate.json__s201"; do
  for b in envpool gymnasium; do
    echo "$r $b $(OMP_NUM_THREADS=1 /work/main/.venv/bin/landers eval "$r" --backend $b --episodes 50 2>&1 | tail -1)"
  done
done
