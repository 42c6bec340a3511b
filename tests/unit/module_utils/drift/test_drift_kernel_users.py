"""sysctl values, listening sockets and local users, from a fake /proc and /etc and from the real /proc."""

import os
import socket

from drifthelpers import write

from ansible_collections.changeward.hybrid.plugins.module_utils.drift import kernel
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.findings import Findings
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.scan import scan
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.spec import normalise

HEADER = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode\n"
# 127.0.0.1:9107 LISTEN, 0.0.0.0:22 LISTEN, 127.0.0.1:5000 ESTABLISHED (not listening)
TCP = HEADER + (
    "   0: 0100007F:2393 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 1\n"
    "   1: 00000000:0016 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 2\n"
    "   2: 0100007F:1388 0100007F:C000 01 00000000:00000000 00:00000000 00000000     0        0 3\n"
)
# [::1]:8443 LISTEN
TCP6 = HEADER + (
    "   0: 00000000000000000000000001000000:20FB 00000000000000000000000000000000:0000 0A 00000000:00000000 "
    "00:00000000 00000000     0        0 4\n"
)


def fake_root(tmp_path):
    write(tmp_path / "proc/sys/net/ipv4/ip_forward", "1\n")
    write(tmp_path / "proc/sys/net/ipv4/tcp_rmem", "4096\t131072\t6291456\n")
    write(tmp_path / "proc/net/tcp", TCP)
    write(tmp_path / "proc/net/tcp6", TCP6)
    write(tmp_path / "proc/net/udp", HEADER)
    write(tmp_path / "etc/passwd", "root:x:0:0:root:/root:/bin/bash\napp:x:990:990::/srv/app:/usr/sbin/nologin\n")
    return str(tmp_path)


def test_sysctl_values_whitespace_insensitive_and_missing_is_unknown(tmp_path):
    result = scan(
        {
            "sysctls": [
                {"name": "net.ipv4.ip_forward", "value": 0},
                {"name": "net.ipv4.tcp_rmem", "value": "4096 131072 6291456"},
                {"name": "net/ipv4/no_such_knob", "value": 1},
            ]
        },
        root=fake_root(tmp_path),
    )
    assert result["findings"] == [
        {"class": "sysctl", "item": "net.ipv4.ip_forward", "attribute": "value", "expected": "0", "actual": "1"}
    ]
    assert [u["item"] for u in result["unknown"]] == ["net/ipv4/no_such_knob"]


def test_listening_ports_from_proc(tmp_path):
    root = fake_root(tmp_path)
    assert sorted(kernel.read_sockets(root, "tcp")) == [("0.0.0.0", 22), ("127.0.0.1", 9107), ("::1", 8443)]  # noqa: S104 - parsed, not bound
    result = scan(
        {
            "ports": [
                {"port": 9107, "address": "127.0.0.1"},
                {"port": 22},
                {"port": 8443, "address": "::1"},
                {"port": 5000},  # only an established connection: not listening
                {"port": 22, "address": "127.0.0.1"},  # listens, but on another address
                {"port": 9107, "state": "closed"},
                {"port": 53, "protocol": "udp", "state": "closed"},
            ]
        },
        root=root,
    )
    assert [(f["item"], f["attribute"], f["actual"]) for f in result["findings"]] == [
        ("tcp/5000", "state", "closed"),
        ("tcp/22@127.0.0.1", "address", ["0.0.0.0"]),  # noqa: S104
        ("tcp/9107", "state", "listening"),
    ]


def test_unreadable_proc_net_is_unknown(tmp_path):
    out = Findings()
    kernel.check_ports(out, normalise({"ports": [{"port": 1}]})["ports"], root=str(tmp_path))
    assert out.drift == [] and out.status() == "unknown"


def test_real_listening_socket_and_real_sysctl():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen(1)
        port = sock.getsockname()[1]
        with open("/proc/sys/net/ipv4/ip_forward") as handle:
            forward = handle.read().strip()
        baseline = {
            "ports": [{"port": port, "address": "127.0.0.1"}],
            "sysctls": [{"name": "net.ipv4.ip_forward", "value": forward}],
        }
        assert scan(baseline)["status"] == "in_sync"
    assert scan(baseline)["findings"][0]["actual"] == "closed"


def test_users(tmp_path):
    root = fake_root(tmp_path)
    result = scan(
        {
            "users": [
                {"name": "root", "uid": 0, "shell": "/bin/bash"},
                {"name": "app", "uid": 991, "home": "/srv/app"},
                {"name": "intruder", "state": "absent"},
                {"name": "missing"},
                {"name": "app2", "state": "absent"},
            ]
        },
        root=root,
    )
    assert [(f["item"], f["attribute"], f["expected"], f["actual"]) for f in result["findings"]] == [
        ("app", "uid", 991, 990),
        ("missing", "state", "present", "absent"),
    ]
    os.unlink(os.path.join(root, "etc/passwd"))
    assert scan({"users": [{"name": "root"}]}, root=root)["status"] == "unknown"
