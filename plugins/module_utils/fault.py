# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Faults for rehearsals on a managed host, undone by the host itself.

``plan`` turns a fault into the commands that apply it and the commands that undo it (argv lists, pure, so it is
unit-tested without a host). ``arm`` starts a detached sleeper - its own session, no terminal, not a child of the
SSH session or of Ansible - that runs the undo commands when the fault's time is up, so the fault ends even when
the controller that started it disappears. The fault's record (what was done, how to undo it, the sleeper's pid)
is kept in ``STATE_DIR/<id>.json`` until it is undone.

Network faults use iptables (``-m statistic`` for loss, DROP per peer for a partition, each rule tagged with a
comment naming the fault) and ``tc ... tbf`` for latency (a token bucket whose queue delays packets; sch_netem
is not needed). Process faults send a signal to processes by name; a service fault stops an init service and
starts it again at the end. Standard library only: it runs on the managed host.
"""

from __future__ import absolute_import, division, print_function

import json
import os
import re
import subprocess
import sys

KINDS = ("loss", "latency", "partition", "kill", "stop")
STATE_DIR = "/var/lib/changeward/faults"
MAX_DURATION = 24 * 3600
ID_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ADDR_RE = re.compile(r"^[0-9A-Fa-f:.]+(/[0-9]{1,3})?$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@+-]{0,63}$")
SIGNALS = ("TERM", "KILL", "INT", "HUP", "STOP")


class FaultError(Exception):
    """A fault that cannot be planned or applied; the message names what is wrong."""


def _tag(fault_id):
    return ["-m", "comment", "--comment", "changeward-fault-" + fault_id]


def plan(
    kind,
    fault_id,
    duration,
    peers=(),
    probability=None,
    rate=None,
    delay_ms=None,
    interface="eth0",
    process=None,
    signal="KILL",
    service=None,
    restart_command=None,
):
    """(apply, undo): lists of argv lists for the fault; every input is checked first."""
    if kind not in KINDS:
        raise FaultError("kind must be one of %s, got %r" % (", ".join(KINDS), kind))
    if not ID_RE.match(fault_id or ""):
        raise FaultError("id must be letters, digits, '.', '_' or '-' (at most 64), got %r" % (fault_id,))
    if not (isinstance(duration, (int, float)) and 0 < duration <= MAX_DURATION):
        raise FaultError("duration must be more than 0 and at most %d seconds, got %r" % (MAX_DURATION, duration))
    if not NAME_RE.match(interface or ""):
        raise FaultError("interface %r is not an interface name" % (interface,))
    apply, undo = [], []
    if kind == "loss":
        if probability is None or not 0 < probability <= 1:
            raise FaultError("loss needs probability in (0, 1], got %r" % (probability,))
        for chain in ("INPUT", "OUTPUT"):
            rule = [chain, "-m", "statistic", "--mode", "random", "--probability", "%g" % probability]
            rule += [*_tag(fault_id), "-j", "DROP"]
            apply.append(["iptables", "-w", "-I", *rule])
            undo.append(["iptables", "-w", "-D", *rule])
    elif kind == "partition":
        peers = list(peers or [])
        if not peers or not all(isinstance(p, str) and ADDR_RE.match(p) for p in peers):
            raise FaultError("partition needs peers: the addresses (or CIDRs) cut off from this host, got %r" % peers)
        for peer in peers:
            for chain, flag in (("INPUT", "-s"), ("OUTPUT", "-d")):
                rule = [chain, flag, peer, *_tag(fault_id), "-j", "DROP"]
                apply.append(["iptables", "-w", "-I", *rule])
                undo.append(["iptables", "-w", "-D", *rule])
    elif kind == "latency":
        if not (isinstance(delay_ms, (int, float)) and 0 < delay_ms <= 60000):
            raise FaultError("latency needs delay_ms in (0, 60000], got %r" % (delay_ms,))
        rate = rate or "1mbit"
        if not re.match(r"^[0-9]+(\.[0-9]+)?[kmg]?bit$", rate):
            raise FaultError("rate must be like 512kbit or 1mbit, got %r" % (rate,))
        # tbf delays what its bucket cannot pass at once, up to `latency`; a small burst makes every burst queue
        apply.append(
            [
                "tc",
                "qdisc",
                "replace",
                "dev",
                interface,
                "root",
                "tbf",
                "rate",
                rate,
                "burst",
                "1600",
                "latency",
                "%dms" % int(delay_ms),
            ]
        )
        undo.append(["tc", "qdisc", "del", "dev", interface, "root"])
    elif kind == "kill":
        if not NAME_RE.match(process or ""):
            raise FaultError("kill needs process: the process name, got %r" % (process,))
        if signal not in SIGNALS:
            raise FaultError("signal must be one of %s, got %r" % (", ".join(SIGNALS), signal))
        apply.append(["pkill", "-" + signal, "-x", process])
        if restart_command:
            undo.append(list(restart_command))
    elif kind == "stop":
        if not NAME_RE.match(service or ""):
            raise FaultError("stop needs service: the init service's name, got %r" % (service,))
        apply.append(["service", service, "stop"])
        undo.append(["service", service, "start"])
    return apply, undo


def record_path(fault_id, state_dir=STATE_DIR):
    return os.path.join(state_dir, fault_id + ".json")


# The detached undo, self-contained: the module's own files are gone once the module returns.
SLEEPER = """
import json, os, subprocess, sys, time
path = sys.argv[1]
try:
    with open(path) as fh:
        ends = float(json.load(fh)["ends_at"])
except (OSError, ValueError, KeyError):
    sys.exit(0)
time.sleep(max(0.0, ends - time.time()))
try:
    with open(path) as fh:
        record = json.load(fh)
except (OSError, ValueError):
    sys.exit(0)  # undone early (state absent)
for argv in record.get("undo") or []:
    subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)
try:
    os.unlink(path)
except OSError:
    pass
"""


def sleeper_argv(python, fault_id, state_dir=STATE_DIR):
    """The detached undo: the SLEEPER source run with the fault's record."""
    return [python, "-c", SLEEPER, record_path(fault_id, state_dir)]


def run_all(commands, runner):
    """Run commands in order with runner (AnsibleModule.run_command: argv -> (rc, stdout, stderr));
    [(argv, rc, stderr)]; a rule already gone on undo is reported, not fatal."""
    out = []
    for argv in commands:
        rc, _stdout, stderr = runner(argv)
        out.append((argv, rc, (stderr or "").strip()))
    return out


def arm(record, python=None, state_dir=STATE_DIR):
    """Write the record and start the detached sleeper; returns its pid. The sleeper is in its own session, with no
    terminal and no inherited descriptors, so closing Ansible's connection or killing the controller leaves it."""
    os.makedirs(state_dir, mode=0o700, exist_ok=True)
    path = record_path(record["id"], state_dir)
    with open(path + ".tmp", "w") as fh:
        json.dump(record, fh)
    os.chmod(path + ".tmp", 0o600)
    os.replace(path + ".tmp", path)
    devnull = open(os.devnull, "r+b")
    # Detached on purpose: run_command would wait for it, and the sleeper must outlive the module and the controller.
    proc = subprocess.Popen(  # pylint: disable=ansible-bad-function
        sleeper_argv(python or sys.executable, record["id"], state_dir),
        stdin=devnull,
        stdout=devnull,
        stderr=devnull,
        close_fds=True,
        start_new_session=True,
        cwd="/",
    )
    devnull.close()
    return proc.pid


def undo(path, runner):
    """Undo the fault in the record at path and remove the record; [(argv, rc, stderr)]."""
    try:
        with open(path) as fh:
            record = json.load(fh)
    except (OSError, ValueError):
        return []
    done = run_all(record.get("undo") or [], runner)
    try:
        os.unlink(path)
    except OSError:
        pass
    return done
