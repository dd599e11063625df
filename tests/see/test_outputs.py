"""Videos, plots and the HTML report (the browser test needs Chromium and ChromeDriver)."""

import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest

import landers
from conftest import headless_chrome, landers_cli, landers_in_process
from landers.see.video import record

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"


@pytest.mark.parametrize("fmt", ["mp4", "gif"])
def test_video_decodes_with_expected_frames_and_size(cartpole_run, tmp_path, fmt, monkeypatch):
    import imageio.v3 as iio

    # With a display, recording leaves SDL's driver alone: a window opened later in the same
    # process must still find the display (rgb_array frames need none either way).
    monkeypatch.setenv("DISPLAY", ":97")
    monkeypatch.delenv("SDL_VIDEODRIVER", raising=False)
    agent = landers.load(cartpole_run)
    out = tmp_path / f"v.{fmt}"
    result = record(agent, out, episodes=2, seed=5)
    frames = iio.imread(out, index=None) if fmt == "gif" else np.stack(list(iio.imiter(out)))
    # one frame per step plus the first (reset) frame, per episode; CartPole renders 400x600
    expected = sum(landers.evaluate(agent, episodes=1, seed=s, backend="gymnasium").lengths[0] + 1 for s in (5, 6))
    assert result["frames"] == expected == len(frames)
    assert "SDL_VIDEODRIVER" not in os.environ
    assert frames.shape[1:3] == (400, 600)
    # the overlay is drawn: the top-left corner is the dark text box, not the white background
    assert (frames[0][:20, :40] < 60).mean() > 0.5


def test_plot_contains_the_expected_series(cartpole_run, tmp_path):
    result = landers_cli("plot", str(cartpole_run), "--out", str(tmp_path / "p.svg"), "--x", "time")
    assert result.returncode == 0, result.stderr
    svg = (tmp_path / "p.svg").read_text()
    for series in ("episodic return", "policy_loss", "value_loss", "entropy", "approx_kl", "clipfrac",
                   "explained_variance", "sps", "ppo CartPole-v1", "training time"):
        assert series in svg, series
    assert (tmp_path / "p.png").stat().st_size > 10_000


def test_plot_of_several_seeds_draws_a_band(cartpole_run, tmp_path):
    import landers.see.plots as plots

    other = tmp_path / "other"
    shutil.copytree(cartpole_run, other)
    with (other / "episodes.csv").open("a") as f:  # make the second seed differ
        f.write("2048,1.0,200.0,200\n")
    groups = {"x": [plots.read_csv(cartpole_run / "episodes.csv"), plots.read_csv(other / "episodes.csv")]}
    grid, mean, low, high = plots.curve_band(groups["x"], "step")
    assert (low <= mean + 1e-9).all() and (mean <= high + 1e-9).all()
    assert landers_cli("plot", str(cartpole_run), str(other), "--out", str(tmp_path / "b.png")).returncode == 0


def test_output_bad_inputs(cartpole_run, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    (empty / "config.json").write_text(json.dumps({"algo": "ppo"}))
    for args, fragment in [
        (["record", str(empty)], "has no checkpoint yet"),
        (["record", str(cartpole_run), "--out", "/proc/nope/v.mp4"], "Cannot write a video"),
        (["record", str(cartpole_run), "--format", "avi"], "Unknown video format"),
        (["plot", str(tmp_path / "missing")], "not a landers run directory"),
        (["plot", str(cartpole_run), "--out", "/proc/nope/p.png"], "Cannot write the plot"),
        (["report", str(tmp_path)], "is not a run, comparison or tuning-study directory"),
        (["report", str(cartpole_run), "--out", "/proc/nope/r.html"], "Cannot write the report"),
    ]:
        result = landers_in_process(*args)
        assert result.returncode == 2, (args, result.stderr)
        assert fragment in result.stderr and "Traceback" not in result.stderr, (args, result.stderr)


@pytest.mark.slow  # two landers processes: ~12 s at load 12
def test_env_that_cannot_render(tmp_path):
    run = tmp_path / "run"
    result = landers_cli("train", "ppo", "tests.fake_envs:NoRender-v0", "--steps", "256", "--run-dir", str(run),
                         "--quiet", "--set", "final_eval_episodes=2", "--envs", "2",
                         cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 0, result.stderr
    result = landers_cli("record", str(run), cwd=Path(__file__).resolve().parents[2])
    assert result.returncode == 2 and "cannot render frames" in result.stderr and "Traceback" not in result.stderr



@pytest.mark.slow  # a headless Chromium: ~14 s at load 12
def test_report_in_a_real_browser(cartpole_run, tmp_path):
    import time

    run = tmp_path / "run"
    shutil.copytree(cartpole_run, run)
    result = landers_cli("report", str(run))
    assert result.returncode == 0, result.stderr
    page = run / "report.html"
    assert "http://" not in page.read_text() and "https://" not in page.read_text()  # self-contained
    browser = headless_chrome("1200,2400")
    try:
        browser.get(page.as_uri())
        deadline = time.time() + 30
        duration = None
        while time.time() < deadline:
            duration = browser.execute_script("const v = document.getElementById('video'); return v ? v.duration : null;")
            if duration and duration == duration and duration > 0:  # not NaN
                break
            time.sleep(0.2)
        assert duration and duration > 0, "the video element has no duration: it did not decode"
        sizes = browser.execute_script("return [...document.images].map(i => [i.complete, i.naturalWidth, i.naturalHeight]);")
        assert sizes and all(c and w > 0 and h > 0 for c, w, h in sizes), sizes
        cells = browser.execute_script(
            "return [...document.querySelectorAll('#evaluation tbody tr')].map(r => [...r.cells].map(c => c.textContent));")
        expected = json.loads((run / "eval.json").read_text())
        assert cells[0][1] == f"{expected['mean']:.2f}" and cells[0][2] == f"{expected['std']:.2f}"
        assert cells[1][0] == "random policy" and cells[1][1] == f"{expected['random']['mean']:.2f}"
        ARTIFACTS.mkdir(exist_ok=True)
        browser.save_screenshot(str(ARTIFACTS / "report.png"))
    finally:
        browser.quit()
