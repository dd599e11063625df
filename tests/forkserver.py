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
test_tracking.py, the Ctrl-C and kill tests, which start `sys.executable -m landers`).
LANDERS_TEST_FRESH=1 turns the server off.

Usage: `python forkserver.py serve SOCKET` (the server; conftest starts it), `python -S -E
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
    conn.connect(path)
    request = json.dumps({"args": args, "cwd": os.getcwd(), "env": dict(os.environ)}).encode()
    socket.send_fds(conn, [struct.pack("!I", len(request))], [0, 1, 2])
    conn.sendall(request)
    for sig in FORWARDED:
        signal.signal(sig, lambda signum, frame: conn.sendall(struct.pack("!i", signum)))
    code = struct.unpack("!i", _read(conn, 4))[0]
    if code < 0:  # ended by a signal: so does the client
        signal.signal(-code, signal.SIG_DFL)
        os.kill(os.getpid(), -code)
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


def serve(path: str) -> None:
    import importlib

    for name in PRELOAD:
        try:
            importlib.import_module(name)
        except ImportError:
            pass
    parent = os.getppid()
    base_path = sys.path[1:]  # without this file's directory
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path + ".tmp")
    os.rename(path + ".tmp", path)  # the socket appears once it is ready
    listener.listen(64)
    listener.settimeout(1.0)
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # handlers are reaped by the kernel
    while os.getppid() == parent:  # ends with the pytest worker that started it
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
    try:
        header, fds, _, _ = socket.recv_fds(conn, 4, 3)
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
        pidfd = os.pidfd_open(pid)
        while True:
            ready, _, _ = select.select([conn, pidfd], [], [])
            if pidfd in ready:
                break
            data = conn.recv(4)
            if len(data) == 4:
                os.kill(pid, struct.unpack("!i", data)[0])
            elif not data:  # the client is gone (a test's timeout killed it): so goes its process
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
                os._exit(0)
        _, status = os.waitpid(pid, 0)
        conn.sendall(struct.pack("!i", os.waitstatus_to_exitcode(status)))
    finally:
        os._exit(0)
    raise AssertionError("unreachable")


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
    unbuffered = bool(env.get("PYTHONUNBUFFERED"))
    sys.stdin = io.TextIOWrapper(io.BufferedReader(io.FileIO(0, "r", closefd=False)))
    sys.stdout = io.TextIOWrapper(io.BufferedWriter(io.FileIO(1, "w", closefd=False)),
                                  line_buffering=os.isatty(1), write_through=unbuffered)
    sys.stderr = io.TextIOWrapper(io.BufferedWriter(io.FileIO(2, "w", closefd=False)), errors="backslashreplace",
                                  line_buffering=True, write_through=True)
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
    except BaseException:  # as an interpreter would: the traceback, exit 1
        import traceback

        traceback.print_exc()
        code = 1
    if code is not None and not isinstance(code, int):
        print(code, file=sys.stderr)
        code = 1
    raise SystemExit(code)


if __name__ == "__main__":
    if sys.argv[1] == "serve":
        serve(sys.argv[2])
    else:
        client(sys.argv[1], sys.argv[2:])
