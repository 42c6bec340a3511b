# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""The host label vocabulary shared by every changeward feature.

Plain Python, no Ansible objects: the inventory plugin, gates, ring planning and reports all
normalise and validate labels through this module, so a label means the same thing everywhere.
docs/labels.md is the prose version of this file; keep the two in step.
"""

from __future__ import annotations

import re

from ansible_collections.changeward.hybrid.plugins.plugin_utils.errors import ChangewardError

ENV_TYPES = ("cloud", "onprem", "edge")
DATA_CLASSES = ("none", "internal", "pii", "pci", "phi")
ROLLBACK_CAPABILITIES = ("full", "partial", "none")
CRITICALITIES = ("low", "medium", "high", "critical")

# Order is the documented order; changeward_labels is built in this order.
LABELS = (
    "env_type",
    "provider",
    "region",
    "az",
    "site",
    "tenant",
    "ring",
    "data_class",
    "rollback_capability",
    "criticality",
    "owner_team",
    "services",
    "instance_id",
)

ENUM_LABELS = {
    "env_type": ENV_TYPES,
    "data_class": DATA_CLASSES,
    "rollback_capability": ROLLBACK_CAPABILITIES,
    "criticality": CRITICALITIES,
}
# Free-form labels are identifiers: they become group names and appear in ledger records, so
# spaces, quotes and template characters are refused rather than silently rewritten.
NAME_LABELS = ("provider", "region", "az", "site", "tenant", "owner_team", "instance_id")
NAME_RE = re.compile(r"^[a-z0-9][a-z0-9._-]{0,62}$")
# owner_team may be a team mail address.
OWNER_TEAM_RE = re.compile(r"^[a-z0-9][a-z0-9._@-]{0,126}$")
NAME_RULE = "lowercase letters, digits, '.', '_' or '-', starting with a letter or digit, at most 63 characters"
OWNER_TEAM_RULE = "lowercase letters, digits, '.', '_', '-' or '@', starting with a letter or digit"
RING_RULE = "an integer >= 0 or a name (" + NAME_RULE + ")"

# Defaults for labels a host does not carry. Each has a reason in docs/labels.md.
# rollback_capability: nobody may assume a rollback exists that no one declared.
DEFAULTS = {
    "rollback_capability": "none",
    "criticality": "medium",
    "data_class": "none",
    "services": (),
}

# The host variable the hybrid inventory puts a host's normalised labels in.
LABELS_VAR = "changeward_labels"


def _unset(value):
    return value is None or value == "" or value == [] or value == ()


def host_label(hostvars, label, default=None):
    """A host's label, the one lookup every plugin uses: ``changeward_labels.<label>`` (the hybrid inventory's),
    else the host variable ``<label>`` (a plain inventory), else ``default``. Empty values count as unset."""
    labels = hostvars.get(LABELS_VAR) if hasattr(hostvars, "get") else None
    value = labels.get(label) if hasattr(labels, "get") else None
    if _unset(value):
        value = hostvars.get(label) if hasattr(hostvars, "get") else None
    return default if _unset(value) else value


def host_labels(hostvars, labels=LABELS):
    """Every label of ``labels`` the host has (host_label of each), as {label: value}."""
    out = {}
    for label in labels:
        value = host_label(hostvars, label)
        if value is not None:
            out[label] = value
    return out


# Labels without which a host cannot be placed in a ring or judged against its peers.
REQUIRED_ALWAYS = ("env_type", "provider", "region")
REQUIRED_BY_ENV_TYPE = {
    "cloud": ("az",),
    "onprem": ("site",),
    "edge": ("site",),
}


class LabelError(ChangewardError, ValueError):
    """One label problem, naming host, label, bad value and what is allowed."""

    def __init__(self, label, message, value=None, allowed=None, host=None, origin=None):
        self.label = label
        self.message = message
        self.value = value
        self.allowed = allowed
        self.host = host
        self.origin = origin
        super().__init__(str(self))

    def with_context(self, host=None, origin=None):
        return LabelError(
            self.label,
            self.message,
            value=self.value,
            allowed=self.allowed,
            host=host if host is not None else self.host,
            origin=origin if origin is not None else self.origin,
        )

    def __str__(self):
        parts = []
        if self.host is not None:
            parts.append("host %r: " % (self.host,))
        parts.append("label %r %s" % (self.label, self.message))
        if self.allowed:
            parts.append(" (allowed: %s)" % (self.allowed,))
        if self.origin:
            parts.append(" [from %s]" % (self.origin,))
        return "".join(parts)


def _describe(value):
    return "%r (%s)" % (value, type(value).__name__)


def _invalid(label, value, allowed):
    return LabelError(label, "has invalid value %s" % _describe(value), value=value, allowed=allowed)


def _text(label, value, allowed):
    # bool is checked first because YAML turns yes/no/on/off into booleans and bool is an int.
    if value is None or isinstance(value, bool) or not isinstance(value, str):
        raise _invalid(label, value, allowed)
    text = value.strip().lower()
    if not text:
        raise LabelError(label, "is empty", value=value, allowed=allowed)
    return text


def _name(label, value, pattern=NAME_RE, rule=NAME_RULE):
    text = _text(label, value, rule)
    if not pattern.match(text):
        raise _invalid(label, value, rule)
    return text


def _ring(value):
    if isinstance(value, bool):
        raise _invalid("ring", value, RING_RULE)
    if isinstance(value, int):
        if value < 0:
            raise _invalid("ring", value, RING_RULE)
        return value
    text = _text("ring", value, RING_RULE)
    if text.isdigit():
        return int(text)
    if not NAME_RE.match(text):
        raise _invalid("ring", value, RING_RULE)
    return text


def _services(value):
    rule = "a list of names or a comma separated string of names; each name: " + NAME_RULE
    if isinstance(value, str):
        items = value.split(",")
    elif isinstance(value, (list, tuple)):
        items = list(value)
    else:
        raise _invalid("services", value, rule)
    names = set()
    for item in items:
        if not isinstance(item, str) or isinstance(item, bool):
            raise LabelError("services", "has invalid item %s" % _describe(item), value=value, allowed=rule)
        text = item.strip().lower()
        if not text:
            # "web,,demo" or a trailing comma in a cloud tag is harmless.
            continue
        if not NAME_RE.match(text):
            raise LabelError("services", "has invalid item %r" % (item,), value=value, allowed=rule)
        names.add(text)
    return sorted(names)


def normalize_label(label, value):
    """Return the canonical form of one label value or raise LabelError."""
    if label not in LABELS:
        raise LabelError(label, "is not a known label", allowed=", ".join(LABELS))
    if label in ENUM_LABELS:
        allowed = ENUM_LABELS[label]
        text = _text(label, value, ", ".join(allowed))
        if text not in allowed:
            raise _invalid(label, value, ", ".join(allowed))
        return text
    if label == "ring":
        return _ring(value)
    if label == "services":
        return _services(value)
    if label == "owner_team":
        return _name(label, value, OWNER_TEAM_RE, OWNER_TEAM_RULE)
    return _name(label, value)


def normalize_labels(mapping, host=None, origin=None, ignore_unknown=False):
    """Normalise a mapping of labels.

    Returns (labels, errors). Unknown keys are errors unless ignore_unknown (cloud tags carry
    many keys that are not labels). Keys are matched case-insensitively.
    """
    labels = {}
    errors = []
    if not isinstance(mapping, dict):
        errors.append(
            LabelError(
                "*", "must be given as a mapping of label: value, got %s" % _describe(mapping), host=host, origin=origin
            )
        )
        return labels, errors
    for key, value in mapping.items():
        name = key.strip().lower() if isinstance(key, str) else key
        if name not in LABELS:
            if ignore_unknown:
                continue
            errors.append(
                LabelError(str(key), "is not a known label", allowed=", ".join(LABELS), host=host, origin=origin)
            )
            continue
        try:
            value = normalize_label(name, value)
        except LabelError as exc:
            errors.append(exc.with_context(host=host, origin=origin))
            continue
        if name in labels and labels[name] != value:
            errors.append(
                LabelError(
                    name,
                    "is given twice with different values %r and %r" % (labels[name], value),
                    host=host,
                    origin=origin,
                )
            )
            continue
        labels[name] = value
    return labels, errors


def required_labels(env_type):
    """Labels a host of this env_type must carry after defaults are applied."""
    return REQUIRED_ALWAYS + REQUIRED_BY_ENV_TYPE.get(env_type, ())


def complete_labels(labels, host=None):
    """Apply the built-in defaults and check required labels.

    Returns (complete, errors): complete has every label of LABELS as a key, None for an optional
    label that is not set, and lists for services.
    """
    complete = {}
    for name in LABELS:
        if name in labels and labels[name] is not None:
            complete[name] = labels[name]
        elif name in DEFAULTS:
            default = DEFAULTS[name]
            complete[name] = list(default) if isinstance(default, tuple) else default
        else:
            complete[name] = None
    errors = []
    env_type = complete["env_type"]
    for name in required_labels(env_type):
        if complete[name] is None:
            why = "is required" if name in REQUIRED_ALWAYS else "is required for env_type %s" % env_type
            errors.append(LabelError(name, why + " but missing", host=host))
    return complete, errors


# Prefix of the group each label puts a host in; env_type groups are the bare value.
GROUP_PREFIXES = (
    ("region", "region"),
    ("az", "az"),
    ("site", "site"),
    ("tenant", "tenant"),
    ("provider", "provider"),
    ("criticality", "criticality"),
    ("data_class", "data_class"),
    ("rollback_capability", "rollback"),
    ("ring", "ring"),
)


def default_group_names(labels):
    """Group names (not yet sanitised for Ansible) a host with these labels belongs to."""
    names = []
    if labels.get("env_type"):
        names.append(labels["env_type"])
    for label, prefix in GROUP_PREFIXES:
        value = labels.get(label)
        if value is None or value == "":
            continue
        names.append("%s_%s" % (prefix, value))
    for service in labels.get("services") or ():
        names.append("service_%s" % service)
    return names
