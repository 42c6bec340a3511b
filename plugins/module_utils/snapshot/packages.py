# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Package versions: capture them, find a way back to them, put them back (dpkg and rpm).

A snapshot can only promise a package version it can reinstall. For dpkg that is an archive of
exactly that version (in /var/cache/apt/archives or a declared package directory; the snapshot copies
it into the store, so a later ``apt-get clean`` does not take the way back away) or, failing that, a
repository apt knows that still offers the version. For rpm it is an archive in a declared directory.
Anything else is reported as not covered, with the reason, at snapshot time.

Every backend takes ``root`` (default /) so tests can drive a real dpkg against a scratch root.
"""

import os

from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.errors import CommandError, ScopeError
from ansible_collections.changeward.hybrid.plugins.module_utils.snapshot.proc import no_runner, which

INSTALLED = "installed"
ABSENT = "absent"
CONFIG_FILES = "config-files"
BROKEN = "broken"

NONINTERACTIVE = {"DEBIAN_FRONTEND": "noninteractive", "APT_LISTCHANGES_FRONTEND": "none"}


class Dpkg:
    name = "dpkg"

    def __init__(self, root="/", package_dirs=(), runner=no_runner):
        self.root = root
        self.package_dirs = list(package_dirs)
        self.run = runner
        self.admindir = os.path.join(root, "var/lib/dpkg")
        self.cache_dir = os.path.join(root, "var/cache/apt/archives")

    @classmethod
    def available(cls, root="/"):
        return bool(which("dpkg-query")) and os.path.isfile(os.path.join(root, "var/lib/dpkg/status"))

    def _dpkg(self):
        argv = ["dpkg"]
        if self.root != "/":
            argv.append("--root=%s" % self.root)
        return argv

    def query(self, name):
        """{'name', 'state', 'version', 'arch', 'status'}; state installed | config-files | absent | broken."""
        rc, out, err = self.run(
            [
                "dpkg-query",
                "--admindir=%s" % self.admindir,
                "-W",
                "-f=${Package}\\t${Version}\\t${db:Status-Abbrev}\\t${Architecture}\\n",
                name,
            ]
        )
        if rc == 1 and not out.strip():
            return {"name": name, "state": ABSENT, "version": None, "arch": None, "status": None}
        if rc != 0:
            raise CommandError("dpkg-query %s failed (rc %s): %s" % (name, rc, err))
        lines = [ln for ln in out.decode("utf-8", "replace").splitlines() if ln.strip()]
        rows = [ln.split("\t") for ln in lines]
        rows = [r for r in rows if len(r) == 4 and r[0] == name]
        if len(rows) != 1:
            raise CommandError("dpkg-query %s: expected one package, got %d lines" % (name, len(lines)))
        version, status, arch = rows[0][1:]
        status = status.strip()
        if status == "ii":
            state = INSTALLED
        elif status in ("rc",):
            state = CONFIG_FILES
        elif status in ("un", "pn", ""):
            state = ABSENT
        else:
            state = BROKEN
        return {"name": name, "state": state, "version": version or None, "arch": arch or None, "status": status}

    def archive_fields(self, path):
        rc, out, _err = self.run(["dpkg-deb", "-f", path, "Package", "Version", "Architecture"])
        if rc != 0:
            return None
        fields = {}
        for line in out.decode("utf-8", "replace").splitlines():
            key, _sep, value = line.partition(":")
            fields[key.strip()] = value.strip()
        return fields.get("Package"), fields.get("Version"), fields.get("Architecture")

    def find_archive(self, name, version, arch):
        """Path of a .deb holding exactly name/version/arch, or None."""
        candidates = []
        if os.path.isdir(self.cache_dir):
            prefix = name + "_"
            candidates += [
                os.path.join(self.cache_dir, f)
                for f in sorted(os.listdir(self.cache_dir))
                if f.startswith(prefix) and f.endswith(".deb")
            ]
        for d in self.package_dirs:
            if os.path.isdir(d):
                candidates += [os.path.join(d, f) for f in sorted(os.listdir(d)) if f.endswith(".deb")]
        for path in candidates:
            if os.path.isfile(path) and self.archive_fields(path) == (name, version, arch):
                return path
        return None

    def repo_offers(self, name, version):
        """True when apt knows a repository offering this exact version (only for the real root)."""
        if self.root != "/" or not which("apt-cache") or not which("apt-get"):
            return False
        rc, out, _err = self.run(["apt-cache", "madison", name])
        if rc != 0:
            return False
        for line in out.decode("utf-8", "replace").splitlines():
            parts = [p.strip() for p in line.split("|")]
            if len(parts) >= 3 and parts[0] == name and parts[1] == version:
                return True
        return False

    def plan(self, name):
        """The captured state plus how to get back to it: source method archive | apt | remove | none."""
        state = self.query(name)
        entry = dict(state, manager=self.name)
        if state["state"] == INSTALLED:
            path = self.find_archive(name, state["version"], state["arch"])
            if path:
                entry["source"] = {"method": "archive", "path": path, "size": os.path.getsize(path)}
            elif self.repo_offers(name, state["version"]):
                entry["source"] = {"method": "apt"}
            else:
                entry["source"] = {"method": "none"}
                entry["reason"] = "no archive of %s %s (%s) in %s or package_dirs, and no apt repository offers it" % (
                    name,
                    state["version"],
                    state["arch"],
                    self.cache_dir,
                )
        elif state["state"] in (ABSENT, CONFIG_FILES):
            entry["source"] = {"method": "remove"}
        else:
            entry["source"] = {"method": "none"}
            entry["reason"] = "%s is half-installed (dpkg status %r); that state cannot be restored" % (
                name,
                state["status"],
            )
        return entry

    def matches(self, target, current):
        if target["state"] == INSTALLED:
            return current["state"] == INSTALLED and current["version"] == target["version"]
        # Not installed before: removed (config files kept) is enough when only config files were left;
        # when there was nothing at all, purge.
        if target["state"] == CONFIG_FILES:
            return current["state"] in (ABSENT, CONFIG_FILES)
        return current["state"] == ABSENT

    def restore(self, target, archive_path=None):
        """Bring the package to the target state; raises CommandError on failure."""
        name = target["name"]
        method = target["source"]["method"]
        if target["state"] == INSTALLED:
            if method == "archive":
                if not archive_path:
                    raise CommandError("the snapshot holds no archive for %s" % name)
                argv = [*self._dpkg(), "--force-confold", "--force-confdef", "-i", archive_path]
            elif method == "apt":
                argv = [
                    "apt-get",
                    "install",
                    "-y",
                    "-q",
                    "--allow-downgrades",
                    "-o",
                    "Dpkg::Options::=--force-confold",
                    "-o",
                    "Dpkg::Options::=--force-confdef",
                    "%s=%s" % (name, target["version"]),
                ]
            else:
                raise CommandError("no way back to %s %s was captured" % (name, target["version"]))
        else:
            action = "--remove" if target["state"] == CONFIG_FILES else "--purge"
            argv = [*self._dpkg(), action, name]
        rc, _out, err = self.run(argv, timeout=1800, env=NONINTERACTIVE)
        if rc != 0:
            raise CommandError("%s failed (rc %s): %s" % (" ".join(argv[:2]), rc, err))


class Rpm:
    """rpm, driven with the database it was found with.

    ``rpm -q`` against a database that does not exist (or is damaged) answers "package X is not
    installed", and creates an empty database on the way; so the database is located first
    (``--dbpath``, relative to ``--root``) and a query only counts as "absent" when rpm reported no
    error.
    """

    name = "rpm"
    # Where distributions keep it (Fedora 36+ and SUSE: /usr/lib/sysimage/rpm; RHEL/CentOS: /var/lib/rpm),
    # and the files a database consists of (sqlite, ndb, bdb backends).
    DB_DIRS = ("/usr/lib/sysimage/rpm", "/var/lib/rpm")
    DB_FILES = ("rpmdb.sqlite", "Packages.db", "Packages")
    QF = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\n"
    # For archives also SOURCERPM, "(none)" for a source package: a .src.rpm has the same name,
    # version and arch as its binary package but installs sources, not the package.
    QF_ARCHIVE = "%{NAME}\\t%{EPOCHNUM}:%{VERSION}-%{RELEASE}\\t%{ARCH}\\t%{SOURCERPM}\\n"

    def __init__(self, root="/", package_dirs=(), runner=no_runner):
        self.root = root
        self.package_dirs = list(package_dirs)
        self.run = runner
        self._dbpath = None

    @classmethod
    def has_database(cls, root, dbpath):
        d = os.path.join(root, dbpath.lstrip("/"))
        return any(os.path.isfile(os.path.join(d, f)) for f in cls.DB_FILES)

    @classmethod
    def available(cls, root="/"):
        # An empty /var/lib/rpm (rpm tools installed on a Debian host) is not an rpm-managed system.
        return bool(which("rpm")) and any(cls.has_database(root, d) for d in cls.DB_DIRS)

    def dbpath(self):
        """The database to use: rpm's configured %_dbpath when it holds one under root, else a standard one."""
        if self._dbpath is None:
            rc, out, _err = self.run(["rpm", "--eval", "%{_dbpath}"])
            configured = out.decode("utf-8", "replace").strip() if rc == 0 else ""
            candidates = ([configured] if configured.startswith("/") else []) + list(self.DB_DIRS)
            found = [d for d in candidates if self.has_database(self.root, d)]
            if not found:
                raise CommandError(
                    "no rpm database under %s (looked in %s)" % (self.root, ", ".join(dict.fromkeys(candidates)))
                )
            self._dbpath = found[0]
        return self._dbpath

    def _rpm(self):
        argv = ["rpm"]
        if self.root != "/":
            argv += ["--root", self.root]
        return [*argv, "--dbpath", self.dbpath()]

    def query(self, name):
        """{'name', 'state', 'version', 'arch', 'status'}; version is epoch:version-release."""
        rc, out, err = self.run([*self._rpm(), "-q", "--qf", self.QF, name])
        text = out.decode("utf-8", "replace")
        errors = [ln for ln in err.splitlines() if ln.startswith("error:")]
        if rc != 0:
            if rc == 1 and text.strip() == "package %s is not installed" % name and not errors:
                return {"name": name, "state": ABSENT, "version": None, "arch": None, "status": None}
            raise CommandError("rpm -q %s failed (rc %s): %s" % (name, rc, err or text.strip()))
        rows = [ln.split("\t") for ln in text.splitlines() if ln.strip()]
        others = sorted({r[0] for r in rows if r[0] != name})
        if others or any(len(r) != 3 for r in rows):
            # rpm -q also matches name-version[-release]: "foo-1.0" finds foo 1.0, and rpm -e would remove it.
            raise CommandError(
                "rpm -q %s matched other packages (%s); give the package name only" % (name, ", ".join(others))
            )
        if len(rows) != 1:
            versions = ", ".join("%s.%s" % (r[1], r[2]) for r in rows)
            return {
                "name": name,
                "state": BROKEN,
                "version": None,
                "arch": None,
                "status": "%d versions (%s)" % (len(rows), versions),
            }
        version, arch = rows[0][1:]
        return {"name": name, "state": INSTALLED, "version": version, "arch": arch, "status": "installed"}

    def archive_fields(self, path):
        """(name, epoch:version-release, arch) of a binary package file; None for anything else."""
        rc, out, _err = self.run([*self._rpm(), "-qp", "--qf", self.QF_ARCHIVE, path])
        row = out.decode("utf-8", "replace").strip().split("\t")
        if rc != 0 or len(row) != 4 or row[3] == "(none)":
            return None
        return tuple(row[:3])

    def find_archive(self, name, version, arch):
        """Path of a binary .rpm holding exactly name/version/arch in package_dirs, or None."""
        for d in self.package_dirs:
            if not os.path.isdir(d):
                continue
            for f in sorted(os.listdir(d)):
                path = os.path.join(d, f)
                if f.endswith(".rpm") and not f.endswith(".src.rpm") and os.path.isfile(path):
                    if self.archive_fields(path) == (name, version, arch):
                        return path
        return None

    def plan(self, name):
        state = self.query(name)
        entry = dict(state, manager=self.name)
        if state["state"] == INSTALLED:
            path = self.find_archive(name, state["version"], state["arch"])
            if path:
                entry["source"] = {"method": "archive", "path": path, "size": os.path.getsize(path)}
            else:
                entry["source"] = {"method": "none"}
                entry["reason"] = "no archive of %s %s (%s) in package_dirs (%s)" % (
                    name,
                    state["version"],
                    state["arch"],
                    ", ".join(self.package_dirs) or "none given",
                )
        elif state["state"] == ABSENT:
            entry["source"] = {"method": "remove"}
        else:
            entry["source"] = {"method": "none"}
            entry["reason"] = "%s has %s installed; that state cannot be restored" % (name, state["status"])
        return entry

    def matches(self, target, current):
        if target["state"] == INSTALLED:
            return (
                current["state"] == INSTALLED
                and current["version"] == target["version"]
                and current["arch"] == target["arch"]
            )
        return current["state"] == ABSENT

    def restore(self, target, archive_path=None):
        """Bring the package to the target state; raises CommandError on failure."""
        name = target["name"]
        if target["state"] == INSTALLED:
            if target["source"]["method"] != "archive" or not archive_path:
                raise CommandError("no way back to %s %s was captured" % (name, target["version"]))
            # --oldpackage: the captured version is usually older; --replacepkgs: it may be installed
            # already next to another arch or with files the change altered.
            argv = [*self._rpm(), "-U", "--oldpackage", "--replacepkgs", archive_path]
        else:
            # --allmatches: the change may have installed more than one version or arch of it.
            argv = [*self._rpm(), "-e", "--allmatches", name]
        rc, _out, err = self.run(argv, timeout=1800)
        if rc != 0:
            what = "rpm -U of %s %s" % (name, target["version"]) if target["state"] == INSTALLED else "rpm -e %s" % name
            raise CommandError("%s failed (rc %s): %s" % (what, rc, err))


def detect(root="/", package_dirs=(), runner=no_runner):
    """The package backend of this host, or None when it has neither dpkg nor rpm."""
    for cls in (Dpkg, Rpm):
        if cls.available(root):
            return cls(root=root, package_dirs=package_dirs, runner=runner)
    return None


def check_name(name):
    if not isinstance(name, str) or not name or name.startswith("-") or any(c.isspace() or c in "=/" for c in name):
        raise ScopeError("package name %r is not usable" % (name,))
    return name
