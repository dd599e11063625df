"""One training run: `RunSpec` (spec.py), the `TrainState` it trains (state.py), the `Trainer`
loop (trainer.py), start/resume of a run directory (rundir.py), its metrics log (runlog.py).
Imports `landers.see` (videos during training), `landers.algos` and below.
"""
