import json

import optuna
import pytest

from landers.algos import ALGOS, get_algo
from landers.core.config import read_preset_file, replace_config
from landers.core.search import Choice, Float, check_space, constrained, load_space, suggest
from landers.envs import envpool_supports
from landers.errors import LandersError
from landers.run.spec import available_cores, make_spec
from landers.scale.study import TrialRecord, best_preset

optuna.logging.set_verbosity(optuna.logging.WARNING)
TUNABLE = [a for a in ALGOS if getattr(get_algo(a), "SEARCH_SPACE", None)]


def test_every_learning_algorithm_ships_a_search_space():
    assert set(TUNABLE) == {"ppo", "a2c", "trpo", "reinforce"}


@pytest.mark.parametrize("algo", TUNABLE)
def test_the_space_samples_only_valid_configurations(algo):
    module = get_algo(algo)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
    for _ in range(200):
        trial = study.ask()
        params = constrained(module, suggest(trial, module.SEARCH_SPACE))
        cfg = replace_config(module.Config(), params)  # raises on an invalid combination
        assert {k: getattr(cfg, k) for k in params} == params
        study.tell(trial, 0.0)


def test_ppo_minibatches_are_rounded_down_to_a_divisor_of_the_batch():
    ppo = get_algo("ppo")
    params = constrained(ppo, {"num_envs": 3, "num_steps": 10, "num_minibatches": 8})
    assert params["num_minibatches"] == 6  # 30 = 6 x 5; 8 and 7 do not divide it
    assert constrained(ppo, {"num_envs": 1, "num_steps": 2})["num_minibatches"] == 2


def write(tmp_path, data, name="space.json"):
    path = tmp_path / name
    path.write_text(data if isinstance(data, str) else json.dumps(data))
    return path


def test_a_space_file_narrows_drops_and_replaces(tmp_path):
    from landers.scale.tune import default_space

    ppo = get_algo("ppo")
    space = load_space(write(tmp_path, {"lr": {"float": [1e-4, 5e-4], "log": True}, "ent_coef": None}), ppo)
    assert space["lr"] == Float(1e-4, 5e-4, True) and "ent_coef" not in space
    assert space["num_envs"] == ppo.SEARCH_SPACE["num_envs"]
    # over tune's default space, the network's size and activation stay searched
    assert {"hidden_sizes", "activation", "lr"} <= set(load_space(write(tmp_path, {"ent_coef": None}), ppo,
                                                                  base=default_space(ppo)))
    only = load_space(write(tmp_path, {"replace": True, "num_envs": {"choice": [4, 8]}}), ppo)
    assert only == {"num_envs": Choice((4, 8))}


def test_a_parameter_fixed_with_set_leaves_the_algorithms_space_but_not_the_files(tmp_path):
    from landers.scale.tune import default_space

    ppo = get_algo("ppo")
    assert "norm_obs" in default_space(ppo) and "norm_obs" not in default_space(ppo, fixed=frozenset({"norm_obs"}))
    space = load_space(write(tmp_path, {"lr": {"float": [1e-4, 5e-4], "log": True}}), ppo, fixed=frozenset({"norm_obs"}))
    assert "norm_obs" not in space and "lr" in space
    named = load_space(write(tmp_path, {"norm_obs": {"choice": [True]}}), ppo, fixed=frozenset({"norm_obs"}))
    assert named["norm_obs"] == Choice((True,))  # the file names it too: tune refuses the pair in one sentence


@pytest.mark.parametrize("content, words", [
    ("{not json", "not valid JSON"),
    ([1, 2], "must hold an object"),
    ({"learning_rate": {"float": [1e-4, 1e-3]}}, "'learning_rate'"),
    ({"gamma": {"float": [0.9, 1.5]}}, "'gamma'"),
    ({"lr": {"float": [0.0, 1e-3], "log": True}}, "'lr'"),
    ({"num_envs": {"int": [8, 2]}}, "'num_envs'"),
    ({"num_envs": {"int": [1.5, 4]}}, "'num_envs'"),
    ({"lr": {"floot": [1e-4, 1e-3]}}, "'lr'"),
    ({"activation": {"choice": ["tanh", "gelu"]}}, "'activation'"),
    ({"replace": True}, "no parameters"),
])
def test_a_bad_space_file_gets_one_sentence_naming_the_culprit(tmp_path, content, words):
    with pytest.raises(LandersError) as e:
        load_space(write(tmp_path, content), get_algo("ppo"))
    message = str(e.value)
    assert words in message and "\n" not in message


def test_a_missing_space_file_is_one_sentence(tmp_path):
    with pytest.raises(LandersError, match="Cannot read"):
        load_space(tmp_path / "nope.json", get_algo("ppo"))


def test_the_shipped_spaces_pass_their_own_checks():
    for algo in TUNABLE:
        check_space(get_algo(algo), get_algo(algo).SEARCH_SPACE)


def test_preset_takes_a_file_path_and_uses_exactly_its_values(tmp_path):
    preset = {"algo": "ppo", "env_id": "CartPole-v1", "steps": 4096, "eval_every": 1024,
              "hparams": {"lr": 0.00123, "num_envs": 4, "num_steps": 32, "num_minibatches": 2, "norm_obs": True},
              "description": "from a test", "results": {"trials": 1}}
    path = write(tmp_path, preset, "best.json")
    spec = make_spec("ppo", "CartPole-v1", preset=str(path))
    assert spec.steps == 4096 and spec.eval_every == 1024 and spec.preset == str(path)
    assert {k: getattr(spec.hparams, k) for k in preset["hparams"]} == preset["hparams"]


@pytest.mark.parametrize("content, words", [
    ("{", "not valid JSON"),
    ({"algo": "ppo", "env_id": "CartPole-v1", "steps": 10}, "missing hparams"),
    ({"algo": "ppo", "env_id": "CartPole-v1", "steps": 10, "hparams": {}, "colour": 1}, "unknown key"),
    ({"algo": "ppo", "env_id": "CartPole-v1", "steps": 10, "hparams": {"lr": "fast"}}, "lr"),
    ({"algo": "ppo", "env_id": "CartPole-v1", "steps": 10, "hparams": {"lr": [1]}}, "lr"),
    ({"algo": "a2c", "env_id": "CartPole-v1", "steps": 10, "hparams": {}}, "is for a2c"),
])
def test_a_bad_preset_file_is_one_sentence(tmp_path, content, words):
    with pytest.raises(LandersError) as e:
        make_spec("ppo", "CartPole-v1", preset=str(write(tmp_path, content, "p.json")))
    assert words in str(e.value)


ENVPOOL_LUNAR = pytest.mark.skipif(not envpool_supports("LunarLander-v3"), reason="EnvPool is not installed")


@ENVPOOL_LUNAR
def test_a_presets_overlap_applies_only_where_envpool_can_overlap(tmp_path):
    preset = {"algo": "ppo", "env_id": "LunarLander-v3", "steps": 4096, "overlap": True,
              "hparams": {"num_envs": 4, "num_steps": 32, "num_minibatches": 2}}
    path = str(write(tmp_path, preset, "p.json"))
    two_cores = available_cores() >= 2  # a run alone has the machine's cores
    assert make_spec("ppo", "LunarLander-v3", preset=path).overlap is two_cores
    # Where it cannot overlap the preset's choice is dropped, not refused: Gymnasium keeps the
    # synchronous path, and two equal halves need an even num_envs.
    assert make_spec("ppo", "LunarLander-v3", preset=path, backend="gymnasium").overlap is False
    assert make_spec("ppo", "LunarLander-v3", preset=path, overrides={"num_envs": 3}).overlap is False
    assert make_spec("ppo", "LunarLander-v3", preset=path, overrides={"overlap": "false"}).overlap is False
    # A run given one core (as compare and tune give each run its share) steps synchronously.
    assert make_spec("ppo", "LunarLander-v3", preset=path, threads=1).overlap is False
    assert make_spec("ppo", "LunarLander-v3", preset=path, threads=2).overlap is True
    # ... the same from --set, whose values arrive as text.
    assert make_spec("ppo", "LunarLander-v3", preset=path, overrides={"threads": "1"}).overlap is False
    assert make_spec("ppo", "LunarLander-v3", preset=path, overrides={"threads": "0"}).overlap is two_cores
    preset["overlap"] = False
    assert make_spec("ppo", "LunarLander-v3", preset=str(write(tmp_path, preset, "q.json"))).overlap is False
    # The shipped LunarLander preset overlaps (measured faster there, bench/RESULTS.md); CartPole's does not.
    assert make_spec("ppo", "LunarLander-v3").overlap is two_cores
    assert make_spec("ppo", "CartPole-v1").overlap is False


def test_a_tuned_preset_keeps_the_overlap_its_trials_ran_with(tmp_path):
    trial = TrialRecord(number=0, params={"lr": 1e-3}, state="COMPLETE", score=1.0, seed_scores=[1.0])
    for overlap in (True, False):
        best = best_preset(trial, algo="ppo", env_id="LunarLander-v3", steps=4096, eval_every=None,
                           base_hparams={"num_envs": 4}, trials=[trial], seeds=1, objective="auc", overlap=overlap)
        assert read_preset_file(write(tmp_path, best, "best.json")).overlap is overlap
