"""Small process and command helpers shared by the lab."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import time


class LabError(RuntimeError):
    """Something the lab cannot do; the message names what is wrong."""


def run(argv: list[str], *, check: bool = True, input: str | None = None, timeout: float = 30) -> str:
    """Run a command, return stdout; on failure raise LabError with the command and its stderr."""
    try:
        res = subprocess.run(argv, input=input, capture_output=True, text=True, timeout=timeout, check=False)
    except FileNotFoundError as exc:
        raise LabError(f"command not found: {argv[0]}") from exc
    except subprocess.TimeoutExpired as exc:
        raise LabError(f"command timed out after {timeout}s: {' '.join(argv)}") from exc
    if check and res.returncode != 0:
        detail = res.stderr.strip() or res.stdout.strip()
        raise LabError(f"command failed ({res.returncode}): {' '.join(argv)}: {detail}")
    return res.stdout


def proc_start_time(pid: int) -> int | None:
    """Kernel start time of pid (clock ticks since boot), or None if it is gone or a zombie.

    Recorded next to every pid so a pid the kernel reused for another process is never signalled.
    """
    try:
        with open(f"/proc/{pid}/stat") as fh:
            data = fh.read()
    except OSError:
        return None
    fields = data[data.rindex(")") + 2 :].split()
    if fields[0] in ("Z", "X"):
        return None
    return int(fields[19])


def alive(pid: int | None, start: int | None = None) -> bool:
    if not pid:
        return False
    st = proc_start_time(pid)
    return st is not None and (start is None or st == start)


def proc_comm(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/comm") as fh:
            return fh.read().strip()
    except OSError:
        return ""


def children(pid: int) -> list[int]:
    try:
        with open(f"/proc/{pid}/task/{pid}/children") as fh:
            return [int(x) for x in fh.read().split()]
    except OSError:
        pass
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    data = fh.read()
            except OSError:
                continue
            if int(data[data.rindex(")") + 2 :].split()[1]) == pid:
                found.append(int(entry))
    return found


def kill(pid: int | None, start: int | None, sig: int = signal.SIGKILL, *, group: bool = False) -> bool:
    """Signal pid (or its process group) only if it is still the process we recorded."""
    if not alive(pid, start):
        return False
    try:
        if group:
            os.killpg(pid, sig)
        else:
            os.kill(pid, sig)
    except ProcessLookupError:
        return False
    return True


def wait_gone(pids: list[tuple[int, int | None]], timeout: float = 5.0) -> list[int]:
    """Wait until every (pid, start) is gone; return those still alive at the deadline."""
    deadline = time.monotonic() + timeout
    left = [p for p in pids if alive(*p)]
    while left and time.monotonic() < deadline:
        time.sleep(0.05)
        left = [p for p in left if alive(*p)]
    return [p[0] for p in left]


def missing_binaries(names: list[str]) -> list[str]:
    missing = []
    for name in names:
        if os.path.isabs(name):
            if not os.access(name, os.X_OK):
                missing.append(name)
        elif shutil.which(name) is None:
            missing.append(name)
    return missing
