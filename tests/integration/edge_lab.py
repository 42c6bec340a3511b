"""Helpers for the edge update lab tests and benchmark: the nginx artifact source and its access log,
signed releases, edge_update runs through ansible-playbook, the ledger, and device state.

Shared by tests/integration/test_edge_update.py and bench/edge_bench.py; everything here acts on the
edge hosts in HOSTS only.
"""

import base64
import fcntl
import json
import os
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))
sys.path.insert(0, str(REPO / "tests" / "lab"))

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf  # noqa: E402
from ansible_collections.changeward.hybrid.plugins.module_utils.edge import trust  # noqa: E402

HOSTS = ["edge-s1-01", "edge-s2-01", "edge-s3-01"]
APP = "demo"
ROOT_DIR = "/var/lib/changeward/edge"
TRUST_FILE = trust.DEFAULT_TRUST_FILE
CHUNK = 256 * 1024
NGINX = REPO / "scripts" / "services" / "nginx.sh"
NGINX_STATE = Path(os.environ.get("CW_STATE_DIR", "/var/lib/changeward-test")) / "edge-nginx"
ARTIFACTS = NGINX_STATE / "artifacts"
ACCESS_LOG = NGINX_STATE / "access.log"
SOURCE = "http://198.18.0.1:8088"
LINKS = {"/etc/demo-service/config.json": "config.json"}
HEALTH = {"url": "http://127.0.0.1:8080/healthz", "start_period": 3, "interval": 1, "deadline": 60}
LOG_RE = re.compile(
    r'^(?P<msec>\S+) (?P<addr>\S+) "(?P<method>\S+) (?P<path>\S+)[^"]*" (?P<status>\d+) (?P<body>\d+) (?P<sent>\d+) '
    r'"(?P<range>[^"]*)" (?P<rtime>\S+) (?P<conn>\d+) (?P<nreq>\d+)$'
)


def ansible_env(**extra):
    env = dict(os.environ)
    env.update(ANSIBLE_CONFIG=str(REPO / "ansible.cfg"), ANSIBLE_NOCOLOR="1", ANSIBLE_FORCE_COLOR="0", **extra)
    env.pop("PYTHONPATH", None)
    return env


# -- the artifact source -------------------------------------------------------------------------------
def start_nginx():
    subprocess.run(["bash", str(NGINX), "start"], check=True, capture_output=True, text=True)
    return ACCESS_LOG


def log_position():
    return ACCESS_LOG.stat().st_size if ACCESS_LOG.exists() else 0


def served(since, addr, path):
    """Requests for path from addr logged after byte offset since: [{range_start, status, body}]."""
    out = []
    with open(ACCESS_LOG, "rb") as handle:
        handle.seek(since)
        for raw in handle:
            m = LOG_RE.match(raw.decode("utf-8", "replace").strip())
            if not m or m["addr"] != addr or m["path"] != path:
                continue
            start = re.match(r"bytes=(\d+)-", m["range"])
            out.append(
                {
                    "start": int(start.group(1)) if start else None,
                    "status": int(m["status"]),
                    "body": int(m["body"]),
                    "at": float(m["msec"]),
                }
            )
    return out


# -- releases --------------------------------------------------------------------------------------------
def lab_signing_key():
    """The lab's publisher key: the one examples/lab/prepare.py signs the example release with, made once and
    kept in the state directory. reset_device pins it on the edge hosts, as provisioning would."""
    sys.path.insert(0, str(REPO / "examples" / "lab"))
    import prepare

    prepare.KEYS.mkdir(parents=True, exist_ok=True)
    with open(prepare.KEYS / "prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        key, _public = prepare.signing_key()
    return key


def public_pem(key):
    from cryptography.hazmat.primitives import serialization

    return (
        key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    ).decode()


class Publisher:
    """Builds release artifacts, their manifests and Ed25519 signatures, and publishes them on nginx."""

    def __init__(self, workdir, key=None):
        self.workdir = Path(workdir)
        self.key = key or lab_signing_key()
        self.public_pem = public_pem(self.key)
        self.pub_path = self.workdir / "release.pub.pem"
        self.pub_path.write_text(self.public_pem)
        self.dir = ARTIFACTS / "edge-test"
        self.dir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.dir, 0o755)  # noqa: S103 - nginx's workers must read the artifacts

    def release(self, version, size, healthy=True, sign_with=None, name=APP, rotate=None):
        stage = Path(tempfile.mkdtemp(dir=self.workdir))
        (stage / "config.json").write_text(json.dumps({"version": version, "healthy": healthy}) + "\n")
        with open(stage / "payload.bin", "wb") as handle:
            handle.write(os.urandom(size))
        artifact = self.dir / f"{name}-{version}.tar"
        with tarfile.open(artifact, "w") as tar:
            tar.add(stage / "config.json", "config.json")
            tar.add(stage / "payload.bin", "payload.bin")
        shutil.rmtree(stage)
        os.chmod(artifact, 0o644)
        manifest = mf.build(str(artifact), name, version, CHUNK)
        if rotate:
            manifest["trust"] = rotate  # a key rotation the release carries (edge trust.py)
        text = mf.dumps(manifest).decode()
        signature = base64.b64encode((sign_with or self.key).sign(text.encode())).decode()
        mpath = self.workdir / f"{name}-{version}.manifest.json"
        spath = self.workdir / f"{name}-{version}.manifest.json.sig"
        mpath.write_text(text)
        spath.write_text(signature)
        return {
            "version": version,
            "artifact": artifact,
            "path": f"/edge-test/{artifact.name}",
            "url": f"{SOURCE}/edge-test/{artifact.name}",
            "size": artifact.stat().st_size,
            "manifest": text,
            "manifest_path": str(mpath),
            "signature": signature,
            "signature_path": str(spath),
            "release": mf.release_id(manifest),
        }


# -- Ansible ----------------------------------------------------------------------------------------------
def run_playbook(path, extra_vars, timeout=900, limit=None):
    argv = [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(path), "-e", "@" + _vars_file(extra_vars)]
    if limit:
        argv += ["-l", limit]
    return subprocess.run(
        argv, cwd=REPO, env=ansible_env(), capture_output=True, text=True, timeout=timeout, check=False
    )


def _vars_file(data):
    fd, path = tempfile.mkstemp(suffix=".json", prefix="edge-vars-")
    with os.fdopen(fd, "w") as handle:
        json.dump(data, handle)
    return path


def edge_update(hosts, timeout=300, **args):
    """Run changeward.hybrid.edge_update on hosts; returns {host: result} (failures included)."""
    return run_task(hosts, "changeward.hybrid.edge_update", dict(args, app=args.get("app", APP)), timeout)


def edge_rollout(hosts, timeout=300, **args):
    """Run a changeward.hybrid.edge_rollout step on hosts; returns {host: result} (failures included)."""
    return run_task(hosts, "changeward.hybrid.edge_rollout", args, timeout)


def run_task(hosts, module, args, timeout=300):
    out = Path(tempfile.mkdtemp(prefix="edge-results-"))
    play = [
        {
            "hosts": ",".join(hosts),
            "gather_facts": False,
            "tasks": [
                {
                    module: args,
                    "register": "r",
                    "ignore_errors": True,
                },
                {
                    "ansible.builtin.copy": {
                        "content": "{{ r | to_json }}",
                        "dest": f"{out}/{{{{ inventory_hostname }}}}.json",
                        "mode": "0600",
                    },
                    "delegate_to": "localhost",
                },
            ],
        }
    ]
    path = out / "play.yml"
    path.write_text(yaml.safe_dump(play))
    proc = subprocess.run(
        [str(REPO / ".venv" / "bin" / "ansible-playbook"), str(path)],
        cwd=REPO,
        env=ansible_env(),
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    results = {}
    for host in hosts:
        f = out / f"{host}.json"
        assert f.exists(), f"no result from {host}:\n{proc.stdout[-3000:]}\n{proc.stderr[-2000:]}"
        results[host] = json.loads(f.read_text())
    shutil.rmtree(out)
    return results


def ledger_events(path, change_id):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(path), create=False, readonly=True) as ledger:
        return [e.event for e in ledger.entries() if e.event["subject"] == change_id]


def open_change(path, change_id):
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

    with open_ledger(str(path)) as ledger:
        if ledger.get_change(change_id) is None:
            ledger.open_change(model.new_record(change_id, "normal", "edge test", "pytest", targets=HOSTS))


def parse_time(text):
    import datetime

    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(tzinfo=datetime.UTC).timestamp()


# -- devices ----------------------------------------------------------------------------------------------
def reset_device(lab, host):
    """Give the host back its original demo config and no edge state (only this feature's paths)."""
    script = (
        f"set -e; b={ROOT_DIR}/{APP}/original/etc%2Fdemo-service%2Fconfig.json; "
        'if [ -e "$b" ]; then mv -f "$b" /etc/demo-service/config.json; fi; '
        # stop this feature's own agents by the pids they recorded
        f"for f in {ROOT_DIR}/{APP}/download/transfer.json {ROOT_DIR}/{APP}/watchdog.json; do "
        '[ -f "$f" ] && kill -9 "$(python3 -c \'import json,sys; print(json.load(open(sys.argv[1])).get("pid", ""))\' '
        '"$f")" 2>/dev/null || true; done; '
        f"rm -rf {ROOT_DIR}/{APP}; service demo-service restart >/dev/null"
    )
    proc = lab.ssh(host, script, timeout=60)
    assert proc.returncode == 0, proc.stderr
    pin_lab_key(lab, host)


def pin_lab_key(lab, host):
    """The device as provisioned: it pins the lab's publisher key only (what a device image would carry)."""
    pem = public_pem(lab_signing_key())
    doc = {
        "format": trust.FORMAT,
        "keys": [{"id": trust.key_id(pem), "pem": trust.normalize_pem(pem), "added_by": "lab"}],
    }
    script = (
        f"set -e; mkdir -p {os.path.dirname(TRUST_FILE)}; umask 022; cat > {TRUST_FILE}.new; "
        f"chmod 0644 {TRUST_FILE}.new; mv -f {TRUST_FILE}.new {TRUST_FILE}"
    )
    proc = lab.ssh(host, script, timeout=60, input=json.dumps(doc))
    assert proc.returncode == 0, proc.stderr


def demo_version(lab, host):
    proc = lab.ssh(host, "curl -s -m 5 http://127.0.0.1:8080/", timeout=30)
    try:
        return json.loads(proc.stdout).get("version")
    except ValueError:
        return None


def stage_args(pub, rel, change_id, **extra):
    """edge_update arguments that stage rel from its URL on nginx."""
    args = {
        "state": "staged",
        "change_id": change_id,
        "manifest": rel["manifest"],
        "signature": rel["signature"],
        "public_key": pub.public_pem,
        "url": rel["url"],
    }
    args.update(extra)
    return args


def transfer_progress(lab, host):
    """The device's persisted transfer state ({} before the first write)."""
    return json.loads(lab.ssh(host, f"cat {ROOT_DIR}/{APP}/download/transfer.json").stdout or "{}")


def wait_for_offset(lab, host, at_least, timeout=60):
    """Poll the persisted transfer state until its offset reaches at_least; returns the last state read."""
    deadline = time.time() + timeout
    progress = {}
    while time.time() < deadline:
        progress = transfer_progress(lab, host)
        if progress.get("offset", 0) >= at_least:
            break
        time.sleep(0.5)
    return progress
