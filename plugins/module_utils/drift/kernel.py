# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Kernel state read from /proc: sysctl values (/proc/sys) and listening sockets (/proc/net/{tcp,udp}{,6}).

No tool is run: reading /proc is what sysctl(8) and ss(8) do, and it works the same in a container or a
network namespace, where only the namespace's own values are visible.
"""

import errno
import ipaddress
import os
import sys

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.spec import normalise_sysctl_value

TCP_LISTEN = "0A"


def sysctl_path(root, name):
    rel = name if "/" in name else name.replace(".", "/")
    return os.path.join(root, "proc/sys", rel.strip("/"))


def check_sysctls(out, sysctls, root="/"):
    for spec in sysctls:
        out.count("sysctl")
        path = sysctl_path(root, spec["name"])
        try:
            with open(path, "r") as handle:
                actual = normalise_sysctl_value(handle.read())
        except (FileNotFoundError, NotADirectoryError):
            out.cannot("sysctl", spec["name"], "not present on this kernel (%s)" % path)
            continue
        except OSError as exc:
            out.cannot("sysctl", spec["name"], "cannot read %s: %s" % (path, exc.strerror))
            continue
        if actual != spec["value"]:
            out.add("sysctl", spec["name"], "value", spec["value"], actual)


def _address(hex_addr):
    raw = bytes.fromhex(hex_addr)
    if sys.byteorder == "little":
        # /proc prints each 32-bit word of the address as a host-order integer
        raw = b"".join(raw[i : i + 4][::-1] for i in range(0, len(raw), 4))
    return str(ipaddress.ip_address(raw))


def read_sockets(root, protocol):
    """[(address, port)] of listening sockets of ``protocol`` (tcp: LISTEN; udp: bound, unconnected)."""
    found = []
    for suffix in ("", "6"):
        path = os.path.join(root, "proc/net", protocol + suffix)
        try:
            with open(path, "r") as handle:
                lines = handle.read().splitlines()[1:]
        except OSError as exc:
            if suffix == "6" and exc.errno == errno.ENOENT:
                continue  # no IPv6 in this kernel or namespace: no IPv6 sockets either
            raise
        for line in lines:
            fields = line.split()
            if len(fields) < 4:
                continue
            local, remote, state = fields[1], fields[2], fields[3]
            if protocol == "tcp" and state != TCP_LISTEN:
                continue
            if protocol == "udp" and not remote.endswith(":0000"):
                continue
            addr, port = local.rsplit(":", 1)
            found.append((_address(addr), int(port, 16)))
    return found


def check_ports(out, ports, root="/"):
    sockets = {}
    for spec in ports:
        out.count("port")
        item = "%s/%d" % (spec["protocol"], spec["port"]) + ("@" + spec["address"] if spec["address"] else "")
        proto = spec["protocol"]
        if proto not in sockets:
            try:
                sockets[proto] = read_sockets(root, proto)
            except (OSError, ValueError) as exc:
                sockets[proto] = exc
        found = sockets[proto]
        if isinstance(found, Exception):
            out.cannot("port", item, "cannot read /proc/net/%s: %s" % (proto, getattr(found, "strerror", found)))
            continue
        addresses = sorted({a for a, p in found if p == spec["port"]})
        listening = spec["address"] in addresses if spec["address"] else bool(addresses)
        if spec["state"] == "listening" and not listening:
            if addresses:
                out.add("port", item, "address", spec["address"], addresses)
            else:
                out.add("port", item, "state", "listening", "closed")
        elif spec["state"] == "closed" and listening:
            out.add("port", item, "state", "closed", "listening")
