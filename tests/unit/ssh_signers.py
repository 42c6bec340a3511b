"""Approvers with real OpenSSH keys for tests: ssh-keygen makes the keys, signs statements and the allowed-signers
file lists them (with valid-after/valid-before or namespaces when a test asks), exactly as an approver and an
operator would."""

import subprocess
from pathlib import Path

from ansible_collections.changeward.hybrid.plugins.plugin_utils.approval import make_statement, statement_text
from ansible_collections.changeward.hybrid.plugins.plugin_utils.sshsig import APPROVAL_NAMESPACE


class Signers:
    def __init__(self, root: Path, names, options=None):
        self.root = Path(root)
        self.root.mkdir(parents=True, exist_ok=True)
        self.options = dict(options or {})
        for name in names:
            self.key(name)
        self.path = self.root / "allowed_signers"
        self.write(names)

    def key(self, name: str) -> Path:
        private = self.root / name
        if not private.exists():
            subprocess.run(
                ["ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", str(private)],
                check=True,
                capture_output=True,
            )
        return private

    def public(self, name: str) -> str:
        return " ".join((self.root / f"{name}.pub").read_text().split()[:2])

    def write(self, names, options=None) -> Path:
        options = {**self.options, **(options or {})}
        lines = []
        for name in names:
            opt = options.get(name)
            lines.append(f"{name} {opt + ' ' if opt else ''}{self.public(name)}")
        self.path.write_text("\n".join(lines) + "\n")
        return self.path

    def sign(self, name: str, text: str, namespace: str = APPROVAL_NAMESPACE, key: str | None = None) -> str:
        message = self.root / f"msg-{name}"
        message.write_text(text)
        sig = Path(str(message) + ".sig")
        sig.unlink(missing_ok=True)
        subprocess.run(
            ["ssh-keygen", "-Y", "sign", "-f", str(self.key(key or name)), "-n", namespace, str(message)],
            check=True,
            capture_output=True,
        )
        return sig.read_text()

    def approval(self, change_id, digest, name, role="peer", decision="approve", **kwargs):
        """{statement, signature}: name's signed approval statement (text as signed)."""
        sign_as = kwargs.pop("key", None)
        namespace = kwargs.pop("namespace", APPROVAL_NAMESPACE)
        stmt = make_statement(change_id, digest, name, role, decision, **kwargs)
        text = statement_text(stmt)
        return {"statement": text, "signature": self.sign(name, text, namespace, key=sign_as)}
