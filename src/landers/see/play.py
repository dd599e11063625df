"""Watch an agent play in a window (`render_mode="human"`), at the env's own frame rate."""

from __future__ import annotations

import os
import signal
import sys
from collections.abc import Callable

import gymnasium as gym

from landers.errors import EnvCrashed, LandersError, first_line
from landers.policy.agent import EpisodeActor


def has_display() -> bool:
    """Whether a window can open: on Linux and the BSDs only with an X or Wayland display."""
    if sys.platform.startswith("linux") or "bsd" in sys.platform:
        return bool(os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY"))
    return True


def _window_errors() -> tuple[type[BaseException], ...]:
    """The error pygame raises when SDL cannot open a window."""
    try:
        import pygame
    except ImportError:
        return ()
    return (pygame.error,)


def _offscreen() -> bool:
    """Whether pygame's SDL fell back to drawing nowhere: with a DISPLAY that does not answer it
    picks its "offscreen" driver instead of failing, and the agent would play unseen."""
    pygame = sys.modules.get("pygame")
    return bool(pygame and pygame.display.get_init() and pygame.display.get_driver() in ("offscreen", "dummy"))


def play(agent, episodes: int, seed: int, deterministic: bool = True,
         echo: Callable[[str], None] = print) -> tuple[list[float], bool]:
    """Play `episodes` episodes in a window, echoing each return as it ends.

    Returns (the finished episodes' returns, whether Ctrl-C stopped it early): Ctrl-C is how
    a viewer says "enough", so it closes the window and ends normally."""
    if episodes <= 0:
        raise LandersError(f"--episodes must be positive, got {episodes}.")
    if not has_display():
        raise LandersError("No display to open a window on (DISPLAY is not set); "
                           "`landers record` writes a video instead.")
    if os.environ.get("DISPLAY") and not os.environ.get("WAYLAND_DISPLAY"):
        # X only: SDL would otherwise probe Wayland (complaining on stderr) and fall back to
        # drawing offscreen when the X server does not answer; this way it fails, and says so.
        os.environ.setdefault("SDL_VIDEODRIVER", "x11")
    try:
        env = agent.make_env(render_mode="human")
    except (TypeError, gym.error.Error) as e:
        raise LandersError(f"{agent.env_id} cannot open a window: {e}.") from None
    if "human" not in env.metadata.get("render_modes", []):
        env.close()
        raise LandersError(f"{agent.env_id} cannot open a window (its render modes: "
                           f"{env.metadata.get('render_modes') or 'none'}); `landers record` may still work.")
    returns: list[float] = []
    actor = EpisodeActor(agent, env, deterministic)
    # Ctrl-C is how a viewer stops watching, even where the parent process ignores SIGINT and we
    # inherit that (a pytest-xdist worker does; Python then installs no handler of its own).
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        for episode in range(episodes):
            actor.reset()
            try:
                obs, info = env.reset(seed=seed + episode)  # human mode opens the window on reset
            except _window_errors() as e:
                raise LandersError(f"Cannot open a window on display {os.environ.get('DISPLAY', '')!r} ({e}); "
                                   "`landers record` writes a video instead.") from None
            if _offscreen():
                driver = os.environ.get("SDL_VIDEODRIVER")
                why = f"SDL_VIDEODRIVER is {driver!r}" if driver else "no X or Wayland server answers there"
                raise LandersError(f"Cannot open a window on display {os.environ.get('DISPLAY', '')!r} ({why}); "
                                   "`landers record` writes a video instead.")
            total, done = 0.0, False
            while not done:
                action = actor(obs, info)
                try:
                    obs, reward, terminated, truncated, info = env.step(action)
                except Exception as e:  # the env's own code failed mid-episode: its traceback shows where
                    raise EnvCrashed(f"{agent.env_id} raised {type(e).__name__} ({first_line(e)}) in episode "
                                     f"{episode + 1}.") from e
                total += float(reward)
                done = terminated or truncated
            returns.append(total)
            echo(f"episode {episode + 1}/{episodes}: return {total:.1f}")
    except KeyboardInterrupt:
        return returns, True
    finally:
        signal.signal(signal.SIGINT, previous)
        env.close()
    return returns, False
