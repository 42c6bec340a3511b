# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Files and directory trees: type, sha256 of content, permission bits, owner and group.

Symlinks are never followed: a declared file that became a link is drift of its type. ``root`` prefixes
every path so tests can scan a scratch directory; results always name the declared path.
"""

import fnmatch
import grp
import hashlib
import os
import pwd
import stat

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.spec import mode_text

CHUNK = 1024 * 1024
MAX_TREE_ENTRIES = 200000


def kind_of(st):
    if stat.S_ISREG(st.st_mode):
        return "file"
    if stat.S_ISDIR(st.st_mode):
        return "directory"
    if stat.S_ISLNK(st.st_mode):
        return "link"
    return "other"


def sha256_of(path):
    h = hashlib.sha256()
    with open(path, "rb") as handle:
        while True:
            block = handle.read(CHUNK)
            if not block:
                break
            h.update(block)
    return h.hexdigest()


def _user_name(uid):
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return str(uid)


def _group_name(gid):
    try:
        return grp.getgrgid(gid).gr_name
    except KeyError:
        return str(gid)


def _host_path(root, path):
    return path if root in ("", "/") else os.path.join(root, path.lstrip("/"))


def compare_entry(out, item, host_path, expected, st):
    """Compare one existing entry (already lstat'ed) with its declared attributes."""
    kind = kind_of(st)
    want = expected.get("state") or expected.get("type")
    if kind != want:
        out.add("file", item, "type", want, kind)
        return
    if expected.get("mode") is not None:
        actual = mode_text(stat.S_IMODE(st.st_mode))
        if actual != expected["mode"] and kind != "link":
            out.add("file", item, "mode", expected["mode"], actual)
    for attr, ident, name_of in (("owner", st.st_uid, _user_name), ("group", st.st_gid, _group_name)):
        want_id = expected.get(attr)
        if want_id is None:
            continue
        if isinstance(want_id, int):
            if ident != want_id:
                out.add("file", item, attr, want_id, ident)
        else:
            actual = name_of(ident)
            if actual != want_id:
                out.add("file", item, attr, want_id, actual)
    if kind == "link" and expected.get("target") is not None:
        try:
            target = os.readlink(host_path)
        except OSError as exc:
            out.cannot("file", item, "cannot read the link: %s" % exc.strerror)
            return
        if target != expected["target"]:
            out.add("file", item, "target", expected["target"], target)
    if kind == "file" and expected.get("sha256") is not None:
        try:
            actual = sha256_of(host_path)
        except OSError as exc:
            out.cannot("file", item, "cannot read the content: %s" % exc.strerror)
            return
        if actual != expected["sha256"]:
            out.add("file", item, "sha256", expected["sha256"], actual)


def check_files(out, files, root="/"):
    for spec in files:
        path = spec["path"]
        out.count("file")
        try:
            st = os.lstat(_host_path(root, path))
        except FileNotFoundError:
            if spec["state"] != "absent":
                out.add("file", path, "state", spec["state"], "absent")
            continue
        except NotADirectoryError:
            if spec["state"] != "absent":
                out.add("file", path, "state", spec["state"], "absent")
            continue
        except OSError as exc:
            out.cannot("file", path, "cannot stat: %s" % exc.strerror)
            continue
        if spec["state"] == "absent":
            out.add("file", path, "state", "absent", kind_of(st))
            continue
        compare_entry(out, path, _host_path(root, path), spec, st)


def _walk(top, ignore):
    """{relative path: lstat result} of everything below ``top``, ignored subtrees left out."""
    found = {}
    stack = [""]
    while stack:
        rel_dir = stack.pop()
        with os.scandir(os.path.join(top, rel_dir) if rel_dir else top) as it:
            for entry in it:
                rel = rel_dir + "/" + entry.name if rel_dir else entry.name
                if any(fnmatch.fnmatchcase(rel, p) or fnmatch.fnmatchcase(entry.name, p) for p in ignore):
                    continue
                st = entry.stat(follow_symlinks=False)
                found[rel] = st
                if len(found) > MAX_TREE_ENTRIES:
                    raise OverflowError("more than %d entries" % MAX_TREE_ENTRIES)
                if stat.S_ISDIR(st.st_mode):
                    stack.append(rel)
    return found


def check_trees(out, trees, root="/"):
    for spec in trees:
        path = spec["path"]
        top = _host_path(root, path)
        out.count("file")
        try:
            st = os.lstat(top)
        except (FileNotFoundError, NotADirectoryError):
            out.add("file", path, "state", "directory", "absent")
            continue
        except OSError as exc:
            out.cannot("file", path, "cannot stat: %s" % exc.strerror)
            continue
        if kind_of(st) != "directory":
            out.add("file", path, "type", "directory", kind_of(st))
            continue
        compare_entry(out, path, top, dict(spec, type="directory"), st)
        try:
            actual = _walk(top, spec["ignore"])
        except OverflowError as exc:
            out.cannot("file", path, "tree too large to compare: %s" % exc)
            continue
        except OSError as exc:
            out.cannot("file", path, "cannot read the tree: %s" % exc.strerror)
            continue
        declared = spec["entries"]
        for rel in sorted(declared):
            out.count("file")
            item = path + "/" + rel
            st = actual.get(rel)
            if st is None:
                parent = rel.rpartition("/")[0]
                # a missing directory is reported once, not again for everything declared inside it
                if not parent or parent in actual:
                    out.add("file", item, "state", declared[rel]["type"], "absent")
                continue
            compare_entry(out, item, os.path.join(top, rel), declared[rel], st)
        if spec["exact"]:
            for rel in sorted(actual):
                if rel in declared:
                    continue
                parent = rel.rpartition("/")[0]
                if parent and parent not in declared:
                    continue  # inside an undeclared directory, which is reported itself
                out.add("file", path + "/" + rel, "state", "absent", kind_of(actual[rel]))
