"""Spaces as the networks see them: JSON round trips, flattening, the encoder, the action
distributions, and observation normalization of the vector parts only."""

import gymnasium as gym
import numpy as np
import pytest
import torch

from landers.envs.spaces import space_from_json, space_to_json
from landers.errors import LandersError
from landers.policy.networks import (Bernoulli, CNNActorCritic, MultiCategorical, ObsEncoder, build_model,
                                     make_dist)
from landers.policy.normalize import ObsNormalizer
from landers.policy.spaces import ObsLayout, env_actions
from landers.algos.ppo import PPOConfig

DICT = gym.spaces.Dict({
    "cue": gym.spaces.Discrete(3, start=-1),
    "grid": gym.spaces.Box(-1, 1, (2, 3), np.float32),
    "parts": gym.spaces.Tuple((gym.spaces.MultiBinary(2), gym.spaces.MultiDiscrete([[2, 4]], start=[[1, 0]]))),
})

EVERY_SPACE = [
    gym.spaces.Discrete(4, start=1),
    gym.spaces.Box(-2.0, 3.0, (3,), np.float32),
    gym.spaces.Box(np.array([0.0, -1.0]), np.array([1.0, 1.0]), dtype=np.float32),
    gym.spaces.Box(0, 255, (4, 84, 84), np.uint8),
    gym.spaces.Box(-np.inf, np.inf, (5, 5), np.float64),
    gym.spaces.MultiDiscrete([3, 4], start=[1, 0]),
    gym.spaces.MultiDiscrete([[2, 3], [4, 5]]),
    gym.spaces.MultiBinary(4),
    gym.spaces.MultiBinary([2, 3]),
    gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Box(-1, 1, (2,), np.float32))),
    # an OrderedDict keeps its (unsorted) key order, which fixes the flat layout: JSON keeps it too
    gym.spaces.Dict(__import__("collections").OrderedDict(z=gym.spaces.Discrete(2), a=DICT)),
]


@pytest.mark.parametrize("space", EVERY_SPACE, ids=lambda s: type(s).__name__)
def test_every_supported_space_round_trips_through_json(space):
    again = space_from_json(space_to_json(space))
    assert again == space
    assert ObsLayout(again).signature() == ObsLayout(space).signature()


def test_dict_observation_flattens_part_by_part_in_key_order():
    layout = ObsLayout(DICT)
    obs = {"cue": 1, "grid": np.arange(6, dtype=np.float32).reshape(2, 3),
           "parts": (np.array([1, 0], np.int8), np.array([[2, 3]]))}
    rows, single = layout.batch(obs)
    assert single and rows.shape == (1, 1 + 6 + 2 + 2)
    # cue 1 counted from start -1 is category 2; MultiDiscrete [2, 3] from starts [1, 0] is [1, 3]
    np.testing.assert_array_equal(rows[0], [2, 0, 1, 2, 3, 4, 5, 1, 0, 1, 3])
    np.testing.assert_array_equal(layout.vector_columns, np.arange(1, 7))  # the Box part only
    batch = {"cue": np.array([1, -1]), "grid": np.zeros((2, 2, 3)),
             "parts": (np.zeros((2, 2), np.int8), np.array([[[1, 0]], [[2, 3]]]))}
    rows, single = layout.batch(batch)
    assert not single and rows.shape == (2, 11) and rows[:, 0].tolist() == [2, 0]
    with pytest.raises(LandersError, match="'grid' has shape"):
        layout.batch({**obs, "grid": np.zeros(5)})


def test_encoder_one_hots_categories_and_passes_the_rest():
    layout = ObsLayout(DICT)
    encoder = ObsEncoder(layout)
    rows = torch.tensor([[2, 0, 1, 2, 3, 4, 5, 1, 0, 1, 3]], dtype=torch.float32)
    features = encoder(rows)[0]
    assert encoder.out_dim == 6 + 2 + 3 + 2 + 4 == len(features)
    np.testing.assert_array_equal(features[:8].numpy(), [0, 1, 2, 3, 4, 5, 1, 0])  # Box, then bits
    np.testing.assert_array_equal(features[8:].numpy(), [0, 0, 1] + [0, 1] + [0, 0, 0, 1])  # cue, MultiDiscrete
    assert not encoder.state_dict()  # index buffers are rebuilt from the space, not saved


def test_images_go_through_a_cnn_channels_first_or_last():
    last = gym.spaces.Box(0, 255, (96, 96, 3), np.uint8)  # CarRacing's frames
    model = build_model(PPOConfig(), last, gym.spaces.Box(-1, 1, (3,), np.float32))
    assert isinstance(model, CNNActorCritic) and model.channels_last
    frames = torch.randint(0, 256, (2, 96, 96, 3), dtype=torch.uint8)
    params, values = model(frames)
    assert params[0].shape == (2, 3) and values.shape == (2,)
    # A small uint8 grid is no image for the Nature CNN: it is flattened like any Box.
    grid = ObsLayout(gym.spaces.Box(0, 10, (7, 7, 3), np.uint8))
    assert not grid.image and grid.shape == (147,) and grid.vector_columns is None
    mixed = ObsLayout(gym.spaces.Dict({"frame": last, "speed": gym.spaces.Box(-1, 1, (1,))}))
    assert [p.kind for p in mixed.parts] == ["image", "vector"] and mixed.needs_encoder
    assert ObsEncoder(mixed).out_dim == 512 + 1


def test_unsupported_spaces_are_named_in_one_sentence():
    text = gym.spaces.Dict({"pos": gym.spaces.Box(-1, 1, (2,)), "mission": gym.spaces.Text(10)})
    with pytest.raises(LandersError, match="Observation key 'mission' is a Text space.*drop it with a wrapper"):
        ObsLayout(text)
    with pytest.raises(LandersError, match="Observation key '1' is a Sequence space"):
        ObsLayout(gym.spaces.Tuple((gym.spaces.Discrete(2), gym.spaces.Sequence(gym.spaces.Discrete(2)))))
    with pytest.raises(LandersError, match="The observation is a Graph space"):
        ObsLayout(gym.spaces.Graph(gym.spaces.Box(0, 1, (2,)), None))
    with pytest.raises(LandersError, match="action space .* is not supported"):
        make_dist(gym.spaces.Dict({"a": gym.spaces.Discrete(2)}))


def _reference(dist, params):
    if isinstance(dist, MultiCategorical):
        return [torch.distributions.Categorical(logits=p) for p in params.split(dist.nvec, -1)]
    return [torch.distributions.Bernoulli(logits=params)]


@pytest.mark.parametrize("space", [gym.spaces.MultiDiscrete([3, 2, 4]), gym.spaces.MultiBinary(3)],
                         ids=["MultiDiscrete", "MultiBinary"])
def test_multi_distributions_match_torch_and_sum_over_dimensions(space):
    torch.manual_seed(0)
    dist = make_dist(space)
    old, new = torch.randn(5, dist.out_dim), torch.randn(5, dist.out_dim)
    actions = dist.sample(old)
    assert actions.shape == (5, 3) and space.contains(env_actions(space)(actions.numpy())[0])
    ref_old, ref_new = _reference(dist, old), _reference(dist, new)
    if isinstance(dist, MultiCategorical):
        ref_logp = sum(d.log_prob(actions[:, i]) for i, d in enumerate(ref_old))
        ref_entropy = sum(d.entropy() for d in ref_old)
        ref_kl = sum(torch.distributions.kl_divergence(a, b) for a, b in zip(ref_old, ref_new, strict=True))
    else:
        ref_logp = ref_old[0].log_prob(actions).sum(-1)
        ref_entropy = ref_old[0].entropy().sum(-1)
        ref_kl = torch.distributions.kl_divergence(ref_old[0], ref_new[0]).sum(-1)
    torch.testing.assert_close(dist.log_prob(old, actions), ref_logp)
    torch.testing.assert_close(dist.entropy(old), ref_entropy)
    torch.testing.assert_close(dist.kl(old, new), ref_kl)
    assert dist.mode(old).shape == (5, 3)
    # each dimension's mode is its own most likely value
    if isinstance(dist, MultiCategorical):
        assert dist.mode(old).tolist() == torch.stack([p.argmax(-1) for p in old.split([3, 2, 4], -1)], -1).tolist()
    else:
        assert dist.mode(old).tolist() == (old > 0).float().tolist()


def test_env_actions_put_policy_actions_in_the_env_format():
    md = gym.spaces.MultiDiscrete([[2, 3]], start=[[5, -1]])
    out = env_actions(md)(np.array([[1, 2], [0, 0]]))
    assert out.shape == (2, 1, 2) and out.dtype == md.dtype and out[0].tolist() == [[6, 1]] and md.contains(out[1])
    bits = env_actions(gym.spaces.MultiBinary([2, 2]))(np.array([[1.0, 0.0, 0.0, 1.0]], np.float32))
    assert bits.dtype == np.int8 and bits[0].tolist() == [[1, 0], [0, 1]]
    assert env_actions(gym.spaces.Box(-1, 1, (2, 2)))(np.zeros((3, 4))).shape == (3, 2, 2)
    assert env_actions(gym.spaces.Discrete(3, start=-1))(np.array([0, 2])).tolist() == [-1, 1]


def test_obs_normalization_touches_the_vector_parts_only():
    layout = ObsLayout(DICT)
    norm = ObsNormalizer(layout.shape, columns=layout.vector_columns)
    rows = np.random.default_rng(0).normal(5.0, 2.0, (500, 11)).astype(np.float32)
    norm.update(rows)
    out = norm(rows)
    np.testing.assert_array_equal(out[:, [0, 7, 8, 9, 10]], rows[:, [0, 7, 8, 9, 10]])  # categories, bits
    assert abs(out[:, 1:7].mean()) < 0.05 and abs(out[:, 1:7].std() - 1) < 0.05
    assert norm.rms.mean.shape == (6,)
