"""`landers play`: a window on a (virtual) display, and one sentence where there is none."""

import os
import shutil
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

from conftest import landers_in_process
from test_cli import assert_one_sentence_error


def test_play_without_a_display_points_to_record(cartpole_run, monkeypatch):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    assert_one_sentence_error(landers_in_process("play", str(cartpole_run)), "No display", "landers record")


def test_play_on_a_display_that_does_not_answer_says_so(cartpole_run):
    env = {k: v for k, v in os.environ.items() if k not in ("WAYLAND_DISPLAY", "SDL_VIDEODRIVER")}
    env["DISPLAY"] = ":4093"
    result = subprocess.run([sys.executable, "-m", "landers", "play", str(cartpole_run)], env=env,
                            capture_output=True, text=True, timeout=120)
    assert_one_sentence_error(result, "Cannot open a window on display ':4093'", "landers record")


def test_play_bad_episodes_is_one_sentence(cartpole_run):
    assert_one_sentence_error(landers_in_process("play", str(cartpole_run), "--episodes", "0"), "must be positive")


@pytest.fixture
def virtual_display():
    """A fresh Xvfb server on a free display number (it picks one and tells us via -displayfd)."""
    if shutil.which("Xvfb") is None:
        pytest.skip("Xvfb is not installed (`make test` installs it where apt is available)")
    from PIL import features

    if not features.check("xcb"):
        pytest.skip("this Pillow cannot grab X11 screenshots (built without XCB)")
    read, write = os.pipe()
    server = subprocess.Popen(["Xvfb", "-displayfd", str(write), "-screen", "0", "800x600x24", "-nolisten", "tcp"],
                              pass_fds=(write,), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    os.close(write)
    with os.fdopen(read) as pipe:
        number = pipe.readline().strip()
    try:
        assert number, "Xvfb did not start"
        yield f":{number}"
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.mark.slow  # Xvfb, a landers process and SIGINT: ~7 s at load 10
def test_play_shows_the_agent_in_a_window_and_ctrl_c_ends_cleanly(cartpole_run, virtual_display):
    from PIL import ImageGrab

    blank = np.asarray(ImageGrab.grab(xdisplay=virtual_display))
    assert len(np.unique(blank.reshape(-1, 3), axis=0)) == 1  # an empty X screen is one colour
    # without the SDL_VIDEODRIVER=dummy that recording videos in this process may have set
    env = {**{k: v for k, v in os.environ.items() if k != "SDL_VIDEODRIVER"},
           "DISPLAY": virtual_display, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    player = subprocess.Popen([sys.executable, "-m", "landers", "play", str(cartpole_run), "--episodes", "1000"],
                              env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline, shot = time.monotonic() + 90, blank
        while time.monotonic() < deadline and player.poll() is None:
            time.sleep(0.5)
            shot = np.asarray(ImageGrab.grab(xdisplay=virtual_display))
            if (shot == 255).all(-1).mean() > 0.2:  # CartPole's white background is up
                break
        first = player.stdout.readline()  # an episode ends and its return is printed as it plays
        player.send_signal(signal.SIGINT)
        out, err = player.communicate(timeout=30)
    finally:
        player.kill()
    # the window shows the scene: a white background, the dark cart and the brown pole
    assert (shot == 255).all(-1).mean() > 0.2, err
    assert len(np.unique(shot.reshape(-1, 3), axis=0)) >= 4
    assert player.returncode == 0 and "Traceback" not in err, err
    assert first.startswith("episode 1/1000: return") and "stopped: mean return" in out


@pytest.mark.slow  # Xvfb, two short trainings and a landers process each: ~15 s
@pytest.mark.parametrize("env_id, rnn", [("CartPole-v1", "gru"), ("fake_envs:WindowDoors-v0", None), ("fake_envs:WindowDoors-v0", "lstm")])
def test_play_carries_a_recurrent_state_and_obeys_a_mask_in_a_window(env_id, rnn, tmp_path, virtual_display):
    """A recurrent agent plays whole episodes in a window (play carries its state), and a masked
    agent plays Doors, which raises on a closed door: play must obey the env's mask."""
    import landers

    hparams = dict(num_envs=4, num_steps=32, num_minibatches=2, update_epochs=2) | (
        dict(rnn=rnn, rnn_size=8) if rnn else {})
    run = landers.train("ppo", env_id, steps=256, seed=0, run_dir=tmp_path / "run", quiet=True, preset="none",
                        final_eval_episodes=2, eval_every=10**9, **hparams)
    agent = landers.load(run.run_dir)
    assert agent.recurrent == bool(rnn) and (agent.mask_source == "method") == ("Doors" in env_id)
    env = {**{k: v for k, v in os.environ.items() if k != "SDL_VIDEODRIVER"}, "DISPLAY": virtual_display,
           "OMP_NUM_THREADS": "1", "PYTHONPATH": os.pathsep.join([os.path.dirname(os.path.dirname(__file__)),
                                                                  os.environ.get("PYTHONPATH", "")])}
    played = subprocess.run([sys.executable, "-m", "landers", "play", str(run.run_dir), "--episodes", "2"],
                            env=env, capture_output=True, text=True, timeout=120)
    assert played.returncode == 0 and "Traceback" not in played.stderr, played.stdout + played.stderr
    assert "episode 1/2: return" in played.stdout and "episode 2/2: return" in played.stdout
