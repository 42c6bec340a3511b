"""Helpers for the snapshot tests: a tree fingerprint computed here, independent of the core."""

import hashlib
import os
import signal
import stat
import subprocess
import sys
import time

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import Runner


def fingerprint(*roots, racing=False):
    """path -> (type, mode, uid, gid, content sha256 / link target) for every entry under roots.

    Roots that do not exist appear as 'absent'. Directories are walked without following links.
    racing=True skips entries that vanish while walking (a rollback is running in another process).
    """
    out = {}
    for root in roots:
        if not os.path.lexists(root):
            out[root] = ("absent",)
            continue
        stack = [root]
        while stack:
            path = stack.pop()
            try:
                st = os.lstat(path)
                if stat.S_ISREG(st.st_mode):
                    with open(path, "rb") as fh:
                        content = hashlib.sha256(fh.read()).hexdigest()
                elif stat.S_ISDIR(st.st_mode):
                    children = os.listdir(path)
            except FileNotFoundError:
                if racing:
                    continue
                raise
            ids = (stat.S_IMODE(st.st_mode), st.st_uid, st.st_gid)
            if stat.S_ISLNK(st.st_mode):
                out[path] = ("link", st.st_uid, st.st_gid, os.readlink(path))
            elif stat.S_ISDIR(st.st_mode):
                out[path] = ("dir", *ids)
                stack.extend(os.path.join(path, n) for n in children)
            elif stat.S_ISREG(st.st_mode):
                out[path] = ("file", *ids, content)
            else:
                out[path] = ("other", *ids)
    return out


def write(path, data, mode=None):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as fh:
        fh.write(data if isinstance(data, bytes) else data.encode())
    if mode is not None:
        os.chmod(path, mode)


def run_command(args, check_rc=False, environ_update=None, encoding="utf-8", **_ignored):
    """AnsibleModule.run_command's contract, so the core's Runner can be driven outside a module."""
    assert check_rc is False
    env = dict(os.environ, **(environ_update or {}))
    proc = subprocess.run(args, env=env, stdin=subprocess.DEVNULL, capture_output=True, check=False)
    if encoding is None:
        return proc.returncode, proc.stdout, proc.stderr
    return proc.returncode, proc.stdout.decode(encoding), proc.stderr.decode(encoding)


RUNNER = Runner(run_command)


def kill_part_way(script, tree, before, changed, needed):
    """Run a rollback script in a child and SIGKILL it once at least `needed` files of tree are back to
    their state in `before` (and differ from `changed`); returns the tree's fingerprint right after."""
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            now = fingerprint(tree, racing=True)
            if sum(1 for p, v in now.items() if before.get(p) == v and changed.get(p) != v) >= needed:
                break
            assert proc.poll() is None, proc.communicate()
            time.sleep(0.02)
        os.kill(proc.pid, signal.SIGKILL)
    finally:
        proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL
    return fingerprint(tree)
