"""Hugging Face Hub: the folder `landers push --dry-run` writes, checked file by file, and
`hf://` loading through huggingface_hub itself reading that folder from its cache, offline.
No test touches the network."""

import hashlib
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import yaml

import landers
from conftest import landers_cli, landers_in_process

huggingface_hub = pytest.importorskip("huggingface_hub")

REPO = "alice/ppo-cartpole"
EXPECTED_FILES = {"README.md", "landers.json", "config.json", "eval.json", "policy.onnx", "replay.mp4",
                  "checkpoints/last/state.json", "checkpoints/last/tensors.safetensors"}


def one_sentence(result, *fragments, code=2):
    assert result.returncode == code, (result.returncode, result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), result.stderr
    for fragment in fragments:
        assert fragment in lines[0], lines[0]


def tree(path: Path) -> dict[str, bytes]:
    return {p.relative_to(path).as_posix(): p.read_bytes() for p in sorted(path.rglob("*")) if p.is_file()}


def place_in_cache(folder: Path, cache: Path, repo_id: str, *, refs=("main",)) -> str:
    """Lay `folder` out as huggingface_hub's cache holds a downloaded snapshot (its documented
    layout, guides/manage-cache): files stored once under blobs/, the commit's snapshot folder
    of links to them, and refs/<branch> naming the commit. Returns the commit hash."""
    repo = cache / f"models--{repo_id.replace('/', '--')}"
    files = sorted(p for p in folder.rglob("*") if p.is_file())
    commit = hashlib.sha1(b"".join(p.relative_to(folder).as_posix().encode() + p.read_bytes()
                                   for p in files)).hexdigest()
    for path in files:
        data = path.read_bytes()
        blob = repo / "blobs" / hashlib.sha256(data).hexdigest()
        blob.parent.mkdir(parents=True, exist_ok=True)
        blob.write_bytes(data)
        link = repo / "snapshots" / commit / path.relative_to(folder)
        link.parent.mkdir(parents=True, exist_ok=True)
        link.symlink_to(os.path.relpath(blob, link.parent))
    for ref in refs:
        (repo / "refs").mkdir(parents=True, exist_ok=True)
        (repo / "refs" / ref).write_text(commit)
    return commit


@pytest.fixture(scope="module")
def pushed(cartpole_run, tmp_path_factory):
    """The folder `landers push --dry-run` writes for the shared CartPole run."""
    out = tmp_path_factory.mktemp("push") / "repo"
    before = tree(cartpole_run)
    result = landers_in_process("push", str(cartpole_run), "--repo", REPO, "--dry-run", "--out", str(out))
    assert result.returncode == 0, result.stderr
    assert "dry run: nothing uploaded" in result.stdout
    assert tree(cartpole_run) == before  # pushing writes nothing into the run
    return out


@pytest.fixture
def hf_env(tmp_path):
    """Environment of a landers process whose huggingface_hub uses a cache in tmp_path, offline."""
    home = tmp_path / "hf"
    env = dict(os.environ, HF_HUB_OFFLINE="1", HF_HOME=str(home), HF_HUB_CACHE=str(home / "hub"))
    env.pop("HF_TOKEN", None)
    # absolute, for a process started in another directory
    env["PYTHONPATH"] = os.pathsep.join(str(Path(p).resolve()) for p in env.get("PYTHONPATH", "").split(os.pathsep) if p)
    return env


def test_dry_run_writes_the_checkpoint_eval_video_export_and_card(pushed, cartpole_run):
    files = tree(pushed)
    assert set(files) == EXPECTED_FILES
    for name in ("checkpoints/last/state.json", "checkpoints/last/tensors.safetensors", "config.json"):
        source = cartpole_run / ("checkpoints/last/" + name.split("/")[-1] if "/" in name else name)
        assert files[name] == source.read_bytes(), name  # byte for byte, as landers wrote it
    assert not any(name.endswith((".pt", ".pkl", ".pickle", ".bin")) for name in files)
    run_eval, pushed_eval = (json.loads((d / "eval.json").read_text()) for d in (cartpole_run, pushed))
    assert pushed_eval == run_eval  # the run evaluated this very checkpoint: its evaluation is kept

    manifest = json.loads(files["landers.json"])
    assert manifest["algo"] == "ppo" and manifest["env_id"] == "CartPole-v1"
    assert set(manifest["files"]) == EXPECTED_FILES - {"README.md", "landers.json"}
    for name, digest in manifest["files"].items():
        assert hashlib.sha256(files[name]).hexdigest() == digest

    import imageio.v3 as iio
    import onnxruntime

    frames = np.stack(list(iio.imiter(pushed / "replay.mp4")))
    assert frames.shape[1:3] == (400, 600) and len(frames) > 5
    session = onnxruntime.InferenceSession(str(pushed / "policy.onnx"), providers=["CPUExecutionProvider"])
    agent = landers.load(cartpole_run)
    obs = np.random.default_rng(0).uniform(-0.2, 0.2, (32, 4)).astype(np.float32)
    onnx_actions = session.run(None, {session.get_inputs()[0].name: obs})[0]
    np.testing.assert_array_equal(onnx_actions.reshape(-1), agent.predict(obs))


def test_model_card_holds_the_hubs_rl_metadata_and_says_how_to_load(pushed):
    text = (pushed / "README.md").read_text()
    assert text.startswith("---\n")
    meta = yaml.safe_load(text.split("---\n")[1])
    ev = json.loads((pushed / "eval.json").read_text())
    assert meta["library_name"] == "landers"
    assert {"reinforcement-learning", "CartPole-v1", "ppo"} <= set(meta["tags"])
    result = meta["model-index"][0]["results"][0]
    assert result["task"]["type"] == "reinforcement-learning"
    assert result["dataset"]["type"] == result["dataset"]["name"] == "CartPole-v1"
    metric = result["metrics"][0]
    assert metric["type"] == "mean_reward"
    assert metric["value"] == f"{ev['mean']:.2f} +/- {ev['std']:.2f}"
    # huggingface_hub reads the same card back into its own evaluation results
    card = huggingface_hub.ModelCard.load(pushed / "README.md")
    assert card.data.eval_results[0].metric_value == metric["value"]
    body = text.split("---\n", 2)[2]
    for fragment in (f"{ev['random']['mean']:.2f}", str(ev["seed"]),
                     f"{ev['episodes']} whole episodes", "landers train ppo CartPole-v1",
                     f'landers.load("hf://{REPO}")', f"landers eval hf://{REPO}"):
        assert fragment in body, fragment


def test_dry_run_refuses_a_used_out_and_a_bad_repo_id(cartpole_run, tmp_path):
    used = tmp_path / "used"
    used.mkdir()
    (used / "mine.txt").write_text("keep")
    one_sentence(landers_in_process("push", str(cartpole_run), "--repo", REPO, "--dry-run", "--out", str(used)),
                 "not an empty directory")
    assert tree(used) == {"mine.txt": b"keep"}
    one_sentence(landers_in_process("push", str(cartpole_run), "--repo", "no-user", "--dry-run", "--out",
                                    str(tmp_path / "o")), "USER/NAME")
    one_sentence(landers_in_process("push", str(cartpole_run), "--repo", REPO, "--dry-run"), "--out")
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # an evaluation, a video and an export: 6.5 s at load 5
def test_a_checkpoint_the_run_did_not_evaluate_is_evaluated_with_the_random_baseline(cartpole_run, tmp_path):
    from landers.share.hub import stage

    staged = stage(cartpole_run / "checkpoints" / "best", tmp_path / "repo", repo_id=REPO, echo=lambda _: None)
    ev = json.loads((tmp_path / "repo" / "eval.json").read_text())
    state = json.loads((cartpole_run / "checkpoints" / "best" / "state.json").read_text())
    assert ev["step"] == state["global_step"] and ev["checkpoint"] == "last"
    config = json.loads((cartpole_run / "config.json").read_text())
    assert ev["episodes"] == len(ev["returns"]) == config["final_eval_episodes"]
    agent = landers.load(cartpole_run / "checkpoints" / "best")
    again = landers.evaluate(agent, episodes=ev["episodes"], seed=ev["seed"], backend="gymnasium")
    assert again.returns == ev["returns"]
    assert ev["random"]["episodes"] == ev["episodes"]
    assert "checkpoints/best" in (tmp_path / "repo" / "README.md").read_text()
    assert staged.eval == ev


def test_cache_layout_is_what_huggingface_hub_reads(pushed, tmp_path):
    commit = place_in_cache(pushed, tmp_path / "hub", REPO)
    info = huggingface_hub.scan_cache_dir(tmp_path / "hub")
    (repo,) = info.repos
    assert repo.repo_id == REPO and {r.commit_hash for r in repo.revisions} == {commit}
    assert {f.file_name for r in repo.revisions for f in r.files} == {Path(n).name for n in EXPECTED_FILES}


@pytest.mark.slow  # six landers processes: 66 s at load 5
def test_eval_export_and_record_of_hf_path_read_the_cache_offline(pushed, cartpole_run, hf_env, tmp_path):
    commit = place_in_cache(pushed, Path(hf_env["HF_HUB_CACHE"]), REPO, refs=("main", "v1"))
    ev = json.loads((pushed / "eval.json").read_text())
    for rev in ("", f"@{commit}", "@v1"):
        result = landers_cli("eval", f"hf://{REPO}{rev}", "--episodes", str(ev["episodes"]), "--backend",
                             "gymnasium", "--json", env=hf_env)
        assert result.returncode == 0, result.stderr
        assert json.loads(result.stdout)["returns"] == ev["returns"]  # the same agent, the same episodes

    result = landers_cli("export", f"hf://{REPO}", "--out", str(tmp_path / "p.onnx"), env=hf_env)
    assert result.returncode == 0, result.stderr
    import onnx

    meta = {p.key: p.value for p in onnx.load(str(tmp_path / "p.onnx")).metadata_props}
    assert json.loads(meta["final_eval"])["mean"] == ev["mean"]  # the snapshot's eval.json is its own

    result = landers_cli("record", f"hf://{REPO}", "--format", "gif", env=hf_env, cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    assert (tmp_path / "ppo-cartpole.gif").stat().st_size > 0
    # play resolves hf:// as the others do: here it gets as far as asking for a display
    headless = {k: v for k, v in hf_env.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    one_sentence(landers_cli("play", f"hf://{REPO}", env=headless), "No display", "landers record")
    snapshot = Path(hf_env["HF_HUB_CACHE"]) / f"models--{REPO.replace('/', '--')}" / "snapshots" / commit
    assert set(tree(snapshot)) == EXPECTED_FILES  # nothing written into the cache


@pytest.mark.slow  # a process of its own (huggingface_hub reads HF_HUB_* at import): 9 s
def test_landers_load_of_hf_path_gives_the_same_agent(pushed, cartpole_run, hf_env):
    place_in_cache(pushed, Path(hf_env["HF_HUB_CACHE"]), REPO)
    script = (
        "import landers, torch\n"
        f"hub, local = landers.load('hf://{REPO}'), landers.load({str(cartpole_run)!r})\n"
        "a, b = hub.model.state_dict(), local.model.state_dict()\n"
        "assert a.keys() == b.keys() and all(torch.equal(a[k], b[k]) for k in a)\n"
        "print(hub.env_id, hub.info['global_step'])\n")
    import subprocess
    import sys

    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=hf_env, timeout=120)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["CartPole-v1", str(json.loads((pushed / "eval.json").read_text())["step"])]


@pytest.fixture
def offline_cache(monkeypatch, tmp_path):
    """This process's huggingface_hub reading a cache in tmp_path, offline (its settings are
    read from the environment once, at import)."""
    from huggingface_hub import constants

    cache = tmp_path / "hub"
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(cache))
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    return cache


def test_altered_or_missing_files_are_one_sentence(pushed, offline_cache, tmp_path):
    from landers.errors import LandersError

    for name in ("checkpoints/last/state.json", "checkpoints/last/tensors.safetensors", "config.json"):
        altered = tmp_path / f"altered-{Path(name).stem}"
        shutil.copytree(pushed, altered)
        data = bytearray((altered / name).read_bytes())
        data[-2] ^= 1
        (altered / name).write_bytes(bytes(data))
        repo = f"alice/{altered.name}"
        place_in_cache(altered, offline_cache, repo)
        with pytest.raises(LandersError, match=f"'{name}' does not match the SHA-256"):
            landers.load(f"hf://{repo}")
    missing = tmp_path / "missing"
    shutil.copytree(pushed, missing)
    (missing / "policy.onnx").unlink()
    place_in_cache(missing, offline_cache, "alice/missing")
    with pytest.raises(LandersError, match="'policy.onnx', listed in landers.json, is missing"):
        landers.load("hf://alice/missing")


def test_a_repository_that_is_not_a_landers_agent_is_one_sentence(offline_cache, tmp_path):
    from landers.errors import LandersError

    other = tmp_path / "other"
    other.mkdir()
    (other / "README.md").write_text("---\nlibrary_name: stable-baselines3\n---\n")
    (other / "config.json").write_text("{}")
    place_in_cache(other, offline_cache, "bob/sb3-agent")
    with pytest.raises(LandersError, match="'hf://bob/sb3-agent' is not a landers agent"):
        landers.load("hf://bob/sb3-agent")
    (other / "landers.json").write_text('{"files": []}')
    place_in_cache(other, offline_cache, "bob/fake")
    with pytest.raises(LandersError, match="is not a landers agent"):
        landers.load("hf://bob/fake")


def test_bad_hf_paths_are_one_sentence(pushed, offline_cache):
    from landers.errors import LandersError

    place_in_cache(pushed, offline_cache, REPO)
    for path, message in ((f"hf://{REPO}@nope", "not in huggingface_hub's cache"),
                          ("hf://nobody/nothing", "not in huggingface_hub's cache and the Hub cannot be reached "
                                                  "(HF_HUB_OFFLINE is set)"),
                          ("hf://just-a-name", "not a Hub repository id USER/NAME"),
                          ("hf://a/b/c", "not a Hub repository id USER/NAME"),
                          (f"hf://{REPO}@", "names no revision"),
                          ("hf://al ice/x", "not a Hub repository id")):
        with pytest.raises(LandersError, match=message.replace("(", r"\(").replace(")", r"\)")):
            landers.load(path)


def test_cli_error_on_an_hf_path_is_one_sentence(offline_cache):
    one_sentence(landers_in_process("eval", "hf://nobody/nothing"), "not in huggingface_hub's cache")


def test_push_offline_or_without_a_token_is_one_sentence_before_any_work(cartpole_run, offline_cache, monkeypatch,
                                                                        tmp_path):
    from huggingface_hub import constants

    one_sentence(landers_in_process("push", str(cartpole_run), "--repo", REPO, "--token", "hf_x"),
                 "HF_HUB_OFFLINE", "--dry-run")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)  # no token is found before any request is made
    monkeypatch.delenv("HF_TOKEN", raising=False)
    monkeypatch.setattr(constants, "HF_TOKEN_PATH", str(tmp_path / "no-token"))
    monkeypatch.setattr(constants, "HF_STORED_TOKENS_PATH", str(tmp_path / "no-tokens"))
    one_sentence(landers_in_process("push", str(cartpole_run), "--repo", REPO), "token", "HF_TOKEN")


def test_without_huggingface_hub_push_and_hf_paths_say_how_to_install_it(monkeypatch, cartpole_run, tmp_path):
    import sys

    from landers.errors import LandersError
    from landers.share import hub

    monkeypatch.setitem(sys.modules, "huggingface_hub", None)  # what `import` meets when it is not installed
    for attempt in (lambda: hub.push(cartpole_run, repo_id=REPO, dry_run=True, out=tmp_path / "o"),
                    lambda: landers.load(f"hf://{REPO}")):
        with pytest.raises(LandersError, match=r"needs huggingface_hub: pip install 'landers\[hub\]'"):
            attempt()
    assert not (tmp_path / "o").exists()


@pytest.mark.slow  # two stagings, one recording a video: 8.6 s
def test_the_runs_own_video_of_the_checkpoint_is_pushed_and_an_older_one_is_not(cartpole_run, tmp_path):
    from landers.share.hub import stage

    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    videos = run / "videos"
    videos.mkdir(exist_ok=True)
    (videos / "last.mp4").write_bytes(b"the run's own video of checkpoints/last")
    stage(run, tmp_path / "a", repo_id=REPO, echo=lambda _: None)
    assert (tmp_path / "a" / "replay.mp4").read_bytes() == b"the run's own video of checkpoints/last"
    saved = (run / "checkpoints" / "last" / "state.json").stat().st_mtime
    os.utime(videos / "last.mp4", (saved - 60, saved - 60))  # recorded before the checkpoint it names: stale
    stage(run, tmp_path / "b", repo_id=REPO, echo=lambda _: None)
    assert (tmp_path / "b" / "replay.mp4").read_bytes()[4:8] == b"ftyp"  # recorded anew, an MP4
