# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The publisher keys a device trusts, how they rotate, and when an older release may be installed.

A device trusts only the keys pinned in its trust file (installed at provisioning, ``provision``). The
public key the controller sends is not trusted by itself: a manifest must verify with a pinned key. The
pinned set changes only through a release signed by a pinned key whose manifest carries ``trust``
(``{"add": [PEM, ...], "remove": ["sha256:...", ...]}``), applied when the device accepts that release.

A release whose version is lower than the one the device runs is a downgrade: refused unless a downgrade
authorisation signed by a pinned key names this app, this release (and its version) and this device.

Standard library only: the detached agent imports this package alone (agent.py).
"""

import base64
import binascii
import calendar
import hashlib
import json
import os
import re
import stat
import time

from . import fsutil
from .errors import DowngradeError, ManifestError, SignatureError, TrustError

FORMAT = "changeward-edge-trust/1"
DOWNGRADE_FORMAT = "changeward-edge-downgrade/1"
DEFAULT_TRUST_FILE = "/etc/changeward/edge/trusted-keys.json"
PEM_RE = re.compile(r"-----BEGIN PUBLIC KEY-----\s*([A-Za-z0-9+/=\s]+?)\s*-----END PUBLIC KEY-----")
KEY_ID_RE = re.compile(r"\Asha256:[0-9a-f]{64}\Z")
MAX_KEYS = 16


# -- keys ------------------------------------------------------------------------------------------------
def _der(pem):
    match = PEM_RE.search(pem or "") if isinstance(pem, str) else None
    if not match:
        raise TrustError("a publisher key must be a PEM public key (-----BEGIN PUBLIC KEY-----)")
    try:
        return base64.b64decode("".join(match.group(1).split()), validate=True)
    except (binascii.Error, ValueError):
        raise TrustError("a publisher key's PEM body is not base64") from None


def key_id(pem):
    """sha256:<hex> of the key's DER (SubjectPublicKeyInfo): the same id the controller computes."""
    return "sha256:" + hashlib.sha256(_der(pem)).hexdigest()


def normalize_pem(pem):
    body = base64.b64encode(_der(pem)).decode("ascii")
    lines = [body[i : i + 64] for i in range(0, len(body), 64)]
    return "-----BEGIN PUBLIC KEY-----\n" + "\n".join(lines) + "\n-----END PUBLIC KEY-----\n"


def _entry(pem, by):
    return {"id": key_id(pem), "pem": normalize_pem(pem), "added_by": by, "added_at": _now()}


def _now():
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())


# -- the trust file -------------------------------------------------------------------------------------
def load(path):
    """The pinned keys (list of entries). TrustError when there are none or the file can be edited by others."""
    try:
        st = os.lstat(path)
    except OSError:
        raise TrustError(
            "this device has no pinned publisher keys (%s is missing): provision it (edge_update "
            "state=provisioned) before it accepts releases" % path
        ) from None
    if not stat.S_ISREG(st.st_mode):
        raise TrustError("%s is not a regular file; the pinned keys cannot be trusted" % path)
    # A pin that other users could rewrite pins nothing: refuse rather than trust it.
    if st.st_mode & 0o022 or st.st_uid not in (0, os.geteuid()):
        raise TrustError(
            "%s is writable by group/others or owned by another user (mode %04o, uid %d); refusing to trust it"
            % (path, stat.S_IMODE(st.st_mode), st.st_uid)
        )
    data = fsutil.read_json(path)
    keys = data.get("keys") if isinstance(data, dict) and data.get("format") == FORMAT else None
    if not isinstance(keys, list) or not keys:
        raise TrustError("%s is not a %s file with at least one key" % (path, FORMAT))
    out = []
    for entry in keys:
        if not isinstance(entry, dict) or key_id(entry.get("pem")) != entry.get("id"):
            raise TrustError("%s holds a key whose id does not match its PEM" % path)
        out.append(entry)
    return out


def save(path, keys):
    directory = os.path.dirname(path)
    fsutil.makedirs(directory, 0o755)
    # readable (public keys only), writable by its owner only
    fsutil.write_json(path, {"format": FORMAT, "keys": keys}, mode=0o644)


def provision(path, pems):
    """Pin ``pems`` on a device that has no trust file yet. Returns (changed, keys).

    Asking again for keys that are all pinned already changes nothing. A device whose pinned set lacks one
    of them is refused: after provisioning, keys change only through a signed release (``rotate``).
    """
    if not pems:
        raise TrustError("provisioning needs at least one publisher key (trusted_keys)")
    wanted = {}
    for pem in pems:
        wanted[key_id(pem)] = pem
    if os.path.lexists(path):
        keys = load(path)
        missing = sorted(set(wanted) - {k["id"] for k in keys})
        if missing:
            raise TrustError(
                "this device is provisioned already and does not pin %s; pinned keys change only through a "
                "release signed with a pinned key that carries the new key (manifest trust.add)" % ", ".join(missing)
            )
        return False, keys
    keys = [_entry(pem, "provisioning") for _id, pem in sorted(wanted.items())]
    save(path, keys)
    return True, keys


def rotation(manifest):
    """(add PEMs, remove ids) a manifest carries; empty lists without ``trust``."""
    spec = manifest.get("trust")
    if spec is None:
        return [], []
    if not isinstance(spec, dict) or set(spec) - {"add", "remove"}:
        raise ManifestError("manifest trust must be an object with add and/or remove")
    add, remove = spec.get("add") or [], spec.get("remove") or []
    if not isinstance(add, list) or not isinstance(remove, list):
        raise ManifestError("manifest trust.add and trust.remove must be lists")
    for pem in add:
        try:
            key_id(pem)
        except TrustError as exc:
            raise ManifestError("manifest trust.add: %s" % exc) from None
    for kid in remove:
        if not isinstance(kid, str) or not KEY_ID_RE.match(kid):
            raise ManifestError("manifest trust.remove must list key ids (sha256:<64 hex>), got %r" % (kid,))
    return add, remove


def rotate(keys, add, remove, by):
    """The pinned set after a signed release's rotation. Returns (new keys, added ids, removed ids)."""
    have = {k["id"] for k in keys}
    added = []
    out = [k for k in keys if k["id"] not in set(remove)]
    for pem in add:
        kid = key_id(pem)
        if kid not in have and kid not in added:
            out.append(_entry(pem, by))
            added.append(kid)
    removed = sorted(have & set(remove))
    if not out:
        raise TrustError("the release's key rotation would leave this device without any pinned key")
    if len(out) > MAX_KEYS:
        raise TrustError("the release's key rotation would pin more than %d keys" % MAX_KEYS)
    return out, added, removed


def verify_pinned(data, signature, keys, verify):
    """The pinned key entry whose signature over data verifies; SignatureError when none does."""
    for entry in keys:
        try:
            verify(data, signature, entry["pem"])
        except SignatureError:
            continue
        return entry
    raise SignatureError(
        "the signature does not verify with any of the %d publisher key(s) pinned on this device" % len(keys)
    )


# -- versions and downgrades ------------------------------------------------------------------------------
def version_key(version):
    """Order of release versions: components split at . - _, numbers compared as numbers, before words."""
    out = []
    for part in re.split(r"[._-]", version):
        out.append((1, int(part), "") if part.isdigit() else (0, 0, part))
    return tuple(out)


def is_downgrade(version, current_version):
    return current_version is not None and version_key(version) < version_key(current_version)


def check_downgrade(text, signature, keys, verify, app, release, version, host, now=None):
    """Accept a signed downgrade authorisation for exactly this app, release, version and device.

    Returns the id of the key that signed it; DowngradeError (or SignatureError) names what is missing.
    """
    if not text or not signature:
        raise DowngradeError("no downgrade authorisation was given")
    raw = text.encode("utf-8") if isinstance(text, str) else bytes(text)
    try:
        doc = json.loads(raw.decode("utf-8"))
    except (ValueError, UnicodeDecodeError):
        raise DowngradeError("the downgrade authorisation is not JSON") from None
    if not isinstance(doc, dict) or doc.get("format") != DOWNGRADE_FORMAT:
        raise DowngradeError("the downgrade authorisation's format must be %r" % DOWNGRADE_FORMAT)
    try:
        entry = verify_pinned(raw, signature, keys, verify)
    except SignatureError as exc:
        raise DowngradeError("the downgrade authorisation is not signed by a pinned key: %s" % exc) from None
    for field, expected in (("app", app), ("release", release), ("version", version)):
        if doc.get(field) != expected:
            raise DowngradeError("the downgrade authorisation names %s %r, not %r" % (field, doc.get(field), expected))
    hosts = doc.get("hosts")
    if not isinstance(hosts, list) or host not in hosts:
        raise DowngradeError("the downgrade authorisation does not name this device (%s)" % host)
    not_after = doc.get("not_after")
    if not_after is not None:
        try:
            limit = calendar.timegm(time.strptime(not_after, "%Y-%m-%dT%H:%M:%SZ"))
        except (TypeError, ValueError):
            raise DowngradeError("the downgrade authorisation's not_after must be YYYY-MM-DDTHH:MM:SSZ") from None
        if (time.time() if now is None else now) > limit:
            raise DowngradeError("the downgrade authorisation expired at %s" % not_after)
    return entry["id"]
