"""One writer per run directory: an OS file lock on `RUN/.lock`.

`flock` locks belong to the open file, so the OS drops them when the holder dies, even by
`kill -9`: there is never a stale lock to clean up, and the lock file is never deleted (deleting
it would let two processes lock two different files of the same name). The holder writes its
pid into the file so that a second writer can say whom it waits for. Readers (`eval`, `load`)
take no lock: every file they read is replaced atomically or appended a whole row at a time.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from landers.errors import LandersError, WriteFailed

LOCK = ".lock"

# Held locks of this process by run directory: (fd, depth). A command that writes a run and
# calls another writer on it (a report drawing its plots) must not lock itself out.
_held: dict[Path, list[int]] = {}
_guard = threading.Lock()


class RunLocked(LandersError):
    """Another process writes this run."""


def holder(run_dir: Path) -> str:
    """The pid written by the process holding the lock, or '' if it is unknown."""
    try:
        return (Path(run_dir) / LOCK).read_text().strip()
    except OSError:
        return ""


@contextlib.contextmanager
def run_lock(run_dir: Path) -> Iterator[None]:
    """Hold the run's lock for the block; a second writer gets `RunLocked` at once."""
    key = Path(run_dir).resolve()
    with _guard:
        if key in _held:
            _held[key][1] += 1
            fd = None
        else:
            fd = _acquire(Path(run_dir))
            _held[key] = [fd, 1]
    try:
        yield
    finally:
        with _guard:
            _held[key][1] -= 1
            if _held[key][1] == 0:
                os.close(_held.pop(key)[0])  # closing the file releases the lock


def _acquire(run_dir: Path) -> int:
    path = run_dir / LOCK
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as e:
        raise WriteFailed(f"Cannot write to the run '{run_dir}': {e.strerror}.") from None
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        pid = holder(run_dir)
        who = f"process {pid}" if pid.isdigit() else "another process"
        raise RunLocked(f"'{run_dir}' is being written by {who} (another landers train, report or "
                        "plot); wait for it to finish or stop it, then try again.") from None
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
    except OSError:
        pass  # the pid is only for the message of a second writer; the lock is what counts
    return fd


@contextlib.contextmanager
def lock_run_of(path: Path) -> Iterator[None]:
    """`run_lock` on the run directory that `path` is or is written into (RUN, RUN/plots.png,
    RUN/videos/last.mp4), else nothing: plots, reports and videos written elsewhere need none."""
    path = Path(path)
    for directory in (path, path.parent, path.parent.parent):
        if (directory / "config.json").exists():
            with run_lock(directory):
                yield
            return
    yield
