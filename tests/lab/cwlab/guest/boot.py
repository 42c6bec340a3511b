"""Stage 1 of a lab host's boot. Runs as PID 1 of the host's fresh PID/mount/UTS namespaces (inside
its network namespace), still seeing the machine's filesystem. It builds the host's root (an overlay
whose lower layer is the machine's /), provisions it on first boot, mounts the pseudo filesystems,
hides the lab's state directory, then chroots and execs the host's init (which stays PID 1).

Usage: boot.py <spec.json>   (spec: name, address, labdir, hostdir, public_key, labels)
"""

import json
import os
import shutil
import socket
import subprocess
import sys
import uuid

GUEST_DIR = os.path.dirname(os.path.abspath(__file__))
ENABLED_SERVICE = "S01demo-service"
DEFAULT_CONFIG = {"version": "1.0.0", "error_rate": 0.0, "latency_ms": 20, "latency_jitter_ms": 5, "healthy": True}
SSHD_CONF = """\
# changeward lab: root over SSH with the lab key only.
PermitRootLogin prohibit-password
PubkeyAuthentication yes
PasswordAuthentication no
KbdInteractiveAuthentication no
UsePAM no
AuthorizedKeysFile /etc/ssh/cwlab/authorized_keys
PidFile /run/sshd.pid
UseDNS no
MaxStartups 100:30:200
"""


def sh(*argv):
    subprocess.run(argv, check=True)


def mount(fstype, source, target, options=None):
    argv = ["mount", "-t", fstype]
    if options:
        argv += ["-o", options]
    sh(*argv, source, target)


def write(path, text, mode=0o644):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    tmp = path + ".cwlab-tmp"
    with open(tmp, "w") as fh:
        fh.write(text)
    os.chmod(tmp, mode)
    os.replace(tmp, path)


def provision(root, spec):
    """First boot: turn a copy of the machine into a small lab host."""
    # Only the lab's own services start at boot; the machine's (postgresql, prometheus, ...) do not.
    rc2 = os.path.join(root, "etc/rc2.d")
    os.makedirs(rc2, exist_ok=True)
    for entry in os.listdir(rc2):
        if entry.startswith("S"):
            os.unlink(os.path.join(rc2, entry))
    shutil.copy2(os.path.join(GUEST_DIR, "demo-service.initd"), os.path.join(root, "etc/init.d/demo-service"))
    os.chmod(os.path.join(root, "etc/init.d/demo-service"), 0o755)  # noqa: S103 - an init script
    os.symlink("../init.d/demo-service", os.path.join(rc2, ENABLED_SERVICE))
    write(os.path.join(root, "etc/demo-service/config.json"), json.dumps(DEFAULT_CONFIG, indent=2) + "\n")
    # The machine's SSH host keys must not be shared: init generates this host's own.
    ssh_dir = os.path.join(root, "etc/ssh")
    for entry in os.listdir(ssh_dir):
        if entry.startswith("ssh_host_"):
            os.unlink(os.path.join(ssh_dir, entry))
    write(os.path.join(ssh_dir, "sshd_config.d/00-cwlab.conf"), SSHD_CONF)
    write(os.path.join(root, "etc/machine-id"), uuid.uuid4().hex + "\n", 0o444)
    write(os.path.join(root, "var/lib/cwlab/provisioned"), "1\n")


def refresh(root, spec, upper):
    """Every boot: the lab's own files (code, key, identity) follow the lab, not the host's disk."""
    # A package installed on the machine after the host's first boot (e.g. alertmanager) shows its rc
    # link through the lower layer; only links on the host's own disk start services in the host.
    rc2 = os.path.join(root, "etc/rc2.d")
    for entry in os.listdir(rc2) if os.path.isdir(rc2) else []:
        if entry.startswith("S") and not os.path.lexists(os.path.join(upper, "etc/rc2.d", entry)):
            os.unlink(os.path.join(rc2, entry))
    opt = os.path.join(root, "opt/cwlab")
    os.makedirs(opt, exist_ok=True)
    for name in ("init.py", "demo_service.py"):
        shutil.copy2(os.path.join(GUEST_DIR, name), os.path.join(opt, name))
    write(os.path.join(root, "etc/ssh/cwlab/authorized_keys"), spec["public_key"].strip() + "\n", 0o600)
    write(os.path.join(root, "etc/hostname"), spec["name"] + "\n")
    write(
        os.path.join(root, "etc/hosts"),
        "127.0.0.1\tlocalhost\n{}\t{}\n198.18.0.1\tcontroller\n".format(spec["address"], spec["name"]),
    )
    host = {"name": spec["name"], "address": spec["address"], "labels": spec["labels"]}
    write(os.path.join(root, "etc/cwlab/host.json"), json.dumps(host, indent=2, sort_keys=True) + "\n")


def main():
    with open(sys.argv[1]) as fh:
        spec = json.load(fh)
    hostdir = spec["hostdir"]
    root = os.path.join(hostdir, "root")
    upper, work = os.path.join(hostdir, "upper"), os.path.join(hostdir, "work")
    for d in (root, upper, work):
        os.makedirs(d, exist_ok=True)
    socket.sethostname(spec["name"])
    mount("overlay", "overlay", root, f"lowerdir=/,upperdir={upper},workdir={work}")
    if not os.path.exists(os.path.join(root, "var/lib/cwlab/provisioned")):
        provision(root, spec)
    refresh(root, spec, upper)
    mount("proc", "proc", os.path.join(root, "proc"))
    mount("tmpfs", "tmpfs", os.path.join(root, "tmp"), "mode=1777,size=256m")
    mount("tmpfs", "tmpfs", os.path.join(root, "run"), "mode=755,size=64m")
    sh("mount", "--rbind", "/dev", os.path.join(root, "dev"))
    mount("tmpfs", "tmpfs", os.path.join(root, "dev/shm"), "mode=1777,size=64m")
    try:
        mount("sysfs", "sysfs", os.path.join(root, "sys"), "ro")
    except subprocess.CalledProcessError:
        print("boot: sysfs not mounted (not supported here); continuing", flush=True)
    # Hosts must not see the lab's state (other hosts' disks, the lab key) through the lower layer.
    hidden = os.path.join(root, spec["labdir"].lstrip("/"))
    if os.path.isdir(hidden):
        mount("tmpfs", "tmpfs", hidden, "mode=700,size=1m")
    os.chroot(root)
    os.chdir("/")
    os.execv("/usr/bin/python3", ["/usr/bin/python3", "/opt/cwlab/init.py"])  # noqa: S606 - become init


if __name__ == "__main__":
    main()
