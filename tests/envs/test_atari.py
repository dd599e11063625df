"""Atari preprocessing, each wrapper against a scripted ALE-like env, and real Breakout."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from conftest import landers_cli
from landers.core.rollout import Collector
from landers.envs import atari, make_vec_env, resolve_backend
from landers.policy.evaluation import run_episodes

pytest.importorskip("ale_py", reason="ale-py is not installed (pip install 'landers[atari]')")


class FakeALE:
    def __init__(self, game):
        self.game = game

    def lives(self):
        return self.game.lives


class FakeAtari(gym.Env):
    """Frame t is filled with the value 2t (mod 250), except that every odd frame is dimmer
    (flicker); reward +5 on frames 10, 20, ... and -3 on frames 5, 15, ... (never within one
    4-frame skip); a life is lost every 40 frames; three lives."""

    metadata = {"render_modes": ["rgb_array"], "render_fps": 60}
    observation_space = gym.spaces.Box(0, 255, (210, 160, 3), np.uint8)
    action_space = gym.spaces.Discrete(4)

    def __init__(self, frameskip=1, render_mode=None):
        self.ale = FakeALE(self)
        self.actions, self.resets, self.t, self.lives = [], 0, 0, 3

    def get_action_meanings(self):
        return ["NOOP", "FIRE", "RIGHT", "LEFT"]

    def frame(self, t):
        value = (2 * t) % 250 - (50 if t % 2 else 0)
        return np.full((210, 160, 3), max(value, 0), np.uint8)

    def reset(self, seed=None, options=None):
        super().reset(seed=seed)
        self.t, self.lives = 0, 3
        self.resets += 1
        return self.frame(0), {}

    def step(self, action):
        self.t += 1
        self.actions.append(int(action))
        reward = 5.0 if self.t % 10 == 0 else (-3.0 if self.t % 10 == 5 else 0.0)
        if self.t % 40 == 0:
            self.lives -= 1
        return self.frame(self.t), reward, self.lives == 0, False, {}


gym.register("FakeNoFrameskip-v4", entry_point=FakeAtari)


def test_noop_reset_takes_between_1_and_30_noops():
    counts = set()
    for seed in range(20):
        env = atari.NoopReset(FakeAtari(), noop_max=30)
        env.reset(seed=seed)
        assert 1 <= len(env.unwrapped.actions) <= 30 and set(env.unwrapped.actions) == {0}
        counts.add(len(env.unwrapped.actions))
    assert len(counts) > 5  # varied starts


def test_max_and_skip_repeats_sums_and_maxes_the_last_two_frames():
    fake = FakeAtari()
    env = atari.MaxAndSkip(fake, skip=4)
    env.reset()
    for _ in range(2):
        obs, reward, *_ = env.step(2)
    assert fake.actions == [2] * 8
    assert reward == -3.0  # frames 5..8: frame 5 costs 3
    obs, reward, *_ = env.step(2)  # frames 9..12: frame 10 pays 5
    assert reward == 5.0
    np.testing.assert_array_equal(obs, np.maximum(fake.frame(11), fake.frame(12)))
    assert obs.max() == max(fake.frame(11).max(), fake.frame(12).max())


def test_episodic_life_signals_life_loss_without_resetting_the_game():
    fake = FakeAtari()
    env = atari.EpisodicLife(fake)
    env.reset()
    terminated = False
    for _ in range(40):
        _, _, terminated, truncated, _ = env.step(2)
    assert terminated and fake.lives == 2
    env.reset()
    assert fake.resets == 1 and fake.t == 41  # the game goes on with a no-op, not a reset
    for _ in range(80):
        _, _, terminated, _, _ = env.step(2)
    assert terminated and fake.lives == 0
    env.reset()
    assert fake.resets == 2 and fake.t == 0  # a real game over resets


def test_fire_reset_presses_fire():
    fake = FakeAtari()
    atari.FireReset(fake).reset()
    assert fake.actions == [1]


def test_evaluation_fires_after_each_lost_life_and_keeps_the_score():
    fake = FakeAtari()
    env = atari.preprocess(fake, train=False)
    env.reset(seed=0)
    start = len(fake.actions)
    assert fake.actions[-4:] == [1] * 4  # the no-ops, then FIRE (4 frames)
    total, terminated, fires = 0.0, False, 0
    while not terminated:
        lives = fake.lives
        _, _, terminated, _, info = env.step(0)
        total += info["raw_reward"]
        if fake.lives < lives and not terminated:  # a life lost: this same step served again
            assert fake.actions[-4:] == [1] * 4
            fires += 1
        else:
            assert fake.actions[-4:] == [0] * 4
    assert fires == 2 and fake.resets == 1  # after the first and second of three lives
    real = [5.0 if t % 10 == 0 else (-3.0 if t % 10 == 5 else 0.0) for t in range(1, fake.t + 1)]
    assert total == sum(real[start:])  # the FIRE steps' points count too
    train = atari.preprocess(FakeAtari(), train=True)
    assert not any(isinstance(w, atari.FireOnNewLife) for w in _wrappers(train))


def _wrappers(env):
    while isinstance(env, gym.Wrapper):
        yield env
        env = env.env


def test_pipeline_clips_rewards_stacks_in_order_and_keeps_uint8():
    env = atari.preprocess(FakeAtari(), train=True)
    obs, _ = env.reset(seed=0)
    assert obs.shape == (4, 84, 84) and obs.dtype == np.uint8
    rewards = []
    for _ in range(6):
        obs, reward, *_ = env.step(2)
        rewards.append(reward)
    assert set(rewards) <= {-1.0, 0.0, 1.0} and 1.0 in rewards and -1.0 in rewards
    means = obs.reshape(4, -1).mean(1)
    assert (np.diff(means) > 0).all()  # oldest frame first, newest last (values grow with t)
    raw = atari.preprocess(FakeAtari(), train=False)
    raw.reset(seed=0)
    assert any(raw.step(2)[1] == 5.0 for _ in range(6))  # evaluation keeps real rewards


def test_game_score_counts_all_lives_in_real_points():
    envs = make_vec_env("FakeNoFrameskip-v4", 2, seed=0, backend="gymnasium")

    class Right(torch.nn.Module):
        def act(self, obs):
            z = torch.zeros(len(obs))
            return torch.full((len(obs),), 2), z, z

        def value(self, obs):
            return torch.zeros(len(obs))

    collector = Collector(envs, num_steps=100, device=torch.device("cpu"))
    rollout = collector.collect(Right())
    envs.close()
    # A game is 120 frames = 30 agent steps (+ no-ops and FIRE); 3 lives -> 3 terminations per
    # game, and one logged episode per game whose return is the real total, 12 x 5 - 12 x 3 = 24,
    # give or take what fell into the first no-op frames; the clipped total would be about 0.
    games = collector.episodes
    assert games and rollout.terminated.sum().item() >= 3 * len(games)
    assert all(9 <= g.ret <= 33 for g in games), [g.ret for g in games]
    assert set(rollout.rewards.unique().tolist()) <= {-1.0, 0.0, 1.0}


BACKENDS = ["gymnasium", pytest.param("envpool", marks=pytest.mark.skipif(
    resolve_backend("CartPole-v1", "auto") != "envpool", reason="EnvPool is not installed"))]


@pytest.mark.slow  # the real Breakout on both backends: ~19 s at load 11
@pytest.mark.parametrize("backend", BACKENDS)
def test_real_breakout_backends_agree_on_shape_dtype_and_semantics(backend):
    envs = make_vec_env("BreakoutNoFrameskip-v4", 4, seed=1, backend=backend)
    assert envs.single_observation_space.shape == (4, 84, 84)
    assert envs.single_observation_space.dtype == np.uint8

    class Random(torch.nn.Module):
        def act(self, obs):
            z = torch.zeros(len(obs))
            return torch.randint(0, 4, (len(obs),)), z, z

        def value(self, obs):
            return torch.zeros(len(obs))

    torch.manual_seed(0)
    collector = Collector(envs, num_steps=600, device=torch.device("cpu"))
    rollout = collector.collect(Random())
    envs.close()
    assert rollout.obs.dtype == torch.uint8 and rollout.obs.shape[2:] == (4, 84, 84)
    assert set(rollout.rewards.unique().tolist()) <= {0.0, 1.0}
    games = collector.episodes
    # random play loses its 5 lives within 600 steps: several life-loss terminations per game
    assert games and rollout.terminated.sum().item() >= 4 * len(games)
    assert sum(g.ret for g in games) >= 0 and all(g.length > 50 for g in games)


def test_gymnasium_games_last_at_most_108k_frames_like_envpools_27k_agent_steps():
    env = atari.make_atari("BreakoutNoFrameskip-v4", train=False)
    assert env.spec.max_episode_steps == 108_000  # frames: the TimeLimit sits below the frame skip
    env.close()


@pytest.mark.parametrize("backend", BACKENDS)
def test_real_breakout_evaluation_serves_after_each_lost_life(backend):
    # A policy that never presses FIRE still plays whole games to the end instead of waiting
    # for a ball that never comes (the cap of 2000 steps would end a stuck game).
    result = run_episodes(lambda obs, mask, starts: np.zeros(len(obs), np.int64), "BreakoutNoFrameskip-v4", 2, seed=3,
                          backend=backend, max_steps=2000)
    assert len(result.lengths) == 2 and max(result.lengths) < 1000, result.lengths


@pytest.mark.slow  # trains Breakout through a landers process: ~210 s at load 12
def test_breakout_smoke_through_the_cli(tmp_path):
    # two rollouts of 4 envs x 128 steps, one epoch each: the CNN's whole path, not its learning;
    # one torch thread (a CNN takes every core by default), as the suite runs a test per core
    result = landers_cli("train", "ppo", "BreakoutNoFrameskip-v4", "--steps", "1024", "--envs", "4", "--quiet",
                         "--set", "threads=1",
                         "--run-dir", str(tmp_path / "run"), "--set", "final_eval_episodes=2",
                         "--set", "eval_max_steps=300", "--set", "num_minibatches=2", "--set", "update_epochs=1",
                         "--eval-every", "512", "--set", "eval_episodes=2")
    assert result.returncode == 0, result.stderr
    assert "over 2 episodes" in result.stdout.strip().splitlines()[-1]
    eval_result = landers_cli("eval", str(tmp_path / "run"), "--episodes", "2", "--stochastic", "--json")
    assert eval_result.returncode == 0, eval_result.stderr
