"""Command line: python -m cwlab {up,down,status,fault,power,inventory,ssh} (PYTHONPATH=tests/lab)."""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from .lab import PROFILES, Lab
from .sysutil import LabError


def _fault_text(faults: dict) -> str:
    parts = []
    if "profile" in faults:
        parts.append(f"profile={faults['profile']}")
    if "loss" in faults:
        parts.append(f"loss={faults['loss'] * 100:g}%")
    if "rate" in faults:
        parts.append(f"rate={faults['rate']}")
    if "outage" in faults:
        parts.append(f"outage={faults['outage']['remaining']:g}s left")
    return " ".join(parts) or "-"


def cmd_status(lab: Lab, args) -> int:
    st = lab.status()
    if args.json:
        print(json.dumps(st, indent=2))
        return 0 if st["up"] else 3
    if not st["hosts"]:
        stray = st.get("stray_netns") or []
        print(f"lab: down (no state in {st['labdir']})" + (f"; stray namespaces: {' '.join(stray)}" if stray else ""))
        return 3
    print(f"{'HOST':<20} {'STATE':<5} {'PID':>7}  {'ADDRESS':<15} {'NETNS':<7} {'ENV':<6} FAULTS")
    for h in st["hosts"]:
        pid = str(h["pid"]) if h["pid"] else "-"
        print(
            f"{h['name']:<20} {h['state']:<5} {pid:>7}  {h['address']:<15} {h['netns']:<7} {h['env_type']:<6} "
            f"{_fault_text(h['faults'])}"
        )
    p = st["prometheus"]
    print(f"prometheus: {'up' if p['running'] else 'DOWN'} {p['url']} (pid {p['pid']})")
    for service, m in sorted((st.get("monitoring") or {}).items()):
        print(f"{service}: {'up' if m['running'] else 'DOWN'} (pid {m['pid']})")
    up = sum(h["state"] == "up" for h in st["hosts"])
    print(f"lab: {up}/{len(st['hosts'])} hosts up; state {st['labdir']}")
    return 0 if st["up"] else 3


def cmd_fault(lab: Lab, args) -> int:
    if args.action == "show":
        faults = lab.faults()
        if args.json:
            print(json.dumps(faults, indent=2))
        elif not faults:
            print("no faults")
        for name, f in sorted(faults.items()):
            if not args.json:
                print(f"{name:<20} {_fault_text(f)}")
        return 0
    if args.action == "clear":
        names = lab.clear_faults(args.target or "all")
        print(f"cleared faults on {len(names)} hosts: {' '.join(names)}")
        return 0
    if not args.target:
        raise LabError("fault set needs a target: a host, all, cloud/onprem/edge, an az or a site")
    loss = None
    if args.loss is not None:
        if not 0 < args.loss < 100:
            raise LabError(f"--loss {args.loss} must be a percentage between 0 and 100")
        loss = args.loss / 100.0
    names = lab.fault(args.target, loss=loss, rate=args.rate, outage=args.outage, profile=args.profile)
    print(f"faults on {len(names)} hosts: {' '.join(names)}")
    for name, f in sorted(lab.faults().items()):
        if name in names:
            print(f"  {name:<20} {_fault_text(f)}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="cwlab", description="changeward lab: real hybrid hosts from namespaces")
    p.add_argument("--lab-dir", help="state directory (default $CW_LAB_DIR or /var/lib/changeward-lab)")
    sub = p.add_subparsers(dest="cmd", required=True)
    up = sub.add_parser("up", help="start the lab (running hosts are left alone)")
    up.add_argument("--hosts", type=int, default=None, help="number of hosts (default 12, or the running lab's)")
    up.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for every host to answer")
    down = sub.add_parser("down", help="stop everything and remove namespaces, links and disks")
    down.add_argument("--keep-disks", action="store_true", help="keep host disks and Prometheus data")
    st = sub.add_parser("status", help="per host: up/off/down, pid, address, faults")
    st.add_argument("--json", action="store_true")
    fault = sub.add_parser("fault", help="link faults: set, clear, show")
    fault.add_argument("action", choices=["set", "clear", "show"])
    fault.add_argument("target", nargs="?", help="host, all, cloud|onprem|edge, an az, a site (comma list ok)")
    fault.add_argument("--loss", type=float, help="packet loss in percent, each direction")
    fault.add_argument("--rate", help="rate limit both directions, tc syntax: 500kbit, 2mbit")
    fault.add_argument("--outage", type=float, help="drop everything for this many seconds, then recover")
    fault.add_argument("--profile", choices=sorted(PROFILES), help="named fault set (flaky = 3%% loss + 2mbit)")
    fault.add_argument("--json", action="store_true")
    power = sub.add_parser("power", help="power stop (loss of power), start or restart hosts")
    power.add_argument("action", choices=["stop", "start", "restart"])
    power.add_argument("target", help="host, or a group as for fault")
    power.add_argument("--no-wait", action="store_true", help="do not wait for sshd/demo after start")
    inv = sub.add_parser("inventory", help="rewrite the inventory files for the running lab")
    inv.add_argument("--out", help="directory (default inventories/lab/generated)")
    ssh = sub.add_parser("ssh", help="ssh to a host as root with the lab key")
    ssh.add_argument("host")
    ssh.add_argument("command", nargs=argparse.REMAINDER)
    keeper = sub.add_parser("_keeper", help=argparse.SUPPRESS)
    keeper.add_argument("labdir")
    return p


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    if args.cmd == "_keeper":
        from .keeper import serve

        return serve(Path(args.labdir))
    lab = Lab.load(args.lab_dir, getattr(args, "out", None))
    try:
        if args.cmd == "up":
            lab.up(args.hosts, timeout=args.timeout, log=print)
        elif args.cmd == "down":
            lab.down(keep_disks=args.keep_disks, log=print)
        elif args.cmd == "status":
            return cmd_status(lab, args)
        elif args.cmd == "fault":
            return cmd_fault(lab, args)
        elif args.cmd == "power":
            names = lab.power(args.action, args.target, wait=not args.no_wait)
            print(f"power {args.action}: {' '.join(names)}")
        elif args.cmd == "inventory":
            for path in lab.write_inventory():
                print(path)
        elif args.cmd == "ssh":
            argv = lab.ssh_argv(args.host, *args.command)
            os.execvp(argv[0], argv)  # noqa: S606 - hand the terminal to ssh
    except LabError as exc:
        print(f"cwlab: error: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
