"""The test suite's `landers` processes, started in a fraction of the time.

A fresh `python -m landers` spends about 4 s of CPU on imports before it does anything (torch,
torch._dynamo, which torch.optim pulls in on first use, EnvPool, Gymnasium), and the suite starts
about two hundred of them. So each pytest-xdist worker keeps one server process that has imported
those once, and a `landers` command of a test becomes a small client that asks the server for a
process: the server forks a handler, the handler forks the `landers` process, which takes the
client's stdin, stdout and stderr (passed over the socket), working directory, environment and
arguments, and runs `python -m landers` (or a script) as a fresh interpreter would (`runpy`, its
own sys.path from PYTHONPATH and the working directory or the script's, fresh random seeds). It is a real process of its own:
its exit code (or the signal that ended it) is the client's; SIGINT and SIGTERM sent to the client
reach it; when the client dies (a test's timeout kills it), the handler kills it. Doc-test
`python` blocks run as scripts so.

What a forked process cannot show, a test checks in a fresh interpreter of its own: which modules
a command imports, and what happens at interpreter start (tests/test_cli.py, tests/run/
test_tracking.py, the Ctrl-C and kill tests, which start `sys.executable -m landers`). The forked
processes share the server's hash seed, and the environment its imports saw (the pytest
worker's at its start, OMP_NUM_THREADS=1).
LANDERS_TEST_FRESH=1 turns the server off.

Usage: `python forkserver.py serve SOCKET PARENT_PID` (the server; conftest starts it), `python -S -E
forkserver.py SOCKET -m landers ARGS...` or `... SOCKET SCRIPT ARGS...` (a client: what `python`
would run with those arguments).
"""

from __future__ import annotations

import json
import os
import select
import signal
import socket
import struct
import sys

PRELOAD = ("numpy", "torch", "torch._dynamo", "torch.optim", "gymnasium", "envpool", "landers.cli",
           "landers.run.rundir", "landers.run.trainer", "landers.algos")
FORWARDED = (signal.SIGINT, signal.SIGTERM)


# ---------------------------------------------------------------- the client


def client(path: str, args: list[str]) -> None:
    """`args` as `python` takes them: `-m landers ...` or `SCRIPT ...`."""
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    pending: list[int] = []  # signals that came before the landers process existed

    def forward(signum, frame):
        try:
            conn.sendall(struct.pack("!i", signum))
        except OSError:  # not connected yet, or the handler has reported and gone
            pending.append(signum)

    for sig in FORWARDED:
        signal.signal(sig, forward)
    conn.connect(path)
    request = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(request))], [0, 1, 2])
    conn.sendall(request)
    for signum in pending:
        forward(signum, None)
    code = struct.unpack("!i", _read(conn, 4))[0]
    if code < 0:  # ended by a signal: so does the client (SIGKILL and SIGSTOP keep their action)
        try:
            signal.signal(-code, signal.SIG_DFL)
        except (OSError, ValueError):
            pass
        os.kill(os.getpid(), -code)
        code = 128 - code
    os._exit(code)


def _read(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        try:
            chunk = conn.recv(n - len(data))
        except InterruptedError:
            continue
        if not chunk:
            raise SystemExit(f"forkserver: the server hung up (after {len(data)} of {n} bytes)")
        data += chunk
    return data


# ---------------------------------------------------------------- the server


def serve(path: str, parent: int) -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except Exception:  # noqa: BLE001 - a process forked from here imports it itself, as a fresh one
            pass
    base_path = sys.path[1:]  # without this file's directory
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    listener.listen(64)
    os.rename(path + ".tmp", path)  # the socket appears once it takes connections
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    while os.getppid() == parent:  # ends with the pytest worker that started it (its pid: `parent`)
        try:
            conn, _ = listener.accept()
        except TimeoutError:
            continue
        sys.stdout.flush(), sys.stderr.flush()
        if os.fork() == 0:
            listener.close()
            signal.signal(signal.SIGCHLD, signal.SIG_DFL)
            request, fds = _handle(conn)  # returns in the landers process only
            _become_landers(request, fds, base_path)  # ends in SystemExit: the interpreter's own exit
        conn.close()


def _handle(conn: socket.socket) -> tuple[dict, list[int]]:
    """The handler: forks the `landers` process (where it returns the request and the client's
    stdio), forwards signals to it, reports how it ended."""
    for sig in FORWARDED:  # they reach the landers process through its client, not here
        signal.signal(sig, signal.SIG_IGN)
    try:
        header, fds, _, _ = socket.recv_fds(conn, 4, 3)
        assert len(header) == 4 and len(fds) == 3, "a client sends its stdin, stdout and stderr"
        request = json.loads(_read(conn, struct.unpack("!I", header)[0]))
        pid = os.fork()
    except BaseException:
        os._exit(1)
    if pid == 0:
        conn.close()
        return request, fds
    try:
        for fd in fds:
            os.close(fd)
        try:
            watch = [os.pidfd_open(pid)]  # readable when the process ends (Linux 5.3)
        except (AttributeError, OSError):
            watch = []  # elsewhere: look every 50 ms
        status = None
        while status is None:
            ready, _, _ = select.select([conn, *watch], [], [], None if watch else 0.05)
            if conn in ready:
                try:
                    signum = struct.unpack("!i", _read(conn, 4))[0]
                except SystemExit:  # the client is gone (a test's timeout killed it): so goes its process
                    os.kill(pid, signal.SIGKILL)
                    os.waitpid(pid, 0)
                    os._exit(0)
                os.kill(pid, signum)
            ended, status = os.waitpid(pid, 0 if watch and watch[0] in ready else os.WNOHANG)
            status = status if ended else None
        conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)


def _become_landers(request: dict, fds: list[int], base_path: list[str]) -> None:
    import io
    import random
    import runpy

    import numpy

    for target, fd in enumerate(fds):
        os.dup2(fd, target)
        os.close(fd)
    env = request["env"]
    os.chdir(request["cwd"])
    os.environ.clear()
    os.environ.update(env)
    extra = [p for p in env.get("PYTHONPATH", "").split(os.pathsep) if p]
    sys.path[:] = [request["cwd"], *extra, *(p for p in base_path if p not in extra)]
    # The standard streams as a fresh interpreter makes them: under PYTHONUNBUFFERED (python -u)
    # straight onto the file, else buffered (stdout by line on a terminal, stderr by line always).
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))

    def stream(fd: int, mode: str, **kwargs):
        raw = io.FileIO(fd, mode, closefd=False)
        if unbuffered and mode == "w":
            return io.TextIOWrapper(raw, write_through=True, **kwargs)
        return io.TextIOWrapper(io.BufferedWriter(raw) if mode == "w" else io.BufferedReader(raw), **kwargs)

    sys.stdin = sys.__stdin__ = stream(0, "r")
    sys.stdout = sys.__stdout__ = stream(1, "w", line_buffering=os.isatty(1))
    sys.stderr = sys.__stderr__ = stream(2, "w", errors="backslashreplace", line_buffering=True)
    random.seed()
    numpy.random.seed()
    for sig in FORWARDED + (signal.SIGCHLD,):
        signal.signal(sig, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    args = request["args"]
    code = 0
    try:
        if args[0] == "-m":
            sys.argv = args[1:]  # run_module puts the module's file first, as python -m does
            runpy.run_module(args[1], run_name="__main__", alter_sys=True)
        else:
            sys.argv = args
            sys.path[0] = os.path.dirname(os.path.abspath(args[0]))  # a script's directory, not the working one
            runpy.run_path(args[0], run_name="__main__")
    except SystemExit as e:
        code = e.code
    except KeyboardInterrupt:  # as an interpreter would: the traceback, then death by SIGINT
        sys.excepthook(*sys.exc_info())
        sys.stderr.flush()
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        os.kill(os.getpid(), signal.SIGINT)
    except BaseException:  # the traceback, exit 1
        sys.excepthook(*sys.exc_info())
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    raise SystemExit(code)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2], int(sys.argv[3]))
    else:
        client(sys.argv[1], sys.argv[2:])
