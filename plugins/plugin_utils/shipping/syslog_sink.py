# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Syslog sink: RFC 5424 messages over TCP or TLS (RFC 5425), octet-counting framing (RFC 6587).

Each item is one message::

    <PRI>1 TIMESTAMP HOSTNAME changeward - event [changeward@32473 id="..." seq="..." ledger="..."] {json}

(32473 is the private enterprise number RFC 5612 reserves for examples; set ``sd_id`` for your own.)

Syslog over TCP has no application-level acknowledgement. A batch counts as delivered when the server
has read the whole stream: after sending, the sink half-closes the connection (TCP) or sends TLS
close_notify and waits, within the timeout, for the server to close its side - a server only does that
after reading everything before our end of stream. A reset or timeout means "not delivered": the batch is
sent again later (receivers deduplicate on the ``id`` SD parameter). What the server does with a message
after reading it (its queues, its disk) is the server's durability.
"""

from __future__ import annotations

import json
import re
import socket
import ssl

from .base import Option, Sink, check_readable, check_transport, remaining
from .errors import DeliveryError, SinkConfigError
from .httpclient import tls_context

FACILITIES = {
    "kern": 0, "user": 1, "mail": 2, "daemon": 3, "auth": 4, "syslog": 5, "lpr": 6, "news": 7, "uucp": 8,
    "cron": 9, "authpriv": 10, "ftp": 11, "local0": 16, "local1": 17, "local2": 18, "local3": 19, "local4": 20,
    "local5": 21, "local6": 22, "local7": 23,
}  # fmt: skip
SEVERITY_INFO = 6
SEVERITY_NOTICE = 5
SD_ID_RE = re.compile(r"\A[!-~]{1,32}\Z")
NAME_RE = re.compile(r"[^!-~]")  # RFC 5424 header fields are printable US-ASCII without spaces


def _header_field(value: str, limit: int) -> str:
    value = NAME_RE.sub("_", value or "")[:limit]
    return value or "-"


def _sd_escape(value) -> str:
    return str(value).replace("\\", "\\\\").replace('"', '\\"').replace("]", "\\]")


def rfc5424_time(rfc3339: str) -> str:
    """RFC 5424 allows at most 6 fractional digits."""
    if "." not in rfc3339:
        return rfc3339
    head, frac = rfc3339.rstrip("Z").split(".", 1)
    return f"{head}.{frac[:6]}Z"


def format_message(item, *, facility: int, hostname: str, app_name: str, sd_id: str) -> bytes:
    """One RFC 5424 message (without framing) for ``item``."""
    severity = SEVERITY_NOTICE if item.kind == "checkpoint" else SEVERITY_INFO
    body = item.body
    params = {"id": item.id, "kind": item.kind, "seq": item.seq, "ledger": body.get("ledger_id", "")}
    if item.kind == "event":
        params["type"] = body["event"]["type"]
        params["subject"] = body["event"]["subject"]
    sd = "[" + sd_id + "".join(f' {k}="{_sd_escape(v)}"' for k, v in params.items()) + "]"
    msg = json.dumps(body, separators=(",", ":"), sort_keys=True, ensure_ascii=True)
    header = f"<{facility * 8 + severity}>1 {rfc5424_time(item.time)} {hostname} {app_name} - {item.kind} {sd} "
    return (header + msg).encode("ascii")


def frame(message: bytes) -> bytes:
    """RFC 6587 octet counting: MSG-LEN SP SYSLOG-MSG."""
    return b"%d " % len(message) + message


class SyslogSink(Sink):
    TYPE = "syslog"
    OPTIONS = {
        "host": Option("str"),
        "port": Option("int", None, 1, 65535),
        "tls": Option("bool", False),
        "ca_file": Option("str", None),
        "cert_file": Option("str", None),
        "key_file": Option("str", None),
        "verify_tls": Option("bool", True),
        "allow_insecure_transport": Option("bool", False),
        "server_name": Option("str", None),
        "facility": Option("str", "local0", choices=tuple(FACILITIES)),
        "app_name": Option("str", "changeward"),
        "hostname": Option("str", None),
        "sd_id": Option("str", "changeward@32473"),
        "max_message_bytes": Option("int", 65536, 480, 16 * 1024 * 1024),
    }

    def __init__(self, spec):
        super().__init__(spec)
        self.host = spec["host"]
        self.port = spec["port"] or (6514 if spec["tls"] else 601)
        if not SD_ID_RE.match(spec["sd_id"]) or any(c in spec["sd_id"] for c in ' =]"'):
            raise SinkConfigError(self.name, "sd_id", "must be 1-32 printable characters without space, =, ] or \"")
        for field in ("ca_file", "cert_file", "key_file"):
            check_readable(spec, field)
        if spec["key_file"] and not spec["cert_file"]:
            raise SinkConfigError(self.name, "key_file", "needs cert_file too")
        self._ctx = None
        if spec["tls"]:
            try:
                self._ctx = tls_context(spec["ca_file"], spec["verify_tls"], spec["cert_file"], spec["key_file"])
            except (OSError, ssl.SSLError) as exc:
                raise SinkConfigError(self.name, "ca_file/cert_file", f"cannot load TLS material: {exc}") from None
        check_transport(spec, "tls", spec["tls"], self.host)
        self.facility = FACILITIES[spec["facility"]]
        self.hostname = _header_field(spec["hostname"] or socket.gethostname(), 255)
        self.app_name = _header_field(spec["app_name"], 48)

    def describe(self) -> str:
        return f"{'tls' if self._ctx else 'tcp'}://{self.host}:{self.port}"

    def frames(self, items) -> bytes:
        out = []
        for item in items:
            msg = format_message(
                item, facility=self.facility, hostname=self.hostname, app_name=self.app_name, sd_id=self.spec["sd_id"]
            )
            if len(msg) > self.spec["max_message_bytes"]:
                raise DeliveryError(
                    f"sink {self.name!r} (syslog): {item.kind} seq {item.seq} is {len(msg)} bytes, over "
                    f"max_message_bytes {self.spec['max_message_bytes']}; raise it on the sink and the server",
                    retryable=False,
                )
            out.append(frame(msg))
        return b"".join(out)

    def deliver(self, items, deadline):
        what = f"sink {self.name!r} (syslog {self.describe()})"
        data = self.frames(items)
        sock = None
        try:
            sock = socket.create_connection((self.host, self.port), timeout=remaining(deadline, what, self.timeout))
            if self._ctx is not None:
                sock = self._ctx.wrap_socket(sock, server_hostname=self.spec["server_name"] or self.host)
            sock.settimeout(remaining(deadline, what, self.timeout))
            sock.sendall(data)
            sock.settimeout(remaining(deadline, what, self.timeout))
            self._await_close(sock)
        except (TimeoutError, socket.timeout):
            raise DeliveryError(f"{what}: timed out; the batch stays pending") from None
        except ssl.SSLError as exc:
            raise DeliveryError(f"{what}: TLS error: {exc.reason or exc}") from None
        except OSError as exc:
            raise DeliveryError(f"{what}: {exc.strerror or type(exc).__name__}") from None
        finally:
            if sock is not None:
                sock.close()

    @staticmethod
    def _await_close(sock) -> None:
        """Signal end of stream and wait until the server, having read all of it, closes its side."""
        if isinstance(sock, ssl.SSLSocket):
            try:
                sock.unwrap()  # sends close_notify; returns when the server answers with its own
            except ssl.SSLEOFError:
                pass  # the server closed the TCP connection after reading our close_notify: same receipt
            return
        sock.shutdown(socket.SHUT_WR)
        while sock.recv(4096):
            pass  # a syslog server sends nothing; drain whatever it does until it closes
