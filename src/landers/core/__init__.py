"""Primitives every algorithm builds on: config as data and presets, the rollout collector,
returns/advantages, pickle-free checkpoint files. Imports only `landers.policy` and below.
"""
