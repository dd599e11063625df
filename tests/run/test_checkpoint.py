import json
import os
import shutil

import numpy as np
import pytest
import torch

import landers
from conftest import TINY
from landers.core import checkpoint
from landers.errors import LandersError
from landers.run.spec import RunSpec, make_spec
from landers.run.trainer import Trainer


def test_save_load_identical_parameters_optimizer_and_actions(tmp_path):
    spec = make_spec("ppo", "LunarLanderContinuous-v3", steps=512, seed=1, backend="gymnasium",
                     overrides=dict(TINY, norm_obs=True, norm_reward=True))
    run_dir = tmp_path / "run"
    run_dir.mkdir()
    trainer = Trainer(spec, run_dir, quiet=True)
    for _ in range(3):  # a few real updates so optimizer state and normalizers are non-trivial
        rollout = trainer.collector.collect(trainer.state.model)
        trainer.algo.update(trainer.state.model, trainer.state.optimizer, rollout, trainer.cfg, 0.1)
    trainer.state.global_step = trainer.collector.global_step
    trainer.save("last")
    before_tensors, before_meta = trainer.state.tensors()
    trainer.close()

    tensors, meta = checkpoint.read(run_dir / "checkpoints" / "last")
    restored = Trainer(spec, run_dir, from_checkpoint="last", quiet=True)
    after_tensors, after_meta = restored.state.tensors()
    restored.close()
    assert before_tensors.keys() == after_tensors.keys()
    for key, value in before_tensors.items():
        np.testing.assert_array_equal(np.asarray(value), np.asarray(after_tensors[key]), err_msg=key)
    assert before_meta == after_meta

    agent = landers.load(run_dir)
    obs = np.random.default_rng(0).normal(size=(7, 8)).astype(np.float32)
    live = trainer.agent().predict(obs)
    np.testing.assert_array_equal(agent.predict(obs), live)
    assert agent.predict(obs[0]).shape == (2,)


def test_checkpoint_files_are_safetensors_and_json_only(cartpole_run):
    ckpt = cartpole_run / "checkpoints" / "last"
    assert sorted(p.name for p in ckpt.iterdir()) == ["state.json", "tensors.safetensors"]
    json.loads((ckpt / "state.json").read_text())
    for path in cartpole_run.rglob("*"):
        assert path.suffix not in (".pt", ".pth", ".pkl", ".pickle")


def test_interrupted_save_leaves_a_loadable_checkpoint(cartpole_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    last = run / "checkpoints" / "last"
    expected = landers.load(run).predict(np.zeros(4, np.float32))
    # Killed after the old checkpoint was moved aside and before the new one moved in.
    os.replace(last, last.with_name("last.old"))
    shutil.copytree(last.with_name("last.old"), last.with_name("last.tmp"))
    with open(last.with_name("last.tmp") / "tensors.safetensors", "r+b") as f:
        f.seek(100)
        f.write(b"garbage")  # half-written new checkpoint: hash no longer matches
    assert checkpoint.find(run) == last.with_name("last.old")
    assert landers.load(run).predict(np.zeros(4, np.float32)) == expected


def test_corrupt_checkpoint_is_a_clear_error(cartpole_run, tmp_path):
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    (run / "checkpoints" / "last" / "tensors.safetensors").write_bytes(b"not a tensor file")
    with pytest.raises(LandersError, match="missing or corrupt"):
        landers.load(run)


def test_optimizer_state_round_trip():
    model = torch.nn.Linear(3, 2)
    opt = torch.optim.Adam(model.parameters(), lr=0.1)
    model(torch.randn(4, 3)).sum().backward()
    opt.step()
    tensors, meta = checkpoint.optimizer_state(opt)
    meta = json.loads(json.dumps(meta))
    other = torch.optim.Adam(model.parameters(), lr=0.5)
    checkpoint.load_optimizer_state(other, tensors, meta)
    a, b = opt.state_dict(), other.state_dict()
    assert a["param_groups"] == b["param_groups"]
    for pid in a["state"]:
        for key in a["state"][pid]:
            torch.testing.assert_close(a["state"][pid][key], b["state"][pid][key])


def test_runspec_json_round_trip():
    spec = make_spec("ppo", "CartPole-v1", steps=1000, overrides={"hidden_sizes": "32,16"})
    again = RunSpec.from_json(json.loads(json.dumps(spec.to_json())))
    assert again == spec and again.hparams.hidden_sizes == (32, 16)
