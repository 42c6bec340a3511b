# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Flags in a flagd flag definition file (the OpenFeature flagd "file" provider format).

A file is ``{"$schema"?, "flags": {key: {"state": "ENABLED"|"DISABLED", "variants": {...},
"defaultVariant": "...", "targeting"?, "metadata"?}}, "$evaluators"?, "metadata"?}``. Only what the caller
asks for is changed; every other key, flag and targeting rule is kept as it was. Runs on targets: standard
library only, Python 3.8+.
"""

from __future__ import absolute_import, division, print_function

__metaclass__ = type

import copy
import json
import os
import re
import tempfile

from ansible_collections.changeward.hybrid.plugins.module_utils.errors import ChangewardError

FLAG_STATES = ("ENABLED", "DISABLED")
FLAG_KEY_RE = re.compile(r"\A[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}\Z")
SCHEMA_URL = "https://flagd.dev/schema/v0/flags.json"


class FlagError(ChangewardError):
    """A flag file or a requested flag is not valid."""


def parse(text, path="flags file"):
    """The flag document in ``text``; an empty text is an empty document. FlagError when invalid."""
    if not text.strip():
        return {"flags": {}}
    try:
        doc = json.loads(text)
    except ValueError as exc:
        raise FlagError("%s is not valid JSON: %s" % (path, exc)) from None
    validate(doc, path)
    return doc


def validate(doc, path="flags file"):
    if not isinstance(doc, dict):
        raise FlagError("%s must hold a JSON object" % path)
    flags = doc.get("flags")
    if not isinstance(flags, dict):
        raise FlagError("%s needs a 'flags' object" % path)
    for key, flag in flags.items():
        check_flag(key, flag, path)
    return doc


def check_flag(key, flag, path="flags file"):
    where = "%s: flag %r" % (path, key)
    if not isinstance(flag, dict):
        raise FlagError("%s must be an object" % where)
    variants = flag.get("variants")
    if not isinstance(variants, dict) or not variants:
        raise FlagError("%s needs a non-empty 'variants' object" % where)
    state = flag.get("state", "ENABLED")
    if state not in FLAG_STATES:
        raise FlagError("%s: state must be ENABLED or DISABLED, got %r" % (where, state))
    default = flag.get("defaultVariant")
    if default not in variants:
        raise FlagError(
            "%s: defaultVariant %r is not one of its variants (%s)" % (where, default, ", ".join(sorted(variants)))
        )


def apply(doc, key, present=True, enabled=None, default_variant=None, variants=None):
    """(new document, what changed) for one flag. The input document is not modified.

    present=False removes the flag. For a flag that does not exist yet, ``variants`` and ``default_variant``
    are required. ``enabled`` sets the flag's state (None leaves it; new flags default to ENABLED).
    """
    if not isinstance(key, str) or not FLAG_KEY_RE.match(key):
        raise FlagError(
            "flag name must be 1-128 letters, digits or _.:- starting with a letter or digit, got %r" % (key,)
        )
    new = copy.deepcopy(doc)
    flags = new.setdefault("flags", {})
    old = flags.get(key)
    if not present:
        if old is None:
            return new, []
        del flags[key]
        return new, ["removed flag %s" % key]
    if old is None:
        if not variants:
            raise FlagError("flag %s does not exist yet: give its variants" % key)
        if default_variant is None:
            raise FlagError("flag %s does not exist yet: give its default_variant" % key)
        flag = {"state": "ENABLED", "variants": {}, "defaultVariant": None}
    else:
        flag = copy.deepcopy(old)
    if variants is not None:
        if not isinstance(variants, dict) or not variants:
            raise FlagError("variants of flag %s must be a non-empty mapping" % key)
        flag["variants"] = copy.deepcopy(variants)
    if default_variant is not None:
        flag["defaultVariant"] = default_variant
    if enabled is not None:
        flag["state"] = "ENABLED" if enabled else "DISABLED"
    check_flag(key, flag, "result")
    flags[key] = flag
    if old == flag:
        return new, []
    changes = []
    if old is None:
        changes.append("created flag %s" % key)
    else:
        for field in sorted(set(old) | set(flag)):
            if old.get(field) != flag.get(field):
                changes.append(
                    "%s.%s: %s -> %s" % (key, field, json.dumps(old.get(field)), json.dumps(flag.get(field)))
                )
    return new, changes


def effective_value(doc, key):
    """What a flagd evaluation without targeting returns: the default variant's value, or None when the
    flag is missing or DISABLED (flagd then answers FLAG_NOT_FOUND / the caller's default)."""
    flag = (doc.get("flags") or {}).get(key)
    if not isinstance(flag, dict) or flag.get("state", "ENABLED") != "ENABLED":
        return None
    return (flag.get("variants") or {}).get(flag.get("defaultVariant"))


def render(doc):
    return json.dumps(doc, indent=2, sort_keys=False) + "\n"


def read(path):
    """(text, stat or None) of ``path``; a missing file reads as empty."""
    try:
        with open(path, "r") as fh:
            text = fh.read()
        return text, os.stat(path)
    except (IOError, OSError) as exc:
        if getattr(exc, "errno", None) == 2:
            return "", None
        raise FlagError("cannot read %s: %s" % (path, exc.strerror or exc)) from None


def write_atomic(path, text, mode=None, uid=None, gid=None):
    """Write ``text`` to ``path`` via a temp file in the same directory, fsync and rename, so a reader (the
    flagd provider or the demo service) sees the old or the new file, never half of one."""
    directory = os.path.dirname(os.path.abspath(path)) or "."
    if not os.path.isdir(directory):
        raise FlagError("directory %s does not exist" % directory)
    fd, tmp = tempfile.mkstemp(prefix=".%s." % os.path.basename(path), suffix=".tmp", dir=directory)
    try:
        with os.fdopen(fd, "w") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o644 if mode is None else mode)
        if uid is not None and gid is not None:
            os.chown(tmp, uid, gid)
        os.rename(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    dir_fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(dir_fd)
    finally:
        os.close(dir_fd)
