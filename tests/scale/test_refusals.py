"""A misspelled env argument to `compare`, `bench` or `tune` is one sentence from the driver, in
far less time than Ray takes to start (~5-20 s on this machine) and with nothing written:
in-process, so a regression that lets it reach a trial shows as a Ray start here."""

import sys
import time

import pytest

from landers.errors import LandersError
from landers.scale import compare

BAD_ENVS = [
    ("NoSuchEnv-v0", {}, (), "Unknown environment 'NoSuchEnv-v0'"),
    ("CartPole-v1", {"pole_lenght": 1.0}, (), "pole_lenght"),
    ("CartPole-v1", {}, ("gymnasium.wrappers:NoSuchWrapper",), "NoSuchWrapper"),
    ("CartPole-v1", {}, ('gymnasium.wrappers:TimeLimit:{"max_episod": 3}',), "max_episod"),
]
QUICK_S = 5.0  # well under a Ray start (~5-20 s here, more under load); the env is built once on the driver


def ray_started() -> bool:
    return "ray" in sys.modules and sys.modules["ray"].is_initialized()


def refused(call) -> str:
    start = time.monotonic()
    with pytest.raises(LandersError) as error:
        call()
    assert time.monotonic() - start < QUICK_S
    assert not ray_started()
    message = str(error.value)
    assert "\n" not in message and message.endswith((".", "?"))
    return message


@pytest.mark.parametrize("env_id, kwargs, wrappers, words", BAD_ENVS)
def test_compare_refuses_a_misspelled_env_argument_before_ray(tmp_path, env_id, kwargs, wrappers, words):
    out = tmp_path / "c"
    message = refused(lambda: compare.run_all(env_id, ["random"], seeds=1, steps=64, out=out,
                                              env_kwargs=kwargs, wrappers=wrappers))
    assert words in message and not out.exists()


@pytest.mark.parametrize("env_id, kwargs, wrappers, words", BAD_ENVS + [
    ("CartPole-v1,Acrobot-v1,NoSuchEnv-v0", {}, (), "NoSuchEnv-v0")])
def test_tune_refuses_a_misspelled_env_argument_before_ray(tmp_path, env_id, kwargs, wrappers, words):
    from landers.algos import get_algo
    from landers.scale import tune

    settings = tune.StudySettings(algo="ppo", env_ids=tuple(env_id.split(",")), trials=2, seeds=1, steps=256,
                                  space=tune.default_space(get_algo("ppo")), env_kwargs=kwargs, wrappers=wrappers)
    out = tmp_path / "t"
    assert words in refused(lambda: tune.run(settings, out=out)) and not out.exists()


def test_tune_refuses_an_unknown_set_key_before_ray(tmp_path):
    from landers.algos import get_algo
    from landers.scale import tune

    settings = tune.StudySettings(algo="ppo", env_ids=("CartPole-v1",), trials=2, seeds=1, steps=256,
                                  space=tune.default_space(get_algo("ppo")), options={"clip_coeff": "0.2"})
    assert "clip_coeff" in refused(lambda: tune.run(settings, out=tmp_path / "t"))


@pytest.mark.parametrize("suite, words", [
    ("clasic", "Unknown suite 'clasic'"),
    ("CartPole-v1,NoSuchEnv-v0", "NoSuchEnv-v0"),
    ("CartPole-v1,CartPole-v1", "names CartPole-v1 twice"),
    ("classic,CartPole-v1", "names CartPole-v1 twice"),
    ("clasic,box2d", "Unknown suite 'clasic'"),
])
def test_bench_refuses_a_bad_suite_before_ray(tmp_path, suite, words):
    from landers.scale import bench

    out = tmp_path / "b"
    message = refused(lambda: bench.run(bench.parse_suite(suite), ["ppo"], seeds=1, steps=64, out=out))
    assert words in message and not out.exists()


def test_the_named_suites():
    from landers.scale import bench

    assert bench.parse_suite("classic") == ("CartPole-v1", "Acrobot-v1", "MountainCar-v0", "MountainCarContinuous-v0",
                                            "Pendulum-v1")
    assert len(bench.parse_suite("mujoco")) == 8 and bench.parse_suite("A-v0, B-v1") == ("A-v0", "B-v1")
    # suites and ids mix, each suite standing for its envs in order
    assert bench.parse_suite("box2d,Pendulum-v1") == ("LunarLander-v3", "LunarLanderContinuous-v3", "BipedalWalker-v3",
                                                      "Pendulum-v1")
    assert len(bench.parse_suite("classic, box2d,mujoco")) == 16
