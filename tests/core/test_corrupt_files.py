"""Corrupt files get one sentence each: truncated or bit-flipped checkpoints (naming
checkpoints/best when it is whole), config.json and state.json that are not JSON or hold the
wrong types, safetensors with missing or mis-shaped tensors, CSVs with garbage rows. A fuzz
test feeds random bytes and random JSON to every loader and accepts only a clean LandersError."""

import copy
import json
import shutil
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from safetensors.torch import load, save

import landers
from conftest import landers_cli
from landers.algos import get_algo
from landers.core.config import read_preset_file, replace_config
from landers.core.files import read_eval, read_table
from landers.errors import LandersError
from landers.run.rundir import resume
from landers.run.runlog import _truncate_after
from landers.run.spec import read_config
from landers.see.plots import plot_runs, read_csv

PRESET = Path(landers.__file__).parent / "presets" / "ppo-cartpole.json"


def copy_run(cartpole_run, tmp_path) -> Path:
    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    return run


def assert_clean(error: LandersError, *fragments):
    text = str(error)
    assert "\n" not in text and len(text) < 600, text
    for fragment in fragments:
        assert fragment in text, text


def rewrite_tensors(ckpt: Path, change) -> None:
    """Apply `change` to a checkpoint's tensors and record the new file's hash, as a
    checkpoint written by other code (or edited by hand) would be: whole, but wrong."""
    tensors = load((ckpt / "tensors.safetensors").read_bytes())
    change(tensors)
    data = save(tensors)
    (ckpt / "tensors.safetensors").write_bytes(data)
    state = json.loads((ckpt / "state.json").read_text())
    import hashlib

    state["tensors_sha256"] = hashlib.sha256(data).hexdigest()
    (ckpt / "state.json").write_text(json.dumps(state))


@pytest.mark.parametrize("damage", ["truncate", "bitflip"])
def test_a_damaged_last_checkpoint_names_best_and_resume_from_best_works(cartpole_run, tmp_path, damage):
    run = copy_run(cartpole_run, tmp_path)
    tensors = run / "checkpoints" / "last" / "tensors.safetensors"
    data = bytearray(tensors.read_bytes())
    if damage == "truncate":
        data = data[: len(data) // 2]
    else:
        data[len(data) // 2] ^= 0x10
    tensors.write_bytes(bytes(data))
    with pytest.raises(LandersError) as caught:
        landers.load(run)
    assert_clean(caught.value, "missing or corrupt", "does not match the SHA-256",
                 f"'{run}/checkpoints/best' is complete")
    if damage == "bitflip":
        return
    result = landers_cli("train", "--resume", str(run), "--steps", "4096")
    assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
    assert "checkpoints/best' is complete" in result.stderr and "train --resume accept it" in result.stderr
    best_step = json.loads((run / "checkpoints" / "best" / "state.json").read_text())["global_step"]
    done = resume(run / "checkpoints" / "best", steps=best_step + 128, quiet=True)
    assert done.global_step == best_step + 128
    assert landers.load(run).predict(np.zeros(4, np.float32)) in (0, 1)  # last is whole again
    assert json.loads((run / "config.json").read_text())["resumed"][-1]["from"] == "checkpoints/best"


@pytest.mark.parametrize("change, fragments", [
    (lambda t: t.pop("model.actor_head.weight"), ["lacks the tensor 'model.actor_head.weight'"]),
    (lambda t: t.update({"model.actor_head.weight": torch.zeros(3, 64)}),
     ["'model.actor_head.weight' has shape (3, 64)", "needs (2, 64)"]),
])
def test_safetensors_with_missing_or_mis_shaped_tensors(cartpole_run, tmp_path, change, fragments):
    run = copy_run(cartpole_run, tmp_path)
    rewrite_tensors(run / "checkpoints" / "last", change)
    with pytest.raises(LandersError) as caught:
        landers.load(run)
    assert_clean(caught.value, *fragments)
    with pytest.raises(LandersError) as caught:  # resuming reads it through the trainer's state
        resume(run, quiet=True)
    assert_clean(caught.value, *fragments)


def test_mis_shaped_optimizer_moments_are_named_before_training(cartpole_run, tmp_path):
    run = copy_run(cartpole_run, tmp_path)
    rewrite_tensors(run / "checkpoints" / "last", lambda t: t.update({"optim.0.exp_avg": torch.zeros(5)}))
    with pytest.raises(LandersError) as caught:
        resume(run, quiet=True)
    assert_clean(caught.value, "does not fit this run", "optim.0.exp_avg")


@pytest.mark.parametrize("text, fragments", [
    ("{ truncated", ["not valid JSON", "corrupt"]),
    ('["a", "list"]', ["corrupt", "list"]),
    ('{"algo": "ppo", "env_id": "CartPole-v1", "steps": "many", "hparams": {}}', ["'steps' should be int"]),
    ('{"algo": "ppo", "env_id": "CartPole-v1", "hparams": {"lr": [1, 2]}}', ["'lr' should be float"]),
    ('{"algo": "ppo", "env_id": "CartPole-v1", "hparams": {"num_envs": 0}}', ["num_envs=0 must be positive"]),
])
def test_a_corrupt_config_json_is_one_sentence_for_resume_plot_and_report(cartpole_run, tmp_path, text, fragments):
    run = copy_run(cartpole_run, tmp_path)
    (run / "config.json").write_text(text)
    for call in (lambda: resume(run, quiet=True), lambda: read_config(run / "config.json")):
        with pytest.raises(LandersError) as caught:
            call()
        assert_clean(caught.value, *fragments)
    if text.startswith("{ "):
        for args in (["plot", str(run)], ["report", str(run)]):
            result = landers_cli(*args)
            assert result.returncode == 2 and len(result.stderr.strip().splitlines()) == 1, result.stderr
            assert "not valid JSON" in result.stderr


def test_state_json_with_wrong_types(cartpole_run, tmp_path):
    run = copy_run(cartpole_run, tmp_path)
    path = run / "checkpoints" / "last" / "state.json"
    state = json.loads(path.read_text())
    state["global_step"] = "2048"  # the hash covers the tensors only: the file is "complete"
    path.write_text(json.dumps(state))
    with pytest.raises(LandersError) as caught:
        landers.load(run)
    assert_clean(caught.value, "state.json' is corrupt", "'global_step' should be int")


def test_csvs_with_garbage_rows_and_a_torn_line_are_skipped_and_counted(cartpole_run, tmp_path, capsys):
    run = copy_run(cartpole_run, tmp_path)
    metrics = run / "metrics.csv"
    good = metrics.read_text()
    n = len(good.strip().splitlines()) - 1
    metrics.write_text(good + "garbage,row\n\x00\x01\n" + good.splitlines()[1] + "\n" + "4096,1.5,12")
    columns = read_csv(metrics)
    assert len(columns["step"]) == n + 1  # the duplicated whole row stays; 3 lines are skipped
    assert "skipped 3 unreadable lines" in capsys.readouterr().err
    plot_runs([run], tmp_path / "plot.png")  # draws from the rows that are whole
    # resuming drops them (and rows after the checkpoint) before appending
    _truncate_after(metrics, 10**9)
    header, rows, dropped = read_table(metrics)
    assert dropped == 0 and len(rows) == n + 1 and metrics.read_text().startswith(good)


# ------------------------------------------------------------------------------------ fuzz

JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**40), 2**40) | st.floats() | st.text(max_size=12),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12)
FUZZ = settings(max_examples=40, deadline=None, database=None,
                suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow])


def paths(data, prefix=()):
    """Every key path into nested dicts of `data`."""
    for key, value in data.items():
        yield prefix + (key,)
        if isinstance(value, dict):
            yield from paths(value, prefix + (key,))


# Values next to the valid ones, where loaders tend to be wrong: zero, negatives, empties, extremes.
EDGES = st.integers(-3, 3) | st.sampled_from([[], {}, "", None, True, 1e308, -1e308, float("nan"), 2**40, [2**40]])


@st.composite
def mutations(draw, valid: dict):
    """`valid` with one to three values replaced by random or edge JSON values, or removed."""
    data = copy.deepcopy(valid)
    for _ in range(draw(st.integers(1, 3))):
        path = draw(st.sampled_from(sorted(paths(data))))
        parent = data
        for key in path[:-1]:
            parent = parent[key]
        if draw(st.integers(0, 4)):
            parent[path[-1]] = draw(JSON | EDGES)
        else:
            del parent[path[-1]]
    return data


def contents(valid: dict):
    """Random bytes, random JSON, or `valid` mutated in one place, as file contents."""
    return st.one_of(st.binary(max_size=200), JSON.map(json.dumps),
                     mutations(valid).map(json.dumps), mutations(valid).map(json.dumps))


def only_clean_errors(load, *args) -> None:
    try:
        load(*args)
    except LandersError as e:
        assert_clean(e)


def as_bytes(text) -> bytes:
    return text if isinstance(text, bytes) else text.encode()


@pytest.fixture(scope="module")
def fuzz_run(tmp_path_factory, cartpole_run) -> Path:
    return Path(shutil.copytree(cartpole_run, tmp_path_factory.mktemp("fuzz") / "run"))


def fuzz_file(name: str, valid: dict, load) -> None:
    """Feed `load(path)` a file `name` holding random bytes, random JSON or `valid` mutated."""
    @FUZZ
    @given(contents(valid))
    def check(text):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / name
            path.write_bytes(as_bytes(text))
            only_clean_errors(load, path)

    check()


def test_fuzz_config_json(fuzz_run):
    fuzz_file("config.json", json.loads((fuzz_run / "config.json").read_text()), read_config)


def test_fuzz_eval_json(fuzz_run):
    fuzz_file("eval.json", json.loads((fuzz_run / "eval.json").read_text()), read_eval)


def test_fuzz_preset_files():
    def load_preset(path):
        preset = read_preset_file(path)  # what --preset FILE reads
        replace_config(get_algo(preset.algo).Config(), preset.hparams)  # as make_spec applies it

    fuzz_file("preset.json", json.loads(PRESET.read_text()), load_preset)


def test_fuzz_state_json(fuzz_run):
    """In place, in a whole checkpoint: a mutated state.json keeps the tensors' hash, so the
    loader gets past the hash check to the fields themselves."""
    path = fuzz_run / "checkpoints" / "last" / "state.json"
    original = path.read_bytes()

    @FUZZ
    @given(contents(json.loads(original)))
    def check(text):
        path.write_bytes(as_bytes(text))
        only_clean_errors(landers.load, fuzz_run / "checkpoints" / "last")

    try:
        check()
    finally:
        path.write_bytes(original)


def test_fuzz_csvs(fuzz_run):
    good = (fuzz_run / "metrics.csv").read_text()
    lines = st.lists(st.sampled_from(good.splitlines()) | st.text(max_size=40), max_size=8)

    @FUZZ
    @given(st.binary(max_size=300) | lines.map("\n".join) | lines.map(lambda ls: good + "\n".join(ls)))
    def check(data):
        with tempfile.TemporaryDirectory() as d:
            path = Path(d) / "metrics.csv"
            path.write_bytes(as_bytes(data))
            columns = read_csv(path)
            assert not columns or all(len(v) == len(columns["step"]) for v in columns.values())
            only_clean_errors(_truncate_after, path, 10**9)
            assert read_table(path)[2] == 0  # what resume leaves holds whole rows only

    check()
