"""`landers report`: one self-contained HTML file (images and video embedded as data URIs, no
network needed) for a run or a comparison directory."""

from __future__ import annotations

import base64
import csv
import html
import json
import os
from pathlib import Path

from landers.core.files import read_eval, read_json_object
from landers.core.lock import lock_run_of
from landers.errors import LandersError

STYLE = """
body { font-family: system-ui, sans-serif; max-width: 1100px; margin: 2em auto; padding: 0 1em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; } td, th { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f3f3f3; } td:first-child, th:first-child { text-align: left; }
img, video { max-width: 100%; border: 1px solid #ddd; } .muted { color: #777; font-size: 0.9em; }
"""


def data_uri(path: Path, mime: str) -> str:
    """A file embedded in the page (no network, one file to share)."""
    return f"data:{mime};base64,{base64.b64encode(Path(path).read_bytes()).decode()}"


def table(header: list[str], rows: list[list], table_id: str = "") -> str:
    """An HTML table, every cell escaped."""
    head = "".join(f"<th>{html.escape(str(h))}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(str(c))}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table id="{table_id}"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'


def _eval_row(name: str, result: dict) -> list:
    returns = result["returns"]
    return [name, f"{result['mean']:.2f}", f"{result['std']:.2f}", f"{min(returns):.1f}", f"{max(returns):.1f}",
            result["episodes"]]


def run_section(run_dir: Path) -> str:
    """Configuration, versions, evaluation beside the random policy, plots and a video."""
    from landers.algos import load
    from landers.see.plots import plot_runs
    from landers.see.video import record

    config = read_json_object(run_dir / "config.json")
    if not all(isinstance(config.get(k), str) for k in ("algo", "env_id")):
        raise LandersError(f"'{run_dir / 'config.json'}' is corrupt: it names no algorithm and env.")
    parts = [f"<h1>{html.escape(config['algo'])} on {html.escape(config['env_id'])}</h1>",
             f'<p class="muted">{html.escape(str(run_dir))}</p>']
    eval_path = run_dir / "eval.json"
    if eval_path.exists():
        result = read_eval(eval_path)
        rows = [_eval_row("trained agent (deterministic)", result)]
        if "random" in result:
            rows.append(_eval_row("random policy", result["random"]))
        parts += ["<h2>Evaluation</h2>",
                  f"<p>{result['episodes']} episodes on fresh envs (seed {result.get('seed')}), after "
                  f"{result.get('step', 0):,} training steps and {result.get('train_time', 0):.1f} s of training.</p>",
                  table(["policy", "mean return", "std", "min", "max", "episodes"], rows, "evaluation")]
    else:
        parts.append("<p>No final evaluation yet (eval.json is missing): the run has not finished.</p>")
    plot_png = run_dir / "plots.png"
    plot_runs([run_dir], plot_png)
    parts += ["<h2>Learning curves and diagnostics</h2>", f'<img id="plots" alt="learning curves" src="{data_uri(plot_png, "image/png")}">']
    video = run_dir / "videos" / "report.mp4"
    try:
        record(load(run_dir), video, episodes=1, seed=config.get("seed", 0) + 20_000)
        parts += ["<h2>The agent</h2>", f'<video id="video" controls muted src="{data_uri(video, "video/mp4")}"></video>']
    except LandersError as e:  # e.g. an env that cannot render: the report goes on without a video
        parts += ["<h2>The agent</h2>", f"<p>No video: {html.escape(str(e))}</p>"]
    hparams = config.pop("hparams", {})
    versions = config.pop("versions", {})
    parts += ["<h2>Configuration</h2>", table(["hyperparameter", "value"], sorted(hparams.items()), "hparams"),
              table(["run option", "value"], sorted((k, v) for k, v in config.items()), "options"),
              "<h2>Versions</h2>", table(["package", "version"], sorted(versions.items()), "versions")]
    return "\n".join(parts)


def comparison_section(out_dir: Path) -> str:
    with (out_dir / "comparison.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    fmt = lambda v: v if v in ("", None) else f"{float(v):,.1f}"  # noqa: E731
    results = table(["algorithm", "seeds", "mean", "std", "IQM", "IQM 95% CI", "seeds solving",
                    "median steps to threshold", "median training s to threshold"],
                   [[r["algo"], r["seeds"], fmt(r["mean"]), fmt(r["std"]), fmt(r["iqm"]),
                     f"[{fmt(r['iqm_ci_low'])}, {fmt(r['iqm_ci_high'])}]", f"{r['solved']}/{r['seeds']}",
                     fmt(r["median_steps_to_threshold"]) or "-", fmt(r["median_time_to_threshold"]) or "-"]
                    for r in rows], "evaluation")
    images = "".join(f'<h2>Episodic return against {x}</h2><img alt="curves {x}" src="{data_uri(out_dir / f"curves_{x}.png", "image/png")}">'
                     for x in ("steps", "time") if (out_dir / f"curves_{x}.png").exists())
    return (f"<h1>Comparison: {html.escape(out_dir.name)}</h1><h2>Final evaluation (100 episodes per seed)</h2>"
            f"{results}{images}")


def study_section(out_dir: Path) -> str:
    """A `landers tune` study: the best configuration with its evidence, every trial, the search plot."""
    with (out_dir / "trials.csv").open(newline="") as f:
        rows = list(csv.DictReader(f))
    parts = [f"<h1>Hyperparameter study: {html.escape(out_dir.name)}</h1>"]
    best_path = out_dir / "best.json"
    if best_path.exists():
        best = json.loads(best_path.read_text())
        parts += [f"<h2>Best configuration</h2><p>{html.escape(best['description'])}</p>",
                  f"<p class='muted'>{html.escape(best['results']['summary'])}. Train with it: "
                  f"<code>landers train {html.escape(best['algo'])} {html.escape(str(best['env_id']))} "
                  f"--preset {html.escape(str(best_path))}</code></p>",
                  table(["hyperparameter", "value"], [[k, v] for k, v in best["hparams"].items()], "best")]
    else:
        parts.append("<p>No trial has completed yet.</p>")
    if (out_dir / "tune.png").exists():
        parts.append(f'<h2>Search</h2><img alt="search" src="{data_uri(out_dir / "tune.png", "image/png")}">')
    if rows:
        parts += ["<h2>Trials</h2>", table(list(rows[0]), [list(r.values()) for r in rows], "trials")]
    return "".join(parts)


def write_report(target: Path, out: Path | None = None) -> Path:
    target = Path(target)
    out = Path(out) if out is not None else target / "report.html"
    with lock_run_of(target):  # it draws plots and a video into the run as well
        return _write_report(target, out)


def _write_report(target: Path, out: Path) -> Path:
    if (target / "trials.csv").exists():
        body = study_section(target)
    elif (target / "comparison.csv").exists():
        body = comparison_section(target)
    elif (target / "config.json").exists():
        body = run_section(target)
    else:
        raise LandersError(f"'{target}' is not a run, comparison or tuning-study directory.")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>landers report</title>"
            f"<style>{STYLE}</style></head><body>{body}</body></html>")
    try:
        tmp = out.with_name(f".{out.name}.tmp")
        tmp.write_text(page)
        os.replace(tmp, out)
    except OSError as e:
        raise LandersError(f"Cannot write the report to '{out}': {e.strerror}.") from None
    return out
