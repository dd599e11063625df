"""What a suite is measured against: each env's threshold (the score that counts as solving it,
normalized to 1) and published results of other libraries, each with where it comes from.

Thresholds are Gymnasium's `reward_threshold` where it has one, except where a line below says
otherwise and why. Published figures are copied as their sources print them (collected
2026-12-04, /work/shared/FACTS.md): one run per env for the zoo, the mean of 3 seeds for CleanRL;
`measured_on` names the env version they ran, which is not always the one landers trains.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

SUITES: dict[str, tuple[str, ...]] = {
    "classic": ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0", "Pendulum-v1"),
    "box2d": ("LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3"),
    "mujoco": ("Hopper-v4", "HalfCheetah-v4", "Walker2d-v4", "Ant-v4", "Swimmer-v4", "InvertedPendulum-v4",
               "InvertedDoublePendulum-v4", "Reacher-v4"),
    "atari": ("BreakoutNoFrameskip-v4", "PongNoFrameskip-v4"),
}

# (threshold, why) where Gymnasium has none or landers uses another.
THRESHOLDS: dict[str, tuple[float, str]] = {
    "CartPole-v1": (475.0, "Gymnasium's own threshold for v1"),
    "LunarLander-v3": (200.0, "Gymnasium's"),
    "LunarLanderContinuous-v3": (200.0, "Gymnasium's"),
    "Pendulum-v1": (-200.0, "landers' choice: Gymnasium has none; the zoo's PPO reaches -172"),
    "Walker2d-v4": (3000.0, "landers' choice: Gymnasium has none; CleanRL's PPO reaches 2288 at 1M steps"),
    "BreakoutNoFrameskip-v4": (400.0, "landers' choice: the zoo's and CleanRL's PPO reach ~400 at 10M steps"),
    "PongNoFrameskip-v4": (20.0, "landers' choice: 21 is a perfect game; CleanRL's PPO reaches 20.4"),
}


@dataclass(frozen=True)
class Reference:
    """One published result of an algorithm on an env."""

    library: str
    algo: str
    score: float
    steps: int | None  # the training budget, where the source gives it
    source: str  # where the figure is printed
    measured_on: str  # the env id it ran on
    note: str = ""
    env_id: str = ""  # the landers env it stands beside (filled in below)


ZOO = "rl-baselines3-zoo benchmark.md (one run, deterministic policy)"
CLEANRL = "CleanRL documentation, ppo results (mean of 3 seeds)"

REFERENCES: dict[str, list[Reference]] = {
    "CartPole-v1": [Reference("CleanRL", "ppo", 490.0, None, CLEANRL, "CartPole-v1")],
    "Acrobot-v1": [Reference("SB3 zoo", "ppo", -73.5, 1_000_000, ZOO, "Acrobot-v1"),
                   Reference("SB3 zoo", "a2c", -83.4, 500_000, ZOO, "Acrobot-v1"),
                   Reference("SB3 zoo", "trpo", -83.1, 100_000, ZOO, "Acrobot-v1"),
                   Reference("CleanRL", "ppo", -86.0, None, CLEANRL, "Acrobot-v1")],
    "MountainCar-v0": [Reference("SB3 zoo", "ppo", -110.4, 1_000_000, ZOO, "MountainCar-v0"),
                       Reference("SB3 zoo", "a2c", -111.3, 1_000_000, ZOO, "MountainCar-v0"),
                       Reference("SB3 zoo", "trpo", -107.3, 100_000, ZOO, "MountainCar-v0"),
                       Reference("CleanRL", "ppo", -200.0, None, CLEANRL, "MountainCar-v0", "unsolved")],
    "MountainCarContinuous-v0": [
        Reference("SB3 zoo", "ppo", 88.3, 20_000, ZOO, "MountainCarContinuous-v0", "with gSDE"),
        Reference("SB3 zoo", "a2c", 91.2, 100_000, ZOO, "MountainCarContinuous-v0"),
        Reference("SB3 zoo", "trpo", 92.5, 50_000, ZOO, "MountainCarContinuous-v0")],
    "Pendulum-v1": [Reference("SB3 zoo", "ppo", -172.2, 100_000, ZOO, "Pendulum-v1", "with gSDE"),
                    Reference("SB3 zoo", "a2c", -163.0, 1_000_000, ZOO, "Pendulum-v1"),
                    Reference("SB3 zoo", "trpo", -174.6, 100_000, ZOO, "Pendulum-v1")],
    "LunarLander-v3": [Reference("SB3 zoo", "ppo", 242.1, 1_000_000, ZOO, "LunarLander-v2"),
                       Reference("SB3 zoo", "a2c", 155.8, 200_000, ZOO, "LunarLander-v2"),
                       Reference("SB3 zoo", "trpo", 133.2, 200_000, ZOO, "LunarLander-v2")],
    "LunarLanderContinuous-v3": [Reference("SB3 zoo", "ppo", 270.9, 1_000_000, ZOO, "LunarLanderContinuous-v2"),
                                 Reference("SB3 zoo", "a2c", 84.2, 5_000_000, ZOO, "LunarLanderContinuous-v2"),
                                 Reference("SB3 zoo", "trpo", 262.4, 200_000, ZOO, "LunarLanderContinuous-v2")],
    "BipedalWalker-v3": [Reference("SB3 zoo", "ppo", 287.9, 5_000_000, ZOO, "BipedalWalker-v3"),
                         Reference("SB3 zoo", "a2c", 299.8, 5_000_000, ZOO, "BipedalWalker-v3"),
                         Reference("SB3 zoo", "trpo", 182.3, 1_000_000, ZOO, "BipedalWalker-v3")],
    "Hopper-v4": [Reference("SB3 zoo", "ppo", 2410.0, 1_000_000, ZOO, "Hopper-v3"),
                  Reference("SB3 zoo", "trpo", 3618.0, 1_000_000, ZOO, "Hopper-v3"),
                  Reference("CleanRL", "ppo", 2383.0, 1_000_000, CLEANRL, "Hopper-v4")],
    "HalfCheetah-v4": [Reference("SB3 zoo", "ppo", 5819.0, 1_000_000, ZOO, "HalfCheetah-v3"),
                       Reference("SB3 zoo", "trpo", 1786.0, 1_000_000, ZOO, "HalfCheetah-v3"),
                       Reference("CleanRL", "ppo", 1443.0, 1_000_000, CLEANRL, "HalfCheetah-v4")],
    "Walker2d-v4": [Reference("SB3 zoo", "ppo", 3479.0, 1_000_000, ZOO, "Walker2d-v3"),
                    Reference("SB3 zoo", "trpo", 4933.0, 1_000_000, ZOO, "Walker2d-v3"),
                    Reference("CleanRL", "ppo", 2288.0, 1_000_000, CLEANRL, "Walker2d-v4")],
    "Ant-v4": [Reference("SB3 zoo", "ppo", 1327.0, 1_000_000, ZOO, "Ant-v3"),
               Reference("SB3 zoo", "trpo", 4982.0, 1_000_000, ZOO, "Ant-v3")],
    "InvertedPendulum-v4": [Reference("CleanRL", "ppo", 963.0, 1_000_000, CLEANRL, "InvertedPendulum-v4")],
    "BreakoutNoFrameskip-v4": [Reference("SB3 zoo", "ppo", 398.0, 10_000_000, ZOO, "BreakoutNoFrameskip-v4"),
                               Reference("SB3 zoo", "a2c", 280.0, 10_000_000, ZOO, "BreakoutNoFrameskip-v4"),
                               Reference("CleanRL", "ppo", 415.0, 10_000_000, CLEANRL, "BreakoutNoFrameskip-v4")],
    "PongNoFrameskip-v4": [Reference("CleanRL", "ppo", 20.4, 10_000_000, CLEANRL, "PongNoFrameskip-v4")],
}


REFERENCES = {env: [dataclasses.replace(r, env_id=env) for r in refs] for env, refs in REFERENCES.items()}
SOURCES = (f"SB3 zoo: {ZOO}", f"CleanRL: {CLEANRL}")


def threshold_for(env_id: str) -> float | None:
    """The score that counts as solving `env_id`: landers' table, else Gymnasium's `reward_threshold`;
    None for a factory's import path (`module:callable`), which registers no threshold."""
    if env_id in THRESHOLDS:
        return THRESHOLDS[env_id][0]
    from landers.envs import env_spec
    from landers.envs.source import env_source

    if env_source(env_id).factory is not None:
        return None
    found = env_spec(env_id).reward_threshold
    return None if found is None else float(found)


def references_for(env_id: str, algo: str) -> list[Reference]:
    return [r for r in REFERENCES.get(env_id, []) if r.algo == algo]


def mujoco_v4(env_id: str) -> str | None:
    """The v4 id of a MuJoCo suite env named by any version (Hopper-v5 -> Hopper-v4), else None."""
    family = env_id.rsplit("-v", 1)[0]
    return next((e for e in SUITES["mujoco"] if e.rsplit("-v", 1)[0] == family), None)


def preset_mark(env_id: str, algo: str) -> Reference | None:
    """The published figure a shipped preset must reach (issue 22): the zoo's for the algorithm,
    else CleanRL's; for MuJoCo (any version of the ids: the figures are for v4, or the zoo's v3),
    CleanRL's PPO on the v4 envs first (the zoo's ran v3 with tuned per-env settings), else the
    zoo's. None where neither has published one."""
    v4 = mujoco_v4(env_id)
    order = ("CleanRL", "SB3 zoo") if v4 else ("SB3 zoo", "CleanRL")
    found = references_for(v4 or env_id, algo)
    return next((r for library in order for r in found if r.library == library), None)
