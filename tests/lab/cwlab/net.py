"""Lab networking: the controller address, one network namespace + veth pair per host, link faults.

Faults live inside the host's namespace (iptables chains hooked on eth0 only, so the host's own
loopback traffic is never affected) and as tbf qdiscs on both ends of the veth pair.
sch_netem is not available on these machines, hence statistic-match drops and tbf.
"""

from __future__ import annotations

import contextlib
import re

from .fleet import CONTROLLER_IF, CONTROLLER_IP, NETNS_PREFIX, VETH_PREFIX, HostSpec
from .sysutil import LabError, run

LOSS_CHAIN = "CWFAULT"
OUTAGE_CHAIN = "CWOUTAGE"
RATE_RE = re.compile(r"^(\d+(?:\.\d+)?)(bit|kbit|mbit|gbit)$")
RATE_UNITS = {"bit": 1, "kbit": 1_000, "mbit": 1_000_000, "gbit": 1_000_000_000}


def netns_list() -> list[str]:
    out = run(["ip", "netns", "list"], check=False)
    return [line.split()[0] for line in out.splitlines() if line.strip()]


def lab_netns() -> list[str]:
    return [n for n in netns_list() if re.fullmatch(rf"{NETNS_PREFIX}\d+", n)]


def lab_links() -> list[str]:
    """Controller-side links the lab owns: cw0 and every cwv<n>."""
    out = run(["ip", "-o", "link", "show"], check=False)
    names = []
    for line in out.splitlines():
        parts = line.split(":", 2)
        if len(parts) < 2:
            continue
        name = parts[1].strip().split("@", 1)[0]
        if name == CONTROLLER_IF or re.fullmatch(rf"{VETH_PREFIX}\d+", name):
            names.append(name)
    return names


def link_exists(name: str, netns: str | None = None) -> bool:
    argv = ["ip"] + (["-n", netns] if netns else []) + ["link", "show", "dev", name]
    return bool(run(argv, check=False).strip())


def ensure_controller() -> None:
    """The controller's lab address on cw0, so controller services can bind it with no host up.

    cw0 is a dummy interface where the kernel has one; this kernel has no dummy driver, so an empty
    bridge (no ports) stands in: it holds the address and nothing else.
    """
    if not link_exists(CONTROLLER_IF):
        try:
            run(["ip", "link", "add", CONTROLLER_IF, "type", "dummy"])
        except LabError:
            run(["ip", "link", "add", CONTROLLER_IF, "type", "bridge"])
    _no_ipv6(CONTROLLER_IF)
    run(["ip", "addr", "replace", f"{CONTROLLER_IP}/32", "dev", CONTROLLER_IF])
    run(["ip", "link", "set", CONTROLLER_IF, "up"])


def _no_ipv6(ifname: str, netns: str | None = None) -> None:
    # The lab is IPv4 only: no link-local IPv6 addresses outside 198.18.0.0/15 on lab links.
    prefix = ["ip", "netns", "exec", netns] if netns else []
    run([*prefix, "sysctl", "-qw", f"net.ipv6.conf.{ifname}.disable_ipv6=1"], check=False)


def ensure_host(spec: HostSpec, faults: dict | None = None) -> None:
    """Create or repair the host's namespace and link (idempotent; run before every boot)."""
    ns, veth = spec.netns, spec.veth
    if ns not in netns_list():
        run(["ip", "netns", "add", ns])
    if not link_exists(veth):
        if link_exists("eth0", ns):  # a half-built earlier attempt
            run(["ip", "-n", ns, "link", "del", "eth0"])
        run(["ip", "link", "add", veth, "type", "veth", "peer", "name", "eth0", "netns", ns])
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.all.disable_ipv6=1"], check=False)
    run(["ip", "netns", "exec", ns, "sysctl", "-qw", "net.ipv6.conf.default.disable_ipv6=1"], check=False)
    _no_ipv6(veth)
    run(["ip", "link", "set", veth, "up"])
    run(["ip", "-n", ns, "link", "set", "lo", "up"])
    run(["ip", "-n", ns, "link", "set", "eth0", "up"])
    run(["ip", "-n", ns, "addr", "replace", f"{spec.address}/32", "dev", "eth0"])
    run(["ip", "-n", ns, "route", "replace", "default", "via", CONTROLLER_IP, "dev", "eth0", "onlink"])
    run(["ip", "route", "replace", f"{spec.address}/32", "dev", veth, "src", CONTROLLER_IP])
    # Hosts reach each other through the controller (services with upstreams on other hosts). Forwarding is
    # switched on for the lab's links only, never machine-wide (net.ipv4.ip_forward stays as it is).
    run(["sysctl", "-qw", f"net.ipv4.conf.{veth}.forwarding=1"], check=False)
    apply_faults(spec, faults or {})


def link_down(spec: HostSpec) -> None:
    """The host's NIC loses power with it: the controller then sees 'no route to host'."""
    run(["ip", "-n", spec.netns, "link", "set", "eth0", "down"], check=False)


def remove_host(netns: str, veth: str | None = None) -> None:
    if veth and link_exists(veth):
        run(["ip", "link", "del", veth], check=False)
    if netns in netns_list():
        run(["ip", "netns", "del", netns], check=False)


def remove_controller() -> None:
    if link_exists(CONTROLLER_IF):
        run(["ip", "link", "del", CONTROLLER_IF], check=False)


def parse_rate(rate: str) -> int:
    m = RATE_RE.match(str(rate).strip().lower())
    if not m:
        raise LabError(f"rate {rate!r} is not like 500kbit, 2mbit or 1gbit")
    bps = int(float(m.group(1)) * RATE_UNITS[m.group(2)])
    if bps < 8_000:
        raise LabError(f"rate {rate!r} is below 8kbit")
    return bps


def _tbf(rate: str) -> list[str]:
    bps = parse_rate(rate)
    # Burst of ~20 ms at the rate (at least a few full packets) keeps tbf accurate at low and high rates.
    burst = max(bps // 8 // 50, 4 * 1514)
    return ["tbf", "rate", f"{bps}bit", "burst", str(burst), "latency", "400ms"]


def _iptables_rules(faults: dict) -> str:
    lines = ["*filter", f":{LOSS_CHAIN} - [0:0]", f":{OUTAGE_CHAIN} - [0:0]"]
    for hook, flag in (("INPUT", "-i"), ("OUTPUT", "-o")):
        lines.append(f"-A {hook} {flag} eth0 -j {OUTAGE_CHAIN}")
        lines.append(f"-A {hook} {flag} eth0 -j {LOSS_CHAIN}")
    loss = faults.get("loss")
    if loss:
        lines.append(f"-A {LOSS_CHAIN} -m statistic --mode random --probability {loss:.5f} -j DROP")
    if faults.get("outage"):
        lines.append(f"-A {OUTAGE_CHAIN} -j DROP")
    lines.append("COMMIT")
    return "\n".join(lines) + "\n"


def apply_faults(spec: HostSpec, faults: dict) -> None:
    """Make the host's link match `faults` exactly: {loss: 0..1, rate: '2mbit', outage: {...}}."""
    # iptables-restore replaces the whole filter table at once: clearing is the same call with no faults.
    run(["ip", "netns", "exec", spec.netns, "iptables-restore", "-w", "5"], input=_iptables_rules(faults))
    rate = faults.get("rate")
    # Host egress on its eth0, host ingress as the controller-side veth's egress.
    for argv, dev in ((["tc", "-n", spec.netns], "eth0"), (["tc"], spec.veth)):
        if rate:
            run([*argv, "qdisc", "replace", "dev", dev, "root", *_tbf(rate)])
        else:
            run([*argv, "qdisc", "del", "dev", dev, "root"], check=False)


def end_outage_argv(spec: HostSpec, seconds: float) -> list[str]:
    """A timer process, run inside the host's namespace, that lifts an outage by itself."""
    return ["ip", "netns", "exec", spec.netns, "sh", "-c", f"sleep {seconds:.3f}; iptables -w 5 -F {OUTAGE_CHAIN}"]


def end_outage_now(spec: HostSpec) -> None:
    with contextlib.suppress(LabError):
        run(["ip", "netns", "exec", spec.netns, "iptables", "-w", "5", "-F", OUTAGE_CHAIN])
