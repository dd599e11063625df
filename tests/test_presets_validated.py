"""A shipped preset carries the evidence that it works: its validation record, written from a
`landers bench` run by bench/tuning/record_validation.py on seeds no study used, must reach the
published mark for its algorithm (`preset_mark`: the zoo's figure, else CleanRL's; CleanRL's first
for MuJoCo) within a budget no larger
than the reference's. Presets from before validation records existed are listed below with why
they have none yet; a new preset cannot join that list without saying so here.
(That each preset loads and trains a few updates is tests/run/test_preset_fingerprints.py.)
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from landers.core.config import all_presets, find_preset
from landers.scale.references import mujoco_v4, preset_mark
from landers.see.stats import iqm

ROOT = Path(__file__).resolve().parent.parent
FIELDS = {"env_id", "command", "seeds", "steps", "final_evals", "episodes_per_eval", "iqm", "iqm_ci95", "mean", "reference",
          "meets_reference", "train_s_median", "date", "machine", "results"}
# Presets shipped before validation records existed, and what stands between each and its record.
AWAITING = {
    "a2c-cartpole": "no published A2C figure for CartPole-v1 on record (scale/references.py) to hold it to",
    "a2c-lunarlander": "IQM 121.6 over 5 seeds at 1M, under the zoo's A2C 155.8 at 200k: needs a study",
    "a2c-lunarlandercontinuous": "seeds 201-205 ended at 34.7, 44.8, 92.5, 156.5 and -1.0 at 1M, under the zoo's "
                                 "A2C 84.2 (validation stopped there; bench/tuning/SUITE.md): needs a study",
    "ppo-atari": "10M-step games do not fit a 2-core machine; needs a GPU session",
    "ppo-mujoco": "PPO's published settings for the MuJoCo envs without a validated per-env preset of their own "
                  "(bench/tuning/mujoco.sh validates them env by env; those left, Swimmer, "
                  "InvertedDoublePendulum, Reacher and the Humanoids, have no published PPO mark on record)",
    "reinforce-cartpole": "REINFORCE has no published mark to hold it to",
    "reinforce-lunarlander": "REINFORCE has no published mark to hold it to",
    "reinforce-lunarlandercontinuous": "REINFORCE has no published mark to hold it to",
    "trpo-cartpole": "no published TRPO figure for CartPole-v1 on record (scale/references.py) to hold it to",
    "trpo-lunarlander": "within the zoo's TRPO budget (133.2 at 200k) it reaches IQM 17.8 on seeds 201-210 "
                        "(bench/tuning/trpo-lunarlander/probe-200k): needs a study",
    "trpo-lunarlandercontinuous": "IQM 195.5 over 3 seeds at 1M, under the zoo's TRPO 262.4 at 200k: needs a study",
}
PRESETS = all_presets()
VALIDATED = sorted(name for name, p in PRESETS.items() if p.validation)


def test_every_preset_is_validated_or_says_why_not():
    unaccounted = sorted(set(PRESETS) - set(VALIDATED) - set(AWAITING))
    assert not unaccounted, f"presets without a validation record: {unaccounted} (bench/tuning/record_validation.py)"
    stale = sorted(set(AWAITING) & set(VALIDATED))
    assert not stale, f"{stale} now carry a validation record: take them off AWAITING"
    assert set(AWAITING) <= set(PRESETS), f"AWAITING names presets that do not ship: {set(AWAITING) - set(PRESETS)}"


@pytest.mark.parametrize("name", VALIDATED)
def test_validation_record_holds_the_mark(name):
    preset = PRESETS[name]
    record = preset.validation
    assert FIELDS <= set(record), f"{name}'s validation lacks {sorted(FIELDS - set(record))}"
    env_id = record["env_id"]
    assert env_id in preset.env_ids, f"{name} was validated on {env_id}, which it does not name"
    finals = np.array(record["final_evals"], dtype=float)
    assert len(finals) == len(record["seeds"]) == len(set(record["seeds"]))
    assert len(finals) >= (5 if mujoco_v4(env_id) else 10), f"{name}: too few validation seeds"
    # The recorded numbers are the runs' numbers, not typed in.
    assert iqm(finals) == pytest.approx(record["iqm"], abs=0.01)
    assert record["iqm_ci95"][0] <= record["iqm"] <= record["iqm_ci95"][1]
    # Validated at the budget it ships with (runs end on a whole rollout, so up to one more).
    per_update = preset.hparams.get("num_envs", 8) * preset.hparams.get("num_steps", 128)
    assert preset.steps <= record["steps"] < preset.steps + per_update, f"{name} was validated at another budget"
    reference = record["reference"]
    expected = preset_mark(env_id, preset.algo)
    assert reference and expected, f"{name} has no published mark to be held to"
    assert (reference["library"], reference["score"]) == (expected.library, expected.score), (
        f"{name} was held to {reference}, not to its mark {expected}")
    assert record["meets_reference"] and record["iqm"] >= reference["score"], (
        f"{name}: IQM {record['iqm']} does not reach {reference}")
    if reference.get("steps"):
        assert preset.steps <= reference["steps"], f"{name} needs a larger budget than the reference's"
    if preset.study:
        study_seeds = set(range(1, (preset.study.get("seeds") or 0) + 1))
        assert not study_seeds & set(record["seeds"]), f"{name} was validated on seeds its study used"
    assert (ROOT / record["results"] / "bench.md").is_file(), f"{name}: the validation's report is not in the repo"


def test_the_mark_is_the_zoos_else_cleanrls_and_cleanrls_first_for_mujoco():
    assert preset_mark("LunarLander-v3", "ppo").library == "SB3 zoo"
    assert preset_mark("CartPole-v1", "ppo").library == "CleanRL"  # the zoo's table has no CartPole PPO
    hopper = preset_mark("Hopper-v4", "ppo")
    assert (hopper.library, hopper.score, hopper.measured_on) == ("CleanRL", 2383.0, "Hopper-v4")
    assert preset_mark("Hopper-v5", "ppo") == hopper  # the published figures are for v4
    assert preset_mark("Humanoid-v4", "ppo") is None  # not in the suite, no figure on record
    assert preset_mark("Ant-v4", "ppo").library == "SB3 zoo"  # CleanRL publishes no Ant figure
    assert preset_mark("Swimmer-v4", "ppo") is None
    assert preset_mark("Hopper-v4", "trpo").library == "SB3 zoo"


@pytest.mark.parametrize("name", VALIDATED)
def test_every_env_a_validated_preset_names_trains_with_it(name):
    preset = PRESETS[name]
    for env_id in preset.env_ids:
        found = find_preset(preset.algo, env_id, None)
        assert found == preset, f"landers train {preset.algo} {env_id} would use another preset than {name}"


def test_no_env_is_named_by_two_presets_of_one_algorithm():
    seen: dict[tuple[str, str], str] = {}
    for name, preset in sorted(PRESETS.items()):
        for env_id in preset.env_ids:
            assert (preset.algo, env_id) not in seen, f"{env_id} is in {seen[preset.algo, env_id]} and {name}"
            seen[preset.algo, env_id] = name


def test_ppo_defaults_are_the_ones_checked_on_every_suite_env():
    """PPO's general defaults, what an env with no preset trains with (issue 22, item 4), are the
    values bench/tuning/defaults/candidate.json holds, which bench/tuning/defaults-check.sh ran on
    every classic, Box2D and MuJoCo env of the suite beside the defaults before them (ppo@none
    at the time): a change of the defaults needs that check again."""
    import csv

    from landers.algos.ppo import PPOConfig
    from landers.core.config import read_preset_file, to_json_dict
    from landers.scale.references import SUITES

    candidate = read_preset_file(ROOT / "bench" / "tuning" / "defaults" / "candidate.json")
    defaults = to_json_dict(PPOConfig())
    assert candidate.hparams and {k: defaults[k] for k in candidate.hparams} == candidate.hparams
    with (ROOT / "bench" / "tuning" / "defaults" / "check" / "bench.csv").open() as f:
        measured = {(r["env"], r["algo"]) for r in csv.DictReader(f) if not r["metric"]}
    entries = {"ppo@none", "ppo@bench/tuning/defaults/candidate.json"}
    missing = [(env, e) for suite in ("classic", "box2d", "mujoco") for env in SUITES[suite] for e in entries
               if (env, e) not in measured]
    assert not missing, f"the defaults' check lacks {missing}"
