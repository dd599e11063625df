"""The live lines of `compare` and `bench` on the driver: one per run (a live block on a
terminal, else a line per change of state), or a suite's one status line."""

from __future__ import annotations

import time

from landers.scale.jobs import Job, entry_label, key_of_config


class RunLines:
    """One line per trial: a live block on a terminal, else a line per change of state."""

    def __init__(self, jobs: list[Job], echo, terminal):
        self.echo, self.state = echo, {j.key: f"{j.label:<10} seed {j.seed}: waiting" for j in jobs}
        self.running: set[str] = set()
        self.live = None
        if terminal.isatty():
            from rich.console import Console
            from rich.live import Live

            self.live = Live(self._render(), console=Console(file=terminal), refresh_per_second=4)
            self.live.start()

    def _render(self):
        from rich.text import Text

        return Text("\n".join(self.state.values()))

    def event(self, trial, kind: str, text: str) -> None:
        """`kind`: running, eval, done, stopped, retry or failed; `text` says it for a person."""
        key, run = key_of_config(trial.config), trial.config["run"]
        if kind == "running":
            self.running.add(key)
        elif kind in ("done", "failed"):
            self.running.discard(key)
        algo, seed = entry_label(run["algo"], run.get("preset")), run["seed"]
        self.state[key] = f"{algo:<10} seed {seed}: {text}"
        if self.live is not None:
            self.live.update(self._render())
        elif kind not in ("running", "eval"):
            self.echo(f"  {algo} seed {seed}: {text}")

    def close(self) -> None:
        if self.live is not None:
            self.live.stop()
            self.live = None


class SuiteLine(RunLines):
    """A suite's one status line (envs done, running, failed; runs done; elapsed), live on a
    terminal, else printed when a run ends, fails or is retried."""

    def __init__(self, jobs: list[Job], echo, terminal):
        self.jobs = {j.key: j for j in jobs}
        self.ended = {j.key: "done" for j in jobs if j.done}
        self.started = time.monotonic()
        super().__init__(jobs, echo, terminal)

    def line(self) -> str:
        envs = list(dict.fromkeys(j.env_id for j in self.jobs.values()))
        of = lambda env: [k for k, j in self.jobs.items() if j.env_id == env]  # noqa: E731
        failed = [e for e in envs if any(self.ended.get(k) == "failed" for k in of(e))]
        done = [e for e in envs if e not in failed and all(self.ended.get(k) == "done" for k in of(e))]
        running = [e for e in envs if e not in failed and e not in done and any(k in self.running for k in of(e))]
        runs_done = sum(v == "done" for v in self.ended.values())
        return (f"envs: {len(done)} done, {len(running)} running, {len(failed)} failed of {len(envs)}; "
                f"runs: {runs_done} of {len(self.jobs)} done, {len(self.running)} running; "
                f"{time.monotonic() - self.started:.0f} s")

    def _render(self):
        from rich.text import Text

        return Text(self.line())

    def event(self, trial, kind: str, text: str) -> None:
        key, run = key_of_config(trial.config), trial.config["run"]
        if kind == "running":
            self.running.add(key)
        elif kind in ("done", "failed"):
            self.running.discard(key)
            self.ended[key] = kind
        if self.live is not None:
            self.live.update(self._render())
        elif kind not in ("running", "eval"):
            who = f"{run.get('env_id')} {entry_label(run['algo'], run.get('preset'))} seed {run['seed']}"
            self.echo(f"  {who}: {text}" + ("" if kind == "retry" else f"  [{self.line()}]"))
