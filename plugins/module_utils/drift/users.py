# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Local users from /etc/passwd (the file itself, not NSS: directory users are not local state)."""

import os


def read_passwd(root="/"):
    users = {}
    with open(os.path.join(root, "etc/passwd"), "r", encoding="utf-8", errors="replace") as handle:
        for line in handle:
            fields = line.rstrip("\n").split(":")
            if len(fields) < 7 or not fields[0] or fields[0].startswith(("+", "-", "#")):
                continue
            try:
                uid, gid = int(fields[2]), int(fields[3])
            except ValueError:
                continue
            users.setdefault(fields[0], {"uid": uid, "gid": gid, "home": fields[5], "shell": fields[6]})
    return users


def check_users(out, users, root="/"):
    if not users:
        return
    try:
        passwd = read_passwd(root)
    except OSError as exc:
        for spec in users:
            out.count("user")
            out.cannot("user", spec["name"], "cannot read /etc/passwd: %s" % exc.strerror)
        return
    for spec in users:
        out.count("user")
        actual = passwd.get(spec["name"])
        if spec["state"] == "absent":
            if actual is not None:
                out.add("user", spec["name"], "state", "absent", "present")
            continue
        if actual is None:
            out.add("user", spec["name"], "state", "present", "absent")
            continue
        for attr in ("uid", "gid", "home", "shell"):
            if spec[attr] is not None and spec[attr] != actual[attr]:
                out.add("user", spec["name"], attr, spec[attr], actual[attr])
