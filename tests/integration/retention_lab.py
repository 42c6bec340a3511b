"""Retention over a ledger the lab's change tests wrote (no lab hosts used): on a copy, a legal hold on the
rolled-back change stops pruning at its first event; playbooks/retention.yml archives what lies before it to an S3
bucket with Object Lock (moto's server) and prunes it; the archived range verifies on its own from the bucket's
bytes, the live ledger still verifies, and the held change's events are all still in it."""

import json
import sqlite3
import subprocess
import sys

import yaml
from conftest import REPO, ansible_env

sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api, verify

POLICY = {"api_version": "changeward.hybrid/v1", "default": {"live": "1s", "archive": "1d"}}
BUCKET = "cw-lab-archive"


def _run(argv, ledger, key, s3_url, timeout=300):
    env = ansible_env(
        CHANGEWARD_LEDGER=str(ledger),
        CHANGEWARD_LEDGER_KEY=key,
        CHANGEWARD_SHIP="false",  # the copy has the original's ledger id: shipping it would fork the lab sink's
        AWS_ACCESS_KEY_ID="testing",
        AWS_SECRET_ACCESS_KEY="testing",
        AWS_DEFAULT_REGION="us-east-1",
        AWS_ENDPOINT_URL_S3=s3_url,
    )
    return subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout, check=False)


def archive_prune_with_hold(ledger, key, held_change, workdir):
    """Returns (pruned through seq, archive location); asserts the done-when of issue 14's retention item."""
    import boto3
    from moto.server import ThreadedMotoServer

    copy = workdir / "retention.db"
    copy.touch(mode=0o600)
    with sqlite3.connect(str(ledger)) as src, sqlite3.connect(str(copy)) as dst:
        src.backup(dst)
    inv = workdir / "retention-inventory"
    (inv / "host_vars").mkdir(parents=True)
    (inv / "hosts.ini").write_text(f"localhost ansible_connection=local ansible_python_interpreter={sys.executable}\n")
    (inv / "host_vars" / "localhost.yml").write_text(yaml.safe_dump({"changeward_retention_policy": POLICY}))
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    try:
        host, port = server.get_host_and_port()
        url = f"http://{host}:{port}"
        s3 = boto3.client(
            "s3",
            endpoint_url=url,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            region_name="us-east-1",
        )
        s3.create_bucket(Bucket=BUCKET, ObjectLockEnabledForBucket=True)
        bin_dir = REPO / ".venv" / "bin"
        hold = {"hold_id": "LH-LAB", "change_id": held_change, "matter": "lab", "by": "legal", "reason": "issue 14"}
        placed = _run(
            [
                str(bin_dir / "ansible"),
                "-i",
                str(inv / "hosts.ini"),
                "localhost",
                "-m",
                "changeward.hybrid.ledger_hold",
                "-a",
                json.dumps(hold),
            ],
            copy,
            key,
            url,
        )
        assert placed.returncode == 0, placed.stdout[-3000:] + placed.stderr[-2000:]
        with api.open_ledger(str(copy), readonly=True) as led:
            held_seqs = [e.seq for e in led.events(subject=held_change)]
        proc = _run(
            [
                str(bin_dir / "ansible-playbook"),
                "-i",
                str(inv / "hosts.ini"),
                "playbooks/retention.yml",
                "-e",
                f"retention_s3_bucket={BUCKET}",
            ],
            copy,
            key,
            url,
        )
        assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
        assert "archived seqs 1.." in proc.stdout and "pruned seqs 1.." in proc.stdout
        (obj,) = s3.list_objects_v2(Bucket=BUCKET)["Contents"]
        head = s3.head_object(Bucket=BUCKET, Key=obj["Key"])
        assert head["ObjectLockMode"] == "COMPLIANCE"
        local = workdir / "archive-from-s3.jsonl"
        local.write_bytes(s3.get_object(Bucket=BUCKET, Key=obj["Key"])["Body"].read())
    finally:
        server.stop()
    alone = verify.verify(str(local), key=key)
    assert alone["valid"], alone["problems"][:3]
    with api.open_ledger(str(copy), readonly=True) as led:
        start = led.start()[0]
        assert 0 < start < held_seqs[0]  # pruned up to the hold, not into it
        assert [e.seq for e in led.events(subject=held_change)] == held_seqs
        assert alone["last_seq"] == start
    live = verify.verify(str(copy), key=key)
    assert live["valid"], live["problems"][:3]
    return start, obj["Key"]
