"""The policy: networks and action distributions, the `Agent` users hold, observation
normalization and evaluation over whole episodes. Imports only `landers.envs` (and `errors`).
"""
