# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""OpenSSH signatures (``ssh-keygen -Y sign/verify``) checked against an allowed-signers file, as git does.

An approver signs a statement with the ssh key they already have::

    ssh-keygen -Y sign -f ~/.ssh/id_ed25519 -n changeward-approval statement.json   # -> statement.json.sig

and the plugin verifies it with ``ssh-keygen -Y verify -f <allowed_signers> -I <principal> -n <namespace>``,
which checks the key, the namespace and the key's ``valid-after``/``valid-before`` and ``namespaces`` options
(see ssh-keygen(1), ALLOWED SIGNERS). ssh-keygen is the authority: a signature counts only when it says so.
The signature blob and the allowed-signers file are also read here, only to say *why* a signature does not
count (wrong namespace, unknown principal, another key, an expired or not yet valid signer).
"""

from __future__ import annotations

import base64
import binascii
import datetime
import fnmatch
import hashlib
import os
import shutil
import struct
import subprocess
import tempfile
from dataclasses import dataclass, field

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

APPROVAL_NAMESPACE = "changeward-approval"
ARMOR_BEGIN = "-----BEGIN SSH SIGNATURE-----"
ARMOR_END = "-----END SSH SIGNATURE-----"
MAGIC = b"SSHSIG"
TIMEOUT = 30

# Why a signature does not count (stable codes; approval.py and the override check report them).
WRONG_NAMESPACE = "wrong_namespace"
UNKNOWN_SIGNER = "unknown_signer"
SIGNER_EXPIRED = "signer_expired"
SIGNER_NOT_YET_VALID = "signer_not_yet_valid"
SIGNATURE_INVALID = "signature_invalid"


class SignatureSetupError(ChangewardError):
    """Signatures cannot be checked at all (no ssh-keygen, no allowed-signers file): nothing counts."""


@dataclass
class Problem:
    code: str
    message: str


@dataclass
class SignerLine:
    principals: list
    key_type: str
    key: str  # base64 of the public key blob
    options: dict = field(default_factory=dict)
    line: int = 0


def _read_string(blob: bytes, offset: int) -> tuple[bytes, int]:
    if offset + 4 > len(blob):
        raise ValueError("truncated")
    (length,) = struct.unpack(">I", blob[offset : offset + 4])
    end = offset + 4 + length
    if end > len(blob):
        raise ValueError("truncated")
    return blob[offset + 4 : end], end


def parse_signature(armored: str) -> dict:
    """namespace, key type and key (base64) of an armored SSH signature; ValueError when it is none."""
    if not isinstance(armored, str):
        raise ValueError("the signature must be the text of an SSH signature")
    text = armored.strip()
    if not text.startswith(ARMOR_BEGIN) or not text.endswith(ARMOR_END):
        raise ValueError(f"the signature is not an SSH signature ({ARMOR_BEGIN} ... {ARMOR_END})")
    body = "".join(text[len(ARMOR_BEGIN) : -len(ARMOR_END)].split())
    try:
        blob = base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("the SSH signature is not valid base64") from None
    if not blob.startswith(MAGIC):
        raise ValueError("the SSH signature has no SSHSIG header")
    try:
        offset = len(MAGIC) + 4
        public, offset = _read_string(blob, offset)
        namespace, offset = _read_string(blob, offset)
        key_type = _read_string(public, 0)[0]
    except ValueError:
        raise ValueError("the SSH signature is truncated") from None
    return {
        "namespace": namespace.decode("utf-8", "replace"),
        "key_type": key_type.decode("ascii", "replace"),
        "key": base64.b64encode(public).decode(),
        "fingerprint": fingerprint(base64.b64encode(public).decode()),
    }


def fingerprint(key_b64: str) -> str:
    """SHA256:<base64> as ssh-keygen -l prints it."""
    raw = base64.b64decode(key_b64)
    return "SHA256:" + base64.b64encode(hashlib.sha256(raw).digest()).decode().rstrip("=")


def _split_options(text: str) -> tuple[dict, str]:
    """Options (comma-separated, values may be quoted) at the start of ``text``, and the rest."""
    options, i, n = {}, 0, len(text)
    while i < n:
        start = i
        quoted = False
        while i < n and (quoted or (text[i] not in ", \t")):
            if text[i] == '"':
                quoted = not quoted
            i += 1
        item = text[start:i]
        name, _sep, value = item.partition("=")
        options[name.lower()] = value.strip('"') if value else True
        if i < n and text[i] == ",":
            i += 1
            continue
        break
    return options, text[i:].lstrip()


def parse_allowed_signers(text: str) -> list:
    """The lines of an allowed-signers file (principals, options, key type, key)."""
    out = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        principals, _sep, rest = line.partition(" ")
        rest = rest.lstrip()
        options = {}
        if rest and not rest.startswith(("ssh-", "ecdsa-", "sk-")):
            options, rest = _split_options(rest)
        parts = rest.split()
        if len(parts) < 2:
            continue  # ssh-keygen ignores what it cannot parse too; it is the authority
        out.append(SignerLine(principals.split(","), parts[0], parts[1], options, number))
    return out


def _ssh_time(value: str) -> datetime.datetime | None:
    """valid-after / valid-before: YYYYMMDD[HHMM[SS]][Z] (local time without Z, as ssh-keygen reads it)."""
    text = str(value)
    utc = text.endswith("Z")
    digits = text.rstrip("Z")
    formats = {8: "%Y%m%d", 12: "%Y%m%d%H%M", 14: "%Y%m%d%H%M%S"}
    if len(digits) not in formats:
        return None
    try:
        moment = datetime.datetime.strptime(digits, formats[len(digits)])
    except ValueError:
        return None
    if utc:
        return moment.replace(tzinfo=datetime.timezone.utc)
    return moment.astimezone()


def _matches(principal: str, patterns: list) -> bool:
    key = principal.casefold()
    negated = any(p.startswith("!") and fnmatch.fnmatchcase(key, p[1:].casefold()) for p in patterns)
    return not negated and any(not p.startswith("!") and fnmatch.fnmatchcase(key, p.casefold()) for p in patterns)


def principals(lines: list) -> set:
    return {p for line in lines for p in line.principals if not p.startswith("!")}


def explain(lines: list, principal: str, sig: dict, namespace: str, now: datetime.datetime) -> Problem | None:
    """Why the file and the signature's own fields say it cannot count; None when they do not object."""
    if sig["namespace"] != namespace:
        return Problem(
            WRONG_NAMESPACE,
            f"the signature was made for namespace {sig['namespace']!r}, not {namespace!r} "
            f"(sign with: ssh-keygen -Y sign -n {namespace} ...)",
        )
    mine = [line for line in lines if _matches(principal, line.principals)]
    if not mine:
        return Problem(UNKNOWN_SIGNER, f"{principal} is not a principal of the allowed-signers file")
    same_key = [line for line in mine if line.key == sig["key"] and "cert-authority" not in line.options]
    if not same_key and not any("cert-authority" in line.options for line in mine):
        return Problem(
            SIGNATURE_INVALID,
            f"the signature was made with key {sig['fingerprint']}, which the allowed-signers file does not list "
            f"for {principal}",
        )
    for line in same_key:
        allowed = line.options.get("namespaces")
        if isinstance(allowed, str) and not any(fnmatch.fnmatchcase(namespace, p) for p in allowed.split(",")):
            return Problem(
                WRONG_NAMESPACE,
                f"the allowed-signers file lets {principal}'s key sign only in namespaces {allowed}",
            )
        before = _ssh_time(line.options.get("valid-before", "")) if "valid-before" in line.options else None
        if before is not None and now >= before:
            return Problem(
                SIGNER_EXPIRED,
                f"{principal}'s key {sig['fingerprint']} expired at {before.isoformat()} "
                f"(valid-before, allowed-signers line {line.line})",
            )
        after = _ssh_time(line.options.get("valid-after", "")) if "valid-after" in line.options else None
        if after is not None and now < after:
            return Problem(
                SIGNER_NOT_YET_VALID,
                f"{principal}'s key {sig['fingerprint']} is valid only from {after.isoformat()} "
                f"(valid-after, allowed-signers line {line.line})",
            )
    return None


def ssh_keygen() -> str:
    found = shutil.which("ssh-keygen")
    if not found:
        raise SignatureSetupError("ssh-keygen (OpenSSH >= 8.2) is needed on the controller to verify signatures")
    return found


def read_allowed_signers(path: str) -> str:
    try:
        with open(path, encoding="utf-8") as handle:
            return handle.read()
    except OSError as exc:
        raise SignatureSetupError(f"cannot read the allowed-signers file {path}: {exc.strerror}") from None


def verify(message: bytes, signature: str, principal: str, allowed_signers: str, namespace: str) -> Problem | None:
    """None when ``signature`` over ``message`` verifies now for ``principal``; else why not.

    ``allowed_signers`` is the path of the file. SignatureSetupError when nothing can be verified at all.
    """
    text = read_allowed_signers(allowed_signers)
    try:
        sig = parse_signature(signature)
    except ValueError as exc:
        return Problem(SIGNATURE_INVALID, str(exc))
    lines = parse_allowed_signers(text)
    problem = explain(lines, principal, sig, namespace, datetime.datetime.now(datetime.timezone.utc))
    if problem is not None:
        return problem
    with tempfile.TemporaryDirectory(prefix="cw-sshsig-") as tmp:
        sig_path = os.path.join(tmp, "message.sig")
        with open(sig_path, "w", encoding="ascii") as handle:
            handle.write(signature.strip() + "\n")
        argv = [ssh_keygen(), "-Y", "verify", "-f", allowed_signers, "-I", principal, "-n", namespace, "-s", sig_path]
        try:
            proc = subprocess.run(argv, input=message, capture_output=True, timeout=TIMEOUT, check=False)
        except (OSError, subprocess.TimeoutExpired) as exc:
            raise SignatureSetupError(f"ssh-keygen -Y verify could not run: {exc}") from None
    if proc.returncode != 0:
        why = (proc.stderr or proc.stdout).decode("utf-8", "replace").strip().splitlines()
        return Problem(
            SIGNATURE_INVALID,
            f"ssh-keygen -Y verify refused {principal}'s signature ({sig['fingerprint']}): "
            + (why[-1] if why else f"exit {proc.returncode}"),
        )
    return None


def file_digest(path: str) -> str:
    """sha256 of the allowed-signers file, recorded with each check so an auditor sees which file was used."""
    return "sha256:" + hashlib.sha256(read_allowed_signers(path).encode("utf-8")).hexdigest()
