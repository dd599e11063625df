"""One training run: `RunSpec` (spec.py), the `TrainState` it trains (state.py), the `Trainer`
loop (trainer.py), start/resume of a run directory (rundir.py), its metrics log (runlog.py), the caller's
callbacks (callbacks.py, handed over in `Hooks`, hooks.py) and what the Python API runs (api.py).
Imports `landers.see` (videos during training), `landers.algos` and below.
"""
