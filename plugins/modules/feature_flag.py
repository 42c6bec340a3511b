#!/usr/bin/python
# -*- coding: utf-8 -*-
# Copyright: (c) 2025, changeward maintainers
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)

from __future__ import absolute_import, division, print_function

__metaclass__ = type

DOCUMENTATION = r"""
module: feature_flag
short_description: Set a feature flag or kill switch in a flagd flag definition file
version_added: "0.1.0"
author: changeward maintainers (@changeward)
description:
  - Sets the state (C(ENABLED) or C(DISABLED)) and the default variant of one flag in a flag definition file
    in the format of the OpenFeature flagd file provider (a C(flags) object mapping each key to its C(state),
    C(variants), C(defaultVariant) and optional C(targeting)), creates the flag, or removes it.
  - A kill switch is a flag whose default variant turns a release's behaviour off; flipping it changes what the
    running service does without rolling its code back. See docs/rollouts.md.
  - Only the named flag is changed; every other flag, targeting rule, C($schema), C($evaluators) and
    C(metadata) is kept. The file is written atomically (temporary file in the same directory, fsync, rename),
    so a provider watching it never reads half a file.
  - A file that is not a valid flag definition is refused unless O(force=true), because the provider keeps its
    last good flags while the file is invalid, and a blind rewrite would hide that.
options:
  path:
    description: The flag definition file on the target. A missing file is created (its directory must exist).
    type: path
    required: true
  name:
    description: The flag key.
    type: str
    required: true
  state:
    description: V(present) sets or creates the flag, V(absent) removes it.
    type: str
    choices: [present, absent]
    default: present
  enabled:
    description:
      - The flag's flagd C(state) - V(true) is C(ENABLED), V(false) C(DISABLED) (a disabled flag evaluates to
        the application's own default). Unset leaves it as it is; a new flag is C(ENABLED).
    type: bool
  default_variant:
    description: The variant served without targeting. Must be one of the flag's variants.
    type: str
  variants:
    description:
      - Variant name to value. Required to create a flag; replaces the flag's variants when given.
    type: dict
  force:
    description: Replace a file that is not a valid flag definition (only the named flag survives).
    type: bool
    default: false
  mode:
    description: Mode of a newly created file; an existing file keeps its mode, owner and group.
    type: raw
    default: "0644"
extends_documentation_fragment:
  - changeward.hybrid.ledger.target
attributes:
  check_mode:
    support: full
    description: Reports what would change, with a diff; nothing is written.
  diff_mode:
    support: full
    description: The file's text before and after.
  platform:
    platforms: posix
    support: full
    description: Python 3.8 or later on the target.
seealso:
  - name: flagd flag definitions
    description: The file format.
    link: https://flagd.dev/reference/flag-definitions/
  - name: Rollouts, breakers and kill switches
    description: How changeward uses kill switches.
    link: https://github.com/changeward/hybrid/blob/main/docs/rollouts.md
"""

EXAMPLES = r"""
- name: Turn the release off with its kill switch
  changeward.hybrid.feature_flag:
    path: /etc/demo-service/flags.json
    name: kill-switch
    variants: {"on": true, "off": false}
    default_variant: "on"
    enabled: true

- name: Turn it back on
  changeward.hybrid.feature_flag:
    path: /etc/demo-service/flags.json
    name: kill-switch
    default_variant: "off"

- name: Serve the new checkout to nobody without a rollback
  changeward.hybrid.feature_flag:
    path: /etc/flagd/flags.json
    name: new-checkout
    enabled: false

- name: Remove a flag
  changeward.hybrid.feature_flag:
    path: /etc/flagd/flags.json
    name: old-experiment
    state: absent
"""

RETURN = r"""
path:
  description: The flag file.
  returned: always
  type: str
  sample: /etc/demo-service/flags.json
flag:
  description: The flag as it is after the task (V(null) when absent).
  returned: always
  type: dict
  sample: {"state": "ENABLED", "variants": {"on": true, "off": false}, "defaultVariant": "on"}
value:
  description:
    - What an evaluation without targeting returns after the task - the default variant's value, or V(null)
      when the flag is absent or disabled.
  returned: always
  type: raw
  sample: true
changes:
  description: One line per field that changed.
  returned: always
  type: list
  elements: str
  sample: ['kill-switch.defaultVariant: "off" -> "on"']
"""

from ansible.module_utils.basic import AnsibleModule

from ansible_collections.changeward.hybrid.plugins.module_utils.feature_flag import (
    SCHEMA_URL,
    FlagError,
    apply,
    effective_value,
    parse,
    read,
    render,
    write_atomic,
)


def ensure_flag(module, params):
    path = params["path"]
    text, stat = read(path)
    try:
        doc = parse(text, path)
    except FlagError:
        if not params["force"]:
            raise
        doc = {"flags": {}}
    if stat is None:
        doc.setdefault("$schema", SCHEMA_URL)
    new, changes = apply(
        doc,
        params["name"],
        present=params["state"] == "present",
        enabled=params["enabled"],
        default_variant=params["default_variant"],
        variants=params["variants"],
    )
    after = render(new)
    changed = bool(changes) or (stat is None and params["state"] == "present")
    result = {
        "changed": changed,
        "path": path,
        "flag": new["flags"].get(params["name"]),
        "value": effective_value(new, params["name"]),
        "changes": changes,
    }
    if module._diff:
        result["diff"] = {
            "before": text,
            "after": after if changed else text,
            "before_header": path,
            "after_header": path,
        }
    if changed and not module.check_mode:
        if stat is not None:
            write_atomic(path, after, stat.st_mode & 0o7777, stat.st_uid, stat.st_gid)
        else:
            write_atomic(path, after, _mode(params["mode"]))
    return result


def _mode(value):
    if isinstance(value, int):
        return value
    try:
        return int(str(value), 8)
    except ValueError:
        raise FlagError("mode must be an octal string such as '0644', got %r" % (value,)) from None


def run(module):
    try:
        return ensure_flag(module, module.params)
    except FlagError as exc:
        module.fail_json(msg="feature_flag: %s" % exc, path=module.params["path"])
    except (IOError, OSError) as exc:
        module.fail_json(msg="feature_flag: cannot write %s: %s" % (module.params["path"], exc))


def main():
    module = AnsibleModule(
        argument_spec={
            "ledger": {"type": "str"},  # module_defaults of the group; its action never sends it
            "key": {"type": "str", "no_log": True},
            "path": {"type": "path", "required": True},
            "name": {"type": "str", "required": True},
            "state": {"type": "str", "choices": ["present", "absent"], "default": "present"},
            "enabled": {"type": "bool"},
            "default_variant": {"type": "str"},
            "variants": {"type": "dict"},
            "force": {"type": "bool", "default": False},
            "mode": {"type": "raw", "default": "0644"},
        },
        supports_check_mode=True,
    )
    module.exit_json(**run(module))


if __name__ == "__main__":
    main()
