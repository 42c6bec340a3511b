"""The keeper: one small daemon that is the parent of every long-running lab process.

Why it exists: on this kind of machine PID 1 may not reap orphans, so a launcher, Prometheus or an
outage timer whose parent (the CLI) has exited would stay a zombie forever once it dies. The keeper
is a child subreaper that spawns those processes on request and reaps them (and anything they
orphan). It exits by itself when its socket disappears (the lab directory was removed).

Protocol: one JSON object per connection on a Unix socket, one JSON reply.
  {"op": "ping"}                                   -> {"ok": true, "pid": <keeper pid>}
  {"op": "spawn", "argv": [...], "log": path}      -> {"ok": true, "pid": <child pid>}
  {"op": "exit"}                                   -> {"ok": true}
"""

from __future__ import annotations

import contextlib
import ctypes
import json
import os
import select
import socket
import subprocess
import sys
import time
from pathlib import Path

from .sysutil import LabError, alive, proc_start_time

PR_SET_CHILD_SUBREAPER = 36
SPAWN_ENV = {"PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "LANG": "C.UTF-8"}


def _paths(labdir: Path) -> tuple[Path, Path]:
    return labdir / "keeper.sock", labdir / "keeper.pid"


def _request(labdir: Path, payload: dict, timeout: float = 5.0) -> dict:
    sock_path = _paths(labdir)[0]
    with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as s:
        s.settimeout(timeout)
        s.connect(str(sock_path))
        s.sendall(json.dumps(payload).encode() + b"\n")
        s.shutdown(socket.SHUT_WR)
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    reply = json.loads(data or b"{}")
    if not reply.get("ok"):
        raise LabError(f"keeper refused {payload.get('op')}: {reply.get('error', 'no reply')}")
    return reply


def keeper_pid(labdir: Path) -> int | None:
    try:
        return _request(labdir, {"op": "ping"}, timeout=2.0)["pid"]
    except (OSError, ValueError, LabError):
        return None


def ensure_keeper(labdir: Path) -> int:
    pid = keeper_pid(labdir)
    if pid:
        return pid
    pkg_parent = str(Path(__file__).resolve().parent.parent)
    env = dict(SPAWN_ENV, PYTHONPATH=pkg_parent)
    log = open(labdir / "keeper.log", "ab")
    try:
        subprocess.Popen(
            [sys.executable, "-m", "cwlab", "_keeper", str(labdir)],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env=env,
            cwd="/",
        )
    finally:
        log.close()
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        pid = keeper_pid(labdir)
        if pid:
            return pid
        time.sleep(0.05)
    raise LabError(f"the lab keeper did not start; see {labdir / 'keeper.log'}")


def spawn(labdir: Path, argv: list[str], log: Path) -> tuple[int, int]:
    """Start argv as a child of the keeper in its own session; return (pid, start time)."""
    pid = _request(labdir, {"op": "spawn", "argv": argv, "log": str(log)})["pid"]
    start = proc_start_time(pid)
    if start is None:
        raise LabError(f"{argv[0]} exited at once; see {log}")
    return pid, start


def stop_keeper(labdir: Path) -> None:
    pid_path = _paths(labdir)[1]
    try:
        _request(labdir, {"op": "exit"}, timeout=2.0)
        return
    except (OSError, ValueError, LabError):
        pass
    # The socket is gone or dead: fall back to the recorded pid (pid + start time).
    with contextlib.suppress(OSError, ValueError):
        pid, start = (int(x) for x in pid_path.read_text().split())
        if alive(pid, start):
            os.kill(pid, 9)


def serve(labdir: Path) -> int:
    """Run the keeper loop (the `_keeper` subcommand)."""
    sock_path, pid_path = _paths(labdir)
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) != 0:
        print("keeper: cannot become a child subreaper", file=sys.stderr)
        return 1
    with contextlib.suppress(FileNotFoundError):
        sock_path.unlink()
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    srv.bind(str(sock_path))
    os.chmod(sock_path, 0o600)
    srv.listen(64)
    my_inode = os.stat(sock_path).st_ino
    pid_path.write_text(f"{os.getpid()} {proc_start_time(os.getpid())}\n")
    running = True
    while running:
        ready = select.select([srv], [], [], 0.5)[0]
        _reap()
        try:
            if os.stat(sock_path).st_ino != my_inode:
                break
        except FileNotFoundError:
            break
        if not ready:
            continue
        conn = srv.accept()[0]
        with conn:
            conn.settimeout(5)
            try:
                data = b""
                while chunk := conn.recv(65536):
                    data += chunk
                req = json.loads(data)
                reply = _handle(req)
                running = req.get("op") != "exit"
            except Exception as exc:
                reply = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
            with contextlib.suppress(OSError):
                conn.sendall(json.dumps(reply).encode())
    srv.close()
    with contextlib.suppress(FileNotFoundError):
        if os.stat(sock_path).st_ino == my_inode:
            sock_path.unlink()
    with contextlib.suppress(FileNotFoundError):
        pid_path.unlink()
    return 0


def _reap() -> None:
    while True:
        try:
            pid = os.waitpid(-1, os.WNOHANG)[0]
        except ChildProcessError:
            return
        if pid == 0:
            return


def _handle(req: dict) -> dict:
    op = req.get("op")
    if op in ("ping", "exit"):
        return {"ok": True, "pid": os.getpid()}
    if op == "spawn":
        argv = [str(a) for a in req["argv"]]
        log = req["log"]
        actions = [
            (os.POSIX_SPAWN_OPEN, 0, "/dev/null", os.O_RDONLY, 0),
            (os.POSIX_SPAWN_OPEN, 1, log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600),
            (os.POSIX_SPAWN_DUP2, 1, 2),
        ]
        pid = os.posix_spawnp(argv[0], argv, SPAWN_ENV, file_actions=actions, setsid=True)
        return {"ok": True, "pid": pid}
    return {"ok": False, "error": f"unknown op {op!r}"}
