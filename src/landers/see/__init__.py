"""What people look at: plots, videos, the HTML report, and the statistics behind them.
Imports `landers.algos` (to load agents) and below, never `landers.run` or `landers.scale`.
"""
