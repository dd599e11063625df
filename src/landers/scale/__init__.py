"""Many runs at once: `landers compare` (and the Ray runner and tuner to come).
Imports `landers.run`, `landers.see` and below; only the CLI imports it.
"""
