"""Real sinks for the recorder and shipping tests, each its own process, stopped by pid.

- HttpSink: tests/integration/sinks/http_sink_server.py (webhook + Splunk HEC with acks);
- Rsyslog: scripts/services/rsyslog.sh (a private rsyslogd, plain TCP and TLS);
- Tinyproxy: Debian's tinyproxy as the HTTP proxy between the controller and the HTTP sinks;
plus helpers to run ansible-playbook with the recorder and to compare what sinks got with the ledger.
"""

import json
import os
import re
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[3]
if str(REPO / "collections") not in sys.path:  # the collection, importable from the checkout
    sys.path.insert(0, str(REPO / "collections"))
SERVER = Path(__file__).with_name("http_sink_server.py")
RSYSLOG_SH = REPO / "scripts" / "services" / "rsyslog.sh"
VENV = REPO / ".venv"
VENV313 = REPO / ".venv313"
LEDGER_KEY = "test-ledger-key-0123456789abcdef"
WEBHOOK_SECRET = "test-webhook-secret-0123456789"
HEC_TOKEN = "3f1c6a0e-7b1d-4c55-9d0e-2a6f0b9c1d11"
CHECKPOINT_SUFFIX = "#checkpoints"


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(predicate, timeout=20.0, step=0.05, what="condition"):
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return
        time.sleep(step)
    raise AssertionError(f"timed out waiting for {what}")


def _alive(pid):
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as fh:
            return fh.read().split()[2] != "Z"
    except OSError:
        return False


class HttpSink:
    """The test HTTP receiver as a separate process; keeps its port across restarts."""

    def __init__(self, state: Path, ack_delay=0.2):
        self.state = Path(state)
        self.state.mkdir(parents=True, exist_ok=True)
        self.port = free_port()
        self.ack_delay = ack_delay
        self.proc = None

    def start(self):
        if self.proc is not None and self.proc.poll() is None:
            return
        (self.state / "port").unlink(missing_ok=True)
        cmd = [sys.executable, str(SERVER), "--state", str(self.state), "--port", str(self.port)]
        cmd += ["--secret", WEBHOOK_SECRET, "--token", HEC_TOKEN, "--ack-delay", str(self.ack_delay)]
        self.proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
        wait_for((self.state / "port").exists, what="the HTTP sink to listen")

    def stop(self):
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)  # a crashed receiver: connections just die
            self.proc.wait(timeout=10)
        self.proc = None

    def set_mode(self, mode):
        (self.state / "mode").write_text(mode)

    @property
    def webhook_url(self):
        return f"http://127.0.0.1:{self.port}/webhook"

    @property
    def hec_url(self):
        return f"http://127.0.0.1:{self.port}"

    def items(self, name):
        path = self.state / f"{name}.jsonl"
        if not path.exists():
            return []
        return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]

    def raw(self):
        path = self.state / "raw.log"
        return path.read_bytes() if path.exists() else b""

    def sink_configs(self, **extra):
        webhook = {"name": "webhook", "type": "webhook", "url": self.webhook_url, "secret_env": "TEST_WEBHOOK_SECRET"}
        hec = {
            "name": "splunk",
            "type": "splunk_hec",
            "url": self.hec_url,
            "token_env": "TEST_HEC_TOKEN",
            "ack_timeout": 5,
            "ack_poll_interval": 0.05,
        }
        for sink in (webhook, hec):
            sink.update(extra)
        return [webhook, hec]


class Tinyproxy:
    """A private tinyproxy on loopback (an HTTP proxy as operators run one), logging every request it forwards."""

    def __init__(self):
        # Started as root, tinyproxy drops to nobody, which must reach its log: a directory of its own in the
        # temporary directory (pytest's tmp_path is not reachable for nobody), removed on stop.
        self.state = Path(tempfile.mkdtemp(prefix="changeward-proxy-"))
        self.state.chmod(0o777)
        self.port = free_port()
        self.proc = None

    @property
    def url(self):
        return f"http://127.0.0.1:{self.port}"

    @property
    def log(self):
        return self.state / "tinyproxy.log"

    def start(self):
        binary = shutil.which("tinyproxy") or "/usr/bin/tinyproxy"
        if not os.path.exists(binary):
            pytest.fail("tinyproxy is not installed (scripts/bootstrap.sh installs it)")
        lines = [
            f"Port {self.port}",
            "Listen 127.0.0.1",
            "Allow 127.0.0.1",
            "Timeout 30",
            "MaxClients 20",
            "LogLevel Info",
            f'LogFile "{self.log}"',
        ]
        if os.geteuid() == 0:
            lines += ["User nobody", "Group nogroup"]
        conf = self.state / "tinyproxy.conf"
        conf.write_text("\n".join(lines) + "\n")
        self.proc = subprocess.Popen(
            [binary, "-d", "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

        def listening():
            with socket.socket() as s:
                return s.connect_ex(("127.0.0.1", self.port)) == 0

        wait_for(listening, what="tinyproxy to listen")

    def stop(self):
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)
        self.proc = None
        shutil.rmtree(self.state, ignore_errors=True)

    def requests(self):
        """The request lines tinyproxy forwarded, e.g. 'POST http://127.0.0.1:4711/webhook HTTP/1.1'."""
        if not self.log.exists():
            return []
        return re.findall(r"Request \(file descriptor \d+\): (.+)$", self.log.read_text(errors="replace"), re.M)


SD_RE = re.compile(r'\[changeward@32473 id="([^"]+)" kind="([a-z]+)" seq="(\d+)"')


class Rsyslog:
    """A private rsyslogd started and stopped by scripts/services/rsyslog.sh."""

    def __init__(self, state: Path):
        self.state = Path(state)
        self.tcp_port = free_port()
        self.tls_port = free_port()
        self.env = {
            **os.environ,
            "RSYSLOG_STATE_DIR": str(self.state),
            "RSYSLOG_TCP_PORT": str(self.tcp_port),
            "RSYSLOG_TLS_PORT": str(self.tls_port),
        }

    def _run(self, cmd):
        return subprocess.run(
            ["bash", str(RSYSLOG_SH), cmd], env=self.env, capture_output=True, text=True, timeout=120, check=False
        )

    def start(self):
        out = self._run("start")
        assert out.returncode == 0, out.stderr + out.stdout
        return out

    def stop(self):
        out = self._run("stop")
        assert out.returncode == 0, out.stderr + out.stdout
        return out

    def status(self):
        return self._run("status")

    @property
    def ca(self):
        return str(self.state / "tls" / "ca.pem")

    @property
    def log(self):
        return self.state / "received.log"

    def raw(self):
        return self.log.read_bytes() if self.log.exists() else b""

    def items(self, sink_name=None):
        """(id, kind, seq) of every message received, in arrival order; ``sink_name`` filters by app name."""
        out = []
        for line in self.raw().decode("utf-8", "replace").splitlines():
            parts = line.split(" ", 4)
            if sink_name and (len(parts) < 4 or parts[3] != sink_name):
                continue
            m = SD_RE.search(line)
            if m:
                out.append({"id": m.group(1), "kind": m.group(2), "seq": int(m.group(3))})
        return out

    def sink_configs(self):
        return [
            {"name": "syslog", "type": "syslog", "host": "127.0.0.1", "port": self.tcp_port, "app_name": "cw-tcp"},
            {
                "name": "syslog-tls",
                "type": "syslog",
                "host": "127.0.0.1",
                "port": self.tls_port,
                "tls": True,
                "ca_file": self.ca,
                "server_name": "localhost",
                "app_name": "cw-tls",
            },
        ]


def sink_env():
    return {"TEST_WEBHOOK_SECRET": WEBHOOK_SECRET, "TEST_HEC_TOKEN": HEC_TOKEN}


# -- the ledger as ground truth ------------------------------------------------------------------------


def ledger_items(db):
    """Every event and checkpoint of a SQLite ledger as {id, kind, seq}, read with plain sqlite3."""
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.shipping.base import checkpoint_id

    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        ledger_id = con.execute("SELECT value FROM ledger_meta WHERE key = 'ledger_id'").fetchone()[0]
        events = [
            {"id": r[0], "kind": "event", "seq": r[1]}
            for r in con.execute("SELECT event_id, seq FROM ledger_events ORDER BY seq")
        ]
        cps = [
            {"id": checkpoint_id(ledger_id, r[0]), "kind": "checkpoint", "seq": r[0]}
            for r in con.execute("SELECT seq FROM ledger_checkpoints ORDER BY seq")
        ]
    finally:
        con.close()
    return events, cps


def ledger_events(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return [json.loads(r[0]) for r in con.execute("SELECT body FROM ledger_events ORDER BY seq")]
    finally:
        con.close()


def cursors(db):
    con = sqlite3.connect(f"file:{db}?mode=ro", uri=True)
    try:
        return dict(con.execute("SELECT sink, seq FROM ledger_cursors"))
    finally:
        con.close()


def assert_exactly_once_in_order(received, db, what):
    """Nothing lost, nothing extra after deduplication by id, and first arrivals in ledger order."""
    events, cps = ledger_items(db)
    expected = {i["id"]: i for i in events + cps}
    first_seen = []
    seen = set()
    for item in received:
        assert item["id"] in expected, f"{what}: received {item} which is not in the ledger"
        if item["id"] not in seen:
            seen.add(item["id"])
            first_seen.append(item)
    missing = sorted((expected[i]["seq"], expected[i]["kind"]) for i in set(expected) - seen)
    assert not missing, f"{what}: {len(missing)} item(s) never delivered, first {missing[:5]}"
    event_seqs = [i["seq"] for i in first_seen if i["kind"] == "event"]
    assert event_seqs == sorted(event_seqs), f"{what}: events arrived out of order"
    return len(received) - len(first_seen)  # duplicates (at-least-once) that dedupe removed


# -- running playbooks -------------------------------------------------------------------------------------


def recorder_env(ledger, sinks=None, venv=VENV, **extra):
    """Environment for ansible-playbook with the recorder on ``ledger`` and ``sinks`` (and nothing inherited)."""
    work = Path(ledger).parent
    while not work.is_dir():
        work = work.parent
    env = dict(os.environ)
    for name in list(env):
        if name.startswith(("CHANGEWARD_", "ANSIBLE_")):
            del env[name]
    # Our own ansible.cfg: the operator's one enables other callbacks (the window guard and its calendars).
    config = work / "ansible.cfg"
    if not config.exists():
        config.write_text(
            f"[defaults]\ncollections_path = {REPO / 'collections'}\ninterpreter_python = auto_silent\n"
            "host_key_checking = False\nretry_files_enabled = False\n"
        )
    env.update(
        ANSIBLE_CONFIG=str(config),
        ANSIBLE_CALLBACKS_ENABLED="changeward.hybrid.recorder",
        ANSIBLE_NOCOLOR="1",
        ANSIBLE_FORCE_COLOR="0",
        ANSIBLE_HOST_KEY_CHECKING="False",
        ANSIBLE_RETRY_FILES_ENABLED="False",
        ANSIBLE_LOCAL_TEMP=str(work / "ansible-tmp"),
        CHANGEWARD_LEDGER=str(ledger),
        CHANGEWARD_LEDGER_KEY=LEDGER_KEY,
        CHANGEWARD_SHIP_INTERVAL="0.5",
        **sink_env(),
    )
    if sinks is not None:
        env["CHANGEWARD_SINKS"] = json.dumps(sinks)
    env.pop("PYTHONPATH", None)
    env.update({k: str(v) for k, v in extra.items()})
    return env


def ship_env(ledger, sinks, **extra):
    """Environment for playbooks/audit_ship.yml (the recorder itself off)."""
    env = recorder_env(ledger, sinks, **extra)
    env.pop("ANSIBLE_CALLBACKS_ENABLED")
    return env


def inventory(path, venv=VENV, hosts=("localhost",), extra_hosts=None):
    """A local-connection inventory whose hosts use the venv's python."""
    lines = ["all:", "  hosts:"]
    for name in hosts:
        lines += [
            f"    {name}:",
            "      ansible_connection: local",
            f"      ansible_python_interpreter: {venv}/bin/python",
        ]
    for name, hostvars in (extra_hosts or {}).items():
        lines.append(f"    {name}:")
        lines += [f"      {k}: {v}" for k, v in hostvars.items()]
    Path(path).write_text("\n".join(lines) + "\n")
    return path


def playbook(path, tasks, hosts="all", name="Recorder test play"):
    import yaml

    doc = [{"name": name, "hosts": hosts, "gather_facts": False, "tasks": tasks}]
    Path(path).write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


def run_playbook(pb, inv, env, venv=VENV, args=(), timeout=600):
    cmd = [str(venv / "bin" / "ansible-playbook"), "-i", str(inv), str(pb), *args]
    start = time.monotonic()
    proc = subprocess.run(cmd, env=env, capture_output=True, text=True, timeout=timeout, cwd=str(REPO), check=False)
    proc.elapsed = time.monotonic() - start
    return proc


def shipper_processes(ledger):
    """Pids of background shippers working on ``ledger`` (by their environment)."""
    marker = f"CHANGEWARD_LEDGER={ledger}".encode()
    pids = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            if b"shipping.runner" not in cmdline:
                continue
            if marker in Path(f"/proc/{entry}/environ").read_bytes().split(b"\0") and _alive(int(entry)):
                pids.append(int(entry))
        except OSError:
            continue
    return pids


# -- pytest fixtures (import them into a test module to use them) -------------------------------------------


@pytest.fixture(scope="session")
def rsyslog_tls(tmp_path_factory):
    """A throwaway CA and server certificate, made once by the script and reused by every rsyslogd."""
    state = tmp_path_factory.mktemp("rsyslog-ca")
    server = Rsyslog(state)
    server.start()
    server.stop()
    return state / "tls"


@pytest.fixture
def rsyslog(tmp_path, rsyslog_tls):
    state = tmp_path / "rsyslog"
    state.mkdir()
    shutil.copytree(rsyslog_tls, state / "tls")
    server = Rsyslog(state)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def tinyproxy():
    proxy = Tinyproxy()
    proxy.start()
    yield proxy
    proxy.stop()


@pytest.fixture
def http_sink(tmp_path):
    server = HttpSink(tmp_path / "http")
    server.start()
    yield server
    server.stop()
