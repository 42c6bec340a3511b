#!/usr/bin/env python3
"""Publish what the example change specs need in the lab, on the lab's artifact server (scripts/services/nginx.sh,
http://198.18.0.1:8088): a flat APT repository with three versions of the example package cw-example-tool, and a
signed edge release of the demo service; and make the lab approvers' ssh keys with the allowed-signers file the
lab gate policy (examples/policies/lab-gates.yml) verifies approvals and overrides against. Idempotent: run it
again and it serves the same content (keys are made once and kept in the state directory).

    .venv/bin/python examples/lab/prepare.py             # make demo and the example tests run it
    .venv/bin/python examples/lab/prepare.py --approvers # only the approvers' keys and allowed-signers file

Paths: the artifacts under <state>/edge-nginx/artifacts/examples, the signing key pair under <state>/examples,
the approvers' keys and allowed_signers under <state>/examples/approvers, where <state> is CW_STATE_DIR (default
/var/lib/changeward-test), as for the lab's other services. No private key is part of the repository.
"""

from __future__ import annotations

import base64
import fcntl
import json
import os
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "collections"))

from ansible_collections.changeward.hybrid.plugins.module_utils.edge import manifest as mf  # noqa: E402

STATE = Path(os.environ.get("CW_STATE_DIR", "/var/lib/changeward-test"))
ARTIFACTS = STATE / "edge-nginx" / "artifacts" / "examples"
KEYS = STATE / "examples"
SOURCE = "http://198.18.0.1:8088/examples"
APPROVERS = KEYS / "approvers"
# The lab gate policy's approvers (examples/policies/lab-gates.yml): each gets an ed25519 key, as a person would
# use their own ssh key, listed for the changeward-approval namespace only.
LAB_APPROVERS = ("carol", "dana", "bob")
APPROVAL_NAMESPACE = "changeward-approval"
PACKAGE = "cw-example-tool"
# 1.2.0 is the bad release: its self-test fails, so the change spec's health check fails it on every host.
PACKAGE_VERSIONS = {"1.0.0": True, "1.1.0": True, "1.2.0": False}
EDGE_VERSION = "2.0.0"


def write_atomically(path: Path, data: bytes, mode: int = 0o644) -> None:
    """Readers (nginx, a concurrent run) see the old file or the new one, never half of one."""
    partial = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    partial.write_bytes(data)
    partial.chmod(mode)
    partial.replace(path)


def build_deb(version: str, healthy: bool, out: Path) -> Path:
    deb = out / f"{PACKAGE}_{version}_all.deb"
    if deb.exists():
        return deb
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        (root / "DEBIAN").mkdir()
        (root / "usr/bin").mkdir(parents=True)
        (root / "etc").mkdir()
        (root / "DEBIAN/control").write_text(
            f"Package: {PACKAGE}\nVersion: {version}\nArchitecture: all\nMaintainer: changeward <ops@example.org>\n"
            "Section: admin\nPriority: optional\nDescription: changeward example tool (lab package upgrades)\n"
        )
        (root / "DEBIAN/conffiles").write_text(f"/etc/{PACKAGE}.conf\n")
        (root / f"etc/{PACKAGE}.conf").write_text(f"# {PACKAGE} {version}\nlevel = {version}\n")
        tool = root / f"usr/bin/{PACKAGE}"
        selftest = "exit 0" if healthy else 'echo "self-test failed: bad release" >&2; exit 1'
        tool.write_text(
            f'#!/bin/sh\ncase "$1" in\n  --version) echo {version} ;;\n  --selftest) {selftest} ;;\n'
            f"  *) echo '{PACKAGE} {version}' ;;\nesac\n"
        )
        tool.chmod(0o755)
        partial = out / f".{deb.name}.{os.getpid()}.tmp"
        argv = ["dpkg-deb", "--root-owner-group", "-Zgzip", "-b", str(root), str(partial)]
        subprocess.run(argv, check=True, capture_output=True)
        partial.chmod(0o644)
        partial.replace(deb)
    return deb


def apt_repository() -> str:
    repo = ARTIFACTS / "apt"
    repo.mkdir(parents=True, exist_ok=True)
    for version, healthy in PACKAGE_VERSIONS.items():
        build_deb(version, healthy, repo)
    packages = subprocess.run(
        ["dpkg-scanpackages", "--multiversion", "."], cwd=repo, check=True, capture_output=True, text=True
    ).stdout
    write_atomically(repo / "Packages", packages.encode())
    return f"{SOURCE}/apt"


def signing_key():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    KEYS.mkdir(parents=True, exist_ok=True)
    private = KEYS / "release-signing.key.pem"
    if private.exists():
        key = serialization.load_pem_private_key(private.read_bytes(), password=None)
    else:
        key = Ed25519PrivateKey.generate()
        fd = os.open(private, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(
                key.private_bytes(
                    serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
                )
            )
    public = KEYS / "release-signing.pub.pem"
    pem = key.public_key().public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    write_atomically(public, pem)
    return key, public


def edge_release() -> dict:
    out = ARTIFACTS / "edge"
    out.mkdir(parents=True, exist_ok=True)
    key, public = signing_key()
    artifact = out / f"demo-{EDGE_VERSION}.tar"
    if not artifact.exists():
        with tempfile.TemporaryDirectory() as tmp:
            config = Path(tmp) / "config.json"
            config.write_text(json.dumps({"version": EDGE_VERSION, "healthy": True}) + "\n")
            payload = Path(tmp) / "payload.bin"
            payload.write_bytes(os.urandom(2 * 1024 * 1024))  # big enough that a flaky link interrupts it
            partial = artifact.with_name(f".{artifact.name}.{os.getpid()}.tmp")
            with tarfile.open(partial, "w") as tar:
                tar.add(config, "config.json")
                tar.add(payload, "payload.bin")
            partial.rename(artifact)
    artifact.chmod(0o644)
    text = mf.dumps(mf.build(str(artifact), "demo", EDGE_VERSION, 256 * 1024))
    manifest = out / f"demo-{EDGE_VERSION}.tar.manifest.json"
    write_atomically(manifest, text)
    signature = manifest.with_name(manifest.name + ".sig")
    write_atomically(signature, base64.b64encode(key.sign(text)))
    for directory in (ARTIFACTS, out, ARTIFACTS / "apt"):
        directory.chmod(0o755)  # nginx's workers read them
    return {
        "url": f"{SOURCE}/edge/{artifact.name}",
        "manifest": f"{SOURCE}/edge/{manifest.name}",
        "signature": f"{SOURCE}/edge/{signature.name}",
        "public_key": str(public),
    }


def approver_keys() -> dict:
    """Each lab approver's ssh key pair (made once) and the allowed-signers file that lists their public keys."""
    APPROVERS.mkdir(parents=True, exist_ok=True)
    APPROVERS.chmod(0o700)
    lines = []
    for name in LAB_APPROVERS:
        private = APPROVERS / name
        if not private.exists():
            argv = ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", f"{name}@changeward-lab", "-f", str(private)]
            subprocess.run(argv, check=True, capture_output=True)
        key_type, key = (APPROVERS / f"{name}.pub").read_text().split()[:2]
        lines.append(f'{name} namespaces="{APPROVAL_NAMESPACE}" {key_type} {key}')
    signers = APPROVERS / "allowed_signers"
    write_atomically(signers, ("\n".join(lines) + "\n").encode(), 0o644)
    return {"allowed_signers": str(signers), "keys": {name: str(APPROVERS / name) for name in LAB_APPROVERS}}


def main() -> int:
    only_approvers = "--approvers" in sys.argv[1:]
    if not only_approvers:
        subprocess.run(["bash", str(REPO / "scripts/services/nginx.sh"), "start"], check=True, capture_output=True)
    KEYS.mkdir(parents=True, exist_ok=True)
    # test suites side by side may prepare at the same time: one at a time, so the key is made once
    with open(KEYS / "prepare.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        out = {"approvers": approver_keys()}
        if not only_approvers:
            out.update(apt_repository=apt_repository(), edge_release=edge_release())
        print(json.dumps(out, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
