"""PID 1 of a lab host (after chroot). Starts sshd and the boot-enabled LSB services, reaps zombies,
restarts sshd if it dies. A SIGKILL from outside is the host's power loss; SIGTERM is a clean halt.

The process names itself `cwlab-init` so tools reading /proc/1/comm (Ansible's service_mgr fact)
do not mistake it for systemd or a shell.
"""

import ctypes
import glob
import os
import signal
import subprocess
import sys
import time

PR_SET_NAME = 15
LOG_DIR = "/var/log/cwlab"
SSHD = ["/usr/sbin/sshd", "-D", "-e"]


def log(msg):
    print("{} init: {}".format(time.strftime("%H:%M:%S"), msg), flush=True)


def set_comm(name):
    try:
        ctypes.CDLL(None).prctl(PR_SET_NAME, name.encode(), 0, 0, 0)
    except (OSError, AttributeError):
        pass


def rc_scripts(prefix):
    return sorted(glob.glob(f"/etc/rc2.d/{prefix}[0-9][0-9]*"))


def run_rc(action, scripts):
    with open(os.path.join(LOG_DIR, "rc.log"), "ab") as out:
        for script in scripts:
            try:
                rc = subprocess.run(
                    [script, action], stdin=subprocess.DEVNULL, stdout=out, stderr=out, timeout=30, check=False
                )
                log(f"{os.path.basename(script)} {action} -> {rc.returncode}")
            except (OSError, subprocess.SubprocessError) as exc:
                log(f"{script} {action} failed: {exc}")


def start_sshd():
    out = open(os.path.join(LOG_DIR, "sshd.log"), "ab")
    try:
        return subprocess.Popen(SSHD, stdin=subprocess.DEVNULL, stdout=out, stderr=out, start_new_session=True).pid
    finally:
        out.close()


def halt(signum, frame):
    log(f"halt requested (signal {signum})")
    run_rc("stop", list(reversed(rc_scripts("S"))))
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    os.kill(-1, signal.SIGTERM)
    time.sleep(1)
    os.kill(-1, signal.SIGKILL)
    sys.exit(0)


def main():
    set_comm("cwlab-init")
    os.environ.update(PATH="/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", HOME="/root")
    os.makedirs(LOG_DIR, exist_ok=True)
    os.makedirs("/run/sshd", mode=0o755, exist_ok=True)
    signal.signal(signal.SIGTERM, halt)
    if not glob.glob("/etc/ssh/ssh_host_*_key"):
        # First boot: this host's own keys, kept on its disk (/etc/ssh) across power cycles.
        subprocess.run(["ssh-keygen", "-A"], check=False, stdout=subprocess.DEVNULL)
        log("generated SSH host keys")
    sshd, started = start_sshd(), time.monotonic()
    log(f"sshd started (pid {sshd})")
    run_rc("start", rc_scripts("S"))
    log("boot complete")
    backoff = 0.5
    while True:
        try:
            pid, status = os.wait()
        except ChildProcessError:
            time.sleep(1)
            continue
        if pid == sshd:
            # Back off only while sshd keeps dying quickly (e.g. a broken config pushed by a test).
            backoff = 0.5 if time.monotonic() - started > 10 else min(backoff * 2, 10)
            log(f"sshd exited (status {status}); restarting in {backoff}s")
            time.sleep(backoff)
            sshd, started = start_sshd(), time.monotonic()


if __name__ == "__main__":
    main()
