"""Videos of an agent: headless `rgb_array` frames with the episode and running return drawn
on them, written by imageio (its ffmpeg plugin for MP4, Pillow for GIF; `landers[plots]`)."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import gymnasium as gym
import numpy as np

from landers.envs import atari
from landers.errors import LandersError

FORMATS = ("mp4", "gif")


def imageio_module():
    """imageio.v2, or one sentence saying how to install it."""
    try:
        import imageio.v2 as imageio
    except ImportError:
        raise LandersError("Videos need imageio: pip install 'landers[plots]'.") from None
    return imageio


def annotate(frame: np.ndarray, text: str) -> np.ndarray:
    """The frame with `text` in a dark box at its top-left corner."""
    from PIL import Image, ImageDraw, ImageFont

    image = Image.fromarray(frame)
    draw = ImageDraw.Draw(image)
    size = max(10, frame.shape[0] // 24)
    try:
        font = ImageFont.load_default(size=size)
    except TypeError:  # Pillow < 10.1 has one fixed-size default font
        font = ImageFont.load_default()
    box = draw.textbbox((6, 4), text, font=font)
    draw.rectangle((box[0] - 4, box[1] - 3, box[2] + 4, box[3] + 3), fill=(0, 0, 0))
    draw.text((6, 4), text, fill=(255, 255, 255), font=font)
    return np.asarray(image)


def _even(frame: np.ndarray) -> np.ndarray:
    """H.264 in yuv420p needs even width and height: pad by a pixel where needed."""
    h, w = frame.shape[:2]
    return np.pad(frame, ((0, h % 2), (0, w % 2), (0, 0)), mode="edge") if (h % 2 or w % 2) else frame


def record(agent, out: Path, episodes: int = 1, seed: int = 0, deterministic: bool = True,
           fmt: str | None = None, max_steps: int = 10_000) -> dict:
    """Render `episodes` episodes of `agent` into a video at `out`; returns what was written."""
    imageio = imageio_module()
    # Frames come from rgb_array rendering; pygame needs no display for that, and without one
    # SDL would complain on stderr about XDG_RUNTIME_DIR. Only then: the setting is process-wide,
    # and with a display a window opened later in this process (`landers.play`) must still work.
    if sys.platform.startswith("linux") and not (os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")):
        os.environ.setdefault("SDL_VIDEODRIVER", "dummy")
    out = Path(out)
    fmt = fmt or out.suffix.lstrip(".") or "mp4"
    if fmt not in FORMATS:
        raise LandersError(f"Unknown video format '{fmt}'; use mp4 or gif.")
    if episodes <= 0:
        raise LandersError(f"--episodes must be positive, got {episodes}.")
    probe = agent.make_env()
    modes = probe.metadata.get("render_modes", [])
    probe.close()
    if "rgb_array" not in modes:
        raise LandersError(f"{agent.env_id} cannot render frames (its render modes: {modes or 'none'}).")
    try:
        env = agent.make_env(render_mode="rgb_array")
    except (TypeError, gym.error.Error) as e:
        raise LandersError(f"{agent.env_id} cannot render frames: {e}.") from None
    # Atari agents act every 4th frame (frame skip): 15 steps/s is real time.
    fps = 15 if atari.is_atari(agent.env_id) else env.metadata.get("render_fps") or 30
    try:
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_name(f".{out.stem}.partial.{fmt}")
        writer = (imageio.get_writer(tmp, fps=fps, codec="libx264", macro_block_size=1, quality=7,
                                     pixelformat="yuv420p", ffmpeg_log_level="error")
                  if fmt == "mp4" else imageio.get_writer(tmp, mode="I", duration=1000 / fps, loop=0))
    except OSError as e:
        env.close()
        raise LandersError(f"Cannot write a video to '{out}': {e.strerror or e}.") from None
    returns, frames = [], 0
    try:
        for episode in range(episodes):
            obs, _ = env.reset(seed=seed + episode)
            total, done, steps = 0.0, False, 0
            while True:
                frame = annotate(env.render(), f"episode {episode + 1}/{episodes}   return {total:8.1f}")
                writer.append_data(_even(frame) if fmt == "mp4" else frame)
                frames += 1
                if done or steps >= max_steps:
                    break
                obs, reward, terminated, truncated, _ = env.step(agent.predict(obs, deterministic))
                total += float(reward)
                steps += 1
                done = terminated or truncated
            returns.append(total)
        writer.close()
        tmp.replace(out)
    except BaseException:
        writer.close()
        tmp.unlink(missing_ok=True)
        raise
    finally:
        env.close()
    return {"path": str(out), "frames": frames, "fps": fps, "returns": returns}
