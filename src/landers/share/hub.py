"""Trained agents on the Hugging Face Hub, through `huggingface_hub` (`landers[hub]`).

`stage` writes the folder a model repository holds: a run directory in miniature that every
landers command reads as it reads a local run (`config.json`, `checkpoints/last/` as the
trainer writes it, `eval.json` of that very checkpoint with the random policy beside it), a
replay video, the ONNX export where one can be made, a model card (`README.md`) with the Hub's
metadata for RL models, and `landers.json`, the SHA-256 of every other file landers wrote.
`push` uploads that folder; `resolve` turns `hf://USER/NAME[@REV]` into the verified snapshot
in huggingface_hub's cache, which `landers.algos.load` then reads like any run.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sys
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from landers.core import checkpoint
from landers.core.files import read_eval, read_json_object
from landers.errors import LandersError, first_line
from landers.share.card import model_card
from landers.version import __version__

SCHEME = "hf://"
MANIFEST = "landers.json"
FORMAT = "landers-hub"
CHECKPOINT = "checkpoints/last"  # where the pushed checkpoint sits: `checkpoint.find` looks there
VIDEO, ONNX, CARD = "replay.mp4", "policy.onnx", "README.md"
# Files a push manages in the repository: one missing from a later push is deleted there, so
# that a stale export or video never sits beside a new checkpoint. Files the user added stay.
MANAGED = [f"{CHECKPOINT}/*", "config.json", "eval.json", VIDEO, ONNX, MANIFEST]


def hf() -> Any:
    """The `huggingface_hub` module, or one sentence on what to install."""
    try:
        import huggingface_hub
    except ImportError:
        raise LandersError("The Hugging Face Hub needs huggingface_hub: pip install 'landers[hub]'.") from None
    return huggingface_hub


def is_hub_path(path: str | Path) -> bool:
    return isinstance(path, str) and path.startswith(SCHEME)


def parse(path: str) -> tuple[str, str | None]:
    """(repo id, revision or None) of `hf://USER/NAME[@REV]`; one sentence if it is malformed."""
    body = path[len(SCHEME):]
    repo_id, _, revision = body.partition("@")
    check_repo_id(repo_id, what=f"'{path}'")
    if "@" in body and not revision:
        raise LandersError(f"'{path}' names no revision after '@' (hf://USER/NAME@REV).")
    return repo_id, revision or None


def check_repo_id(repo_id: str, *, what: str) -> None:
    hf()
    from huggingface_hub.errors import HFValidationError
    from huggingface_hub.utils import validate_repo_id

    try:
        if repo_id.count("/") != 1:
            raise HFValidationError("it must be USER/NAME")
        validate_repo_id(repo_id)
    except HFValidationError as e:
        reason = str(e).strip().splitlines()[0].rstrip(".")
        raise LandersError(f"{what} is not a Hub repository id USER/NAME ({reason}).") from None


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# ---------------------------------------------------------------- loading


def resolve(path: str | Path) -> Path:
    """`path` itself, or for `hf://USER/NAME[@REV]` the repository's snapshot in
    huggingface_hub's cache (downloaded where it is not there), its files checked against
    `landers.json`: a repository that is not a landers agent, or whose files were altered, is
    one sentence."""
    if not is_hub_path(path):
        return Path(path)
    repo_id, revision = parse(str(path))
    folder = download(repo_id, revision, where=f"'{path}'")
    verify(folder, where=f"'{path}'")
    return folder


def download(repo_id: str, revision: str | None, *, where: str) -> Path:
    hub = hf()
    from huggingface_hub import errors

    try:
        return Path(hub.snapshot_download(repo_id, revision=revision, repo_type="model"))
    except errors.RevisionNotFoundError:
        raise LandersError(f"{where}: the repository has no revision '{revision}'.") from None
    except errors.RepositoryNotFoundError:  # gated and private ones included: the Hub says the same
        raise LandersError(f"{where}: no such model repository on the Hub, or it is private and no token "
                           "with access was given (HF_TOKEN or `hf auth login`).") from None
    except errors.LocalEntryNotFoundError:
        from huggingface_hub import constants

        offline = " (HF_HUB_OFFLINE is set)" if constants.HF_HUB_OFFLINE else ""
        raise LandersError(f"{where} is not in huggingface_hub's cache and the Hub cannot be reached{offline}.") \
            from None
    except (errors.HfHubHTTPError, OSError) as e:
        raise LandersError(f"{where} cannot be downloaded: {first_line(e)}.") from None


def verify(folder: Path, *, where: str) -> dict[str, Any]:
    """The manifest of a pushed folder, after checking that every file it lists is there with
    the recorded SHA-256."""
    if not (folder / MANIFEST).is_file():
        raise LandersError(f"{where} is not a landers agent (it has no {MANIFEST}).")
    try:
        manifest = read_json_object(folder / MANIFEST)
    except LandersError:
        raise LandersError(f"{where} is not a landers agent ({MANIFEST} is not a JSON object).") from None
    files = manifest.get("files")
    if manifest.get("format") != FORMAT or not isinstance(files, dict) or f"{CHECKPOINT}/{checkpoint.STATE}" not in files:
        raise LandersError(f"{where} is not a landers agent ({MANIFEST} is not landers' manifest).")
    for name, digest in files.items():
        path = folder / name
        # A name that climbs out of the folder is as altered as a wrong checksum.
        if not isinstance(name, str) or ".." in Path(name).parts or Path(name).is_absolute():
            raise LandersError(f"{where}: {MANIFEST} lists '{name}', which is not a file of the repository.")
        if not path.is_file():
            raise LandersError(f"{where}: '{name}', listed in {MANIFEST}, is missing; the repository is incomplete "
                               "or was altered.")
        if sha256(path) != digest:
            raise LandersError(f"{where}: '{name}' does not match the SHA-256 recorded in {MANIFEST}; the file "
                               "was altered.")
    return manifest


# ---------------------------------------------------------------- pushing


@dataclass(frozen=True)
class Staged:
    folder: Path
    files: list[str]  # relative paths, README.md and landers.json included
    eval: dict
    notes: list[str]  # what could not be included, and why


def _run_dir_of(ckpt: Path) -> Path | None:
    """The run directory a checkpoint directory belongs to, or None for a bare checkpoint."""
    parent = ckpt.parent
    return parent.parent if parent.name == "checkpoints" and (parent.parent / "config.json").is_file() else None


def _name(ckpt: Path) -> str:
    return ckpt.name.removesuffix(".tmp").removesuffix(".old")


def _run_eval(run_dir: Path | None, ckpt: Path, step: int) -> dict | None:
    """The run's eval.json when it evaluated this very checkpoint, with the random policy."""
    if run_dir is None or not (run_dir / "eval.json").is_file():
        return None
    try:
        data = read_eval(run_dir / "eval.json")
    except LandersError:
        return None
    if data.get("checkpoint") != _name(ckpt) or data.get("step") != step or "random" not in data:
        return None
    return data


def _evaluate(agent, state: dict, echo: Callable[[str], None]) -> dict:
    """eval.json for a checkpoint the run did not evaluate: as the trainer's final evaluation."""
    from landers.policy.evaluation import eval_seed, evaluate, evaluate_random

    run = state["run"]
    episodes, seed = int(run.get("final_eval_episodes", 100)), eval_seed(int(run.get("seed", 0)))
    max_steps, backend = run.get("eval_max_steps") or None, run.get("backend", "auto")
    echo(f"evaluating the checkpoint over {episodes} episodes (the run did not evaluate it)")
    result = evaluate(agent, episodes=episodes, seed=seed, backend=backend, max_steps=max_steps)
    random_result = evaluate_random(agent.env, episodes, seed, backend, max_steps=max_steps,
                                    action_space=agent.action_space)
    return {**result.to_json(), "checkpoint": "last", "deterministic": True, "seed": seed,
            "step": state["global_step"], "train_time": state["train_time"], "random": random_result.to_json()}


def _existing_video(run_dir: Path | None, ckpt: Path, step: int) -> Path | None:
    """A video the run holds of this checkpoint's weights: `landers record`'s for it (made
    after it was saved), or the periodic evaluation's at its step."""
    if run_dir is None:
        return None
    videos = run_dir / "videos"
    recorded = videos / f"{_name(ckpt)}.mp4"
    if recorded.is_file() and recorded.stat().st_mtime >= (ckpt / checkpoint.STATE).stat().st_mtime:
        return recorded
    periodic = videos / f"step-{step:09d}.mp4"
    return periodic if periodic.is_file() else None


def stage(source: Path, out: Path, *, repo_id: str, echo: Callable[[str], None] = print) -> Staged:
    """Write into `out` (new or empty) the folder that `push` uploads for the run or checkpoint
    at `source`. Nothing in the run is written; a failure removes what it wrote in `out`."""
    from landers.algos import load

    ckpt = checkpoint.find(source)
    agent = load(ckpt)  # every check a local load makes, before anything is written
    tensors_state = read_json_object(ckpt / checkpoint.STATE)
    out = Path(out)
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise LandersError(f"'{out}' already exists and is not an empty directory; choose a new --out.")
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise LandersError(f"Cannot create '{out}': {e.strerror}.") from None
    try:
        return _fill(out, ckpt, agent, tensors_state, repo_id=repo_id, echo=echo)
    except BaseException:
        shutil.rmtree(out, ignore_errors=True)
        raise


def _fill(out: Path, ckpt: Path, agent, state: dict, *, repo_id: str, echo: Callable[[str], None]) -> Staged:
    run_dir, step, notes = _run_dir_of(ckpt), state["global_step"], []
    target = out / CHECKPOINT
    target.mkdir(parents=True)
    for name in (checkpoint.TENSORS, checkpoint.STATE):  # byte for byte: its own SHA-256 still holds
        shutil.copyfile(ckpt / name, target / name)
    if run_dir is not None:
        shutil.copyfile(run_dir / "config.json", out / "config.json")
    else:
        (out / "config.json").write_text(json.dumps({**state["run"], "versions": state.get("versions", {})},
                                                    indent=2) + "\n")
    result = _run_eval(run_dir, ckpt, step) or _evaluate(agent, state, echo)
    # In the pushed folder this checkpoint is `last`: eval.json names it so, as the trainer would.
    result = {**result, "checkpoint": "last"}
    checkpoint.write_json_atomic(out / "eval.json", result)

    video = _existing_video(run_dir, ckpt, step)
    if video is not None:
        shutil.copyfile(video, out / VIDEO)
    else:
        from landers.policy.evaluation import eval_seed
        from landers.see.video import record

        echo("recording a replay video (the run has none of this checkpoint)")
        try:
            record(agent, out / VIDEO, seed=eval_seed(int(state["run"].get("seed", 0))))
        except LandersError as e:
            notes.append(f"no replay video: {str(e).rstrip('.')}")
    try:
        from landers.export.onnx_export import export

        echo("exporting to ONNX")
        export(agent, out / ONNX, final_eval={k: result[k] for k in ("mean", "std", "episodes", "deterministic",
                                                                     "seed")})
    except LandersError as e:
        notes.append(f"no ONNX export: {str(e).rstrip('.')}")
    for note in notes:
        print(f"warning: {note}.", file=sys.stderr)

    files = sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file())
    card = model_card(state, result, repo_id=repo_id, files=files, notes=notes, manifest=MANIFEST,
                      source=f"checkpoints/{_name(ckpt)}" if run_dir is not None else None)
    card.save(out / CARD)
    # The card is left out: people edit it on the Hub, and it is read by no loader.
    manifest = {"format": FORMAT, "format_version": 1, "algo": state["algo"], "env_id": state["env_id"],
                "checkpoint": CHECKPOINT, "landers_version": __version__,
                "files": {name: sha256(out / name) for name in files}}
    checkpoint.write_json_atomic(out / MANIFEST, manifest)
    return Staged(out, sorted([*files, CARD, MANIFEST]), result, notes)


def push(source: Path, *, repo_id: str, private: bool = False, token: str | None = None,
         out: Path | None = None, dry_run: bool = False, echo: Callable[[str], None] = print) -> tuple[Staged, str | None]:
    """Stage `source` (into `out`, else a temporary folder) and, unless `dry_run`, create or
    update the model repository `repo_id` with it; (the staged folder, the commit's URL)."""
    hub = hf()
    check_repo_id(repo_id, what=f"--repo '{repo_id}'")
    if dry_run and out is None:
        raise LandersError("--dry-run needs --out DIR, where the folder that would be uploaded is written.")
    if not dry_run:  # before the evaluation, video and export that staging may take
        from huggingface_hub import constants

        if constants.HF_HUB_OFFLINE:
            raise LandersError("Cannot push while HF_HUB_OFFLINE is set; use --dry-run --out DIR to write the "
                               "folder instead.")
        if token is None and hub.get_token() is None:
            raise LandersError("Pushing needs a Hugging Face token: --token, HF_TOKEN or `hf auth login`.")
    with tempfile.TemporaryDirectory(prefix="landers-push-") as tmp:
        staged = stage(source, out if out is not None else Path(tmp) / "repo", repo_id=repo_id, echo=echo)
        if dry_run:
            return staged, None
        from huggingface_hub import errors

        api = hub.HfApi(token=token)
        try:
            api.create_repo(repo_id, private=private, exist_ok=True, repo_type="model")
            commit = api.upload_folder(repo_id=repo_id, folder_path=staged.folder, repo_type="model",
                                       commit_message=f"landers push: {staged.eval['mean']:.1f} mean return",
                                       delete_patterns=MANAGED)
        except errors.LocalTokenNotFoundError:
            raise LandersError("Pushing needs a Hugging Face token: --token, HF_TOKEN or `hf auth login`.") from None
        except errors.OfflineModeIsEnabled:
            raise LandersError("Cannot push while HF_HUB_OFFLINE is set; use --dry-run --out DIR to write the "
                               "folder instead.") from None
        except (errors.HfHubHTTPError, OSError, ValueError) as e:
            raise LandersError(f"The Hub refused or could not be reached ({first_line(e)}); nothing was pushed "
                               f"to {repo_id}.") from None
        except Exception as e:  # httpx's connection errors, which huggingface_hub lets through
            if type(e).__module__.split(".")[0] not in ("httpx", "httpx2", "httpcore"):
                raise
            raise LandersError(f"The Hub cannot be reached ({first_line(e)}); nothing was pushed to {repo_id}.") \
                from None
        return staged, getattr(commit, "commit_url", None) or str(commit)

