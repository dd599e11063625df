"""One training run: `RunSpec` (what defines it), the `Trainer` loop with start/resume, its
metrics log. Imports `landers.see` (videos during training), `landers.algos` and below.
"""
