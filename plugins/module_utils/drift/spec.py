# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The declared baseline: validation and one canonical form (see docs/drift.md, "Baseline").

Every problem is a BaselineError naming the item and key (``files[2].mode``): a baseline that cannot be
read exactly is refused, never half-used, so a typo cannot turn a check into "nothing to compare".
"""

import hashlib
import json
import re

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import BaselineError

SECTIONS = ("files", "trees", "packages", "services", "sysctls", "ports", "users")
SHA256_RE = re.compile(r"^[0-9a-f]{64}$")
OCTAL_RE = re.compile(r"^0?[0-7]{3,4}$")
NAME_RE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9@._+:-]{0,200}$")
SYSCTL_RE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_./-]{0,250}$")
USER_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,31}\$?$")
MAX_ITEMS = 10000


def _fail(where, msg):
    raise BaselineError("baseline %s: %s" % (where, msg))


def _keys(item, where, allowed, required=()):
    if not isinstance(item, dict):
        _fail(where, "must be a mapping, got %s" % type(item).__name__)
    unknown = sorted(set(item) - set(allowed))
    if unknown:
        _fail(where, "unknown key(s) %s; allowed: %s" % (", ".join(map(str, unknown)), ", ".join(allowed)))
    missing = [k for k in required if item.get(k) in (None, "")]
    if missing:
        _fail(where, "missing %s" % ", ".join(missing))


def _choice(value, where, choices, default):
    if value is None:
        return default
    if value not in choices:
        _fail(where, "must be one of %s, got %r" % (", ".join(choices), value))
    return value


def _bool(value, where):
    if value is None or isinstance(value, bool):
        return value
    _fail(where, "must be true or false, got %r" % (value,))


def _abs_path(value, where):
    if not isinstance(value, str) or not value.startswith("/") or "\0" in value:
        _fail(where, "must be an absolute path, got %r" % (value,))
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if ".." in parts:
        _fail(where, "must not contain '..', got %r" % (value,))
    return "/" + "/".join(parts)


def _rel_path(value, where):
    if not isinstance(value, str) or not value or value.startswith("/") or "\0" in value:
        _fail(where, "must be a relative path, got %r" % (value,))
    parts = [p for p in value.split("/") if p not in ("", ".")]
    if not parts or ".." in parts:
        _fail(where, "must be a relative path inside the tree, got %r" % (value,))
    return "/".join(parts)


def mode_text(mode):
    return "%04o" % mode


def normalise_mode(value, where):
    """'0644', '644' or an int that already is the mode (YAML 0644 is the int 420)."""
    if value is None:
        return None
    if isinstance(value, bool):
        _fail(where, "must be an octal string such as '0644', got %r" % (value,))
    if isinstance(value, int):
        if not 0 <= value <= 0o7777:
            _fail(where, "is out of range: %r" % (value,))
        return mode_text(value)
    if isinstance(value, str) and OCTAL_RE.match(value.strip()):
        return mode_text(int(value.strip(), 8))
    _fail(where, "must be an octal string such as '0644', got %r" % (value,))


def _id_or_name(value, where):
    """An owner or group: a name, or a numeric id (int or digits)."""
    if value is None:
        return None
    if isinstance(value, bool):
        _fail(where, "must be a name or a numeric id, got %r" % (value,))
    if isinstance(value, int):
        if value < 0:
            _fail(where, "must not be negative")
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    if isinstance(value, str) and USER_RE.match(value):
        return value
    _fail(where, "must be a name or a numeric id, got %r" % (value,))


def _sha(value, where):
    if value is None:
        return None
    if not isinstance(value, str) or not SHA256_RE.match(value.lower()):
        _fail(where, "must be 64 hex digits (sha256), got %r" % (value,))
    return value.lower()


def _int(value, where, low, high, optional=True):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, str)) or not str(value).strip().isdigit():
        _fail(where, "must be an integer, got %r" % (value,))
    value = int(value)
    if not low <= value <= high:
        _fail(where, "must be between %d and %d, got %d" % (low, high, value))
    return value


def _text(value, where, optional=True):
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, (str, int, float)):
        _fail(where, "must be a string, got %r" % (value,))
    return str(value)


def _entry_attrs(item, where, kind):
    out = {
        "mode": normalise_mode(item.get("mode"), where + ".mode"),
        "owner": _id_or_name(item.get("owner"), where + ".owner"),
        "group": _id_or_name(item.get("group"), where + ".group"),
    }
    sha = _sha(item.get("sha256"), where + ".sha256")
    target = item.get("target")
    if sha is not None and kind != "file":
        _fail(where, "sha256 only applies to files, not %s" % kind)
    if target is not None and kind != "link":
        _fail(where, "target only applies to links, not %s" % kind)
    if kind == "link" and (not isinstance(target, str) or not target):
        _fail(where + ".target", "a link needs its target")
    out["sha256"] = sha
    out["target"] = target
    return out


def _file(item, where):
    _keys(item, where, ("path", "state", "sha256", "mode", "owner", "group", "target"), ("path",))
    path = _abs_path(item["path"], where + ".path")
    state = _choice(item.get("state"), where + ".state", ("file", "directory", "link", "absent"), "file")
    out = {"path": path, "state": state}
    if state == "absent":
        extra = [k for k in ("sha256", "mode", "owner", "group", "target") if item.get(k) is not None]
        if extra:
            _fail(where, "an absent file has no %s" % ", ".join(extra))
        return out
    out.update(_entry_attrs(item, where, state))
    return out


def _tree(item, where):
    _keys(item, where, ("path", "mode", "owner", "group", "entries", "exact", "ignore"), ("path",))
    path = _abs_path(item["path"], where + ".path")
    if path == "/":
        _fail(where + ".path", "the root directory cannot be a tree")
    entries = item.get("entries") or {}
    if not isinstance(entries, dict):
        _fail(where + ".entries", "must map relative paths to their attributes")
    norm = {}
    for rel in sorted(entries, key=str):
        ewhere = "%s.entries[%r]" % (where, rel)
        attrs = entries[rel] if entries[rel] is not None else {}
        _keys(attrs, ewhere, ("type", "sha256", "mode", "owner", "group", "target"))
        key = _rel_path(rel, ewhere)
        if key in norm:
            _fail(ewhere, "is declared twice")
        kind = _choice(attrs.get("type"), ewhere + ".type", ("file", "directory", "link"), "file")
        norm[key] = dict(_entry_attrs(attrs, ewhere, kind), type=kind)
    for key in norm:  # every parent of a declared entry must be a declared directory (or the tree root)
        parent = key.rpartition("/")[0]
        if parent and norm.get(parent, {}).get("type") != "directory":
            _fail("%s.entries[%r]" % (where, key), "its parent %r is not declared as a directory" % parent)
    ignore = item.get("ignore") or []
    if not isinstance(ignore, list) or not all(isinstance(p, str) and p for p in ignore):
        _fail(where + ".ignore", "must be a list of glob patterns")
    exact = _bool(item.get("exact"), where + ".exact")
    out = {"path": path, "entries": norm, "exact": True if exact is None else exact, "ignore": sorted(ignore)}
    out.update(_entry_attrs(item, where, "directory"))
    del out["sha256"], out["target"]
    return out


def _package(item, where):
    _keys(item, where, ("name", "state", "version"), ("name",))
    name = item["name"]
    if not isinstance(name, str) or not NAME_RE.match(name):
        _fail(where + ".name", "is not a package name: %r" % (name,))
    state = _choice(item.get("state"), where + ".state", ("present", "absent"), "present")
    version = _text(item.get("version"), where + ".version")
    if state == "absent" and version is not None:
        _fail(where, "an absent package has no version")
    return {"name": name, "state": state, "version": version}


def _service(item, where):
    _keys(item, where, ("name", "state", "enabled"), ("name",))
    name = item["name"]
    if not isinstance(name, str) or not NAME_RE.match(name) or name.startswith("."):
        _fail(where + ".name", "is not a service name: %r" % (name,))
    state = _choice(item.get("state"), where + ".state", ("running", "stopped"), None)
    enabled = _bool(item.get("enabled"), where + ".enabled")
    if state is None and enabled is None:
        _fail(where, "declares neither state nor enabled: nothing to compare")
    return {"name": name, "state": state, "enabled": enabled}


def normalise_sysctl_value(value):
    """Whitespace-insensitive, as sysctl(8) prints values ('4096\\t87380' == '4096 87380')."""
    return " ".join(str(value).split())


def _sysctl(item, where):
    _keys(item, where, ("name", "value"), ("name",))
    name = item["name"]
    if not isinstance(name, str) or not SYSCTL_RE.match(name) or ".." in name:
        _fail(where + ".name", "is not a sysctl name: %r" % (name,))
    if item.get("value") is None or isinstance(item.get("value"), (bool, dict, list)):
        _fail(where + ".value", "must be a string or number, got %r" % (item.get("value"),))
    return {"name": name, "value": normalise_sysctl_value(item["value"])}


def _port(item, where):
    _keys(item, where, ("port", "protocol", "address", "state"), ("port",))
    port = _int(item.get("port"), where + ".port", 1, 65535, optional=False)
    proto = _choice(item.get("protocol"), where + ".protocol", ("tcp", "udp"), "tcp")
    state = _choice(item.get("state"), where + ".state", ("listening", "closed"), "listening")
    address = item.get("address")
    if address is not None:
        import ipaddress

        try:
            address = str(ipaddress.ip_address(str(address)))
        except ValueError:
            _fail(where + ".address", "is not an IP address: %r" % (address,))
    return {"port": port, "protocol": proto, "address": address, "state": state}


def _user(item, where):
    _keys(item, where, ("name", "state", "uid", "gid", "home", "shell"), ("name",))
    name = item["name"]
    if not isinstance(name, str) or not USER_RE.match(name):
        _fail(where + ".name", "is not a user name: %r" % (name,))
    state = _choice(item.get("state"), where + ".state", ("present", "absent"), "present")
    out = {
        "name": name,
        "state": state,
        "uid": _int(item.get("uid"), where + ".uid", 0, 2**32 - 2),
        "gid": _int(item.get("gid"), where + ".gid", 0, 2**32 - 2),
        "home": _text(item.get("home"), where + ".home"),
        "shell": _text(item.get("shell"), where + ".shell"),
    }
    if state == "absent" and any(out[k] is not None for k in ("uid", "gid", "home", "shell")):
        _fail(where, "an absent user has no uid, gid, home or shell")
    return out


CHECKERS = {
    "files": (_file, "path"),
    "trees": (_tree, "path"),
    "packages": (_package, "name"),
    "services": (_service, "name"),
    "sysctls": (_sysctl, "name"),
    "ports": (_port, None),
    "users": (_user, "name"),
}


def normalise(baseline):
    """The canonical baseline: every section present, defaults filled, duplicates refused."""
    if not isinstance(baseline, dict):
        raise BaselineError("baseline must be a mapping of sections (%s)" % ", ".join(SECTIONS))
    unknown = sorted(set(baseline) - set(SECTIONS))
    if unknown:
        raise BaselineError(
            "baseline: unknown section(s) %s; allowed: %s" % (", ".join(map(str, unknown)), ", ".join(SECTIONS))
        )
    out = {}
    total = 0
    for section in SECTIONS:
        items = baseline.get(section)
        if items is None:
            items = []
        if not isinstance(items, list):
            raise BaselineError("baseline %s: must be a list" % section)
        check, key = CHECKERS[section]
        seen = {}
        norm = []
        for i, item in enumerate(items):
            where = "%s[%d]" % (section, i)
            entry = check(item, where)
            ident = entry[key] if key else (entry["protocol"], entry["port"], entry["address"])
            if ident in seen:
                raise BaselineError("baseline %s: %r is already declared at %s" % (where, ident, seen[ident]))
            seen[ident] = where
            norm.append(entry)
        total += len(norm)
        out[section] = norm
    if total > MAX_ITEMS:
        raise BaselineError("baseline: %d items is more than the %d one scan takes" % (total, MAX_ITEMS))
    _no_overlap(out)
    return out


def _no_overlap(baseline):
    """A file inside a declared tree would be judged twice, maybe differently: refuse it."""
    trees = [t["path"] for t in baseline["trees"]]
    for f in baseline["files"]:
        for t in trees:
            if f["path"] == t or f["path"].startswith(t + "/"):
                raise BaselineError("baseline files: %s lies inside the declared tree %s" % (f["path"], t))
    for i, a in enumerate(trees):
        for b in trees[i + 1 :]:
            if a.startswith(b + "/") or b.startswith(a + "/"):
                raise BaselineError("baseline trees: %s and %s overlap" % (a, b))


def digest(baseline):
    """sha256 of the canonical baseline: which desired state a result was judged against."""
    text = json.dumps(baseline, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()
