# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Installed package versions from dpkg (dpkg-query) or rpm, one query for every declared package.

dpkg: installed means status ``ii`` (or ``hi``, held); ``rc`` (config files left) is not installed.
rpm: the version is ``VERSION-RELEASE``, with ``EPOCH:`` in front when the package has an epoch; a
declared version without an epoch also matches a package whose epoch is 0.
"""

from ansible_collections.changeward.hybrid.plugins.module_utils.drift.errors import CommandError
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.proc import which

DPKG_FORMAT = r"${Package}\t${db:Status-Abbrev}\t${Version}\n"
RPM_FORMAT = r"%{NAME}\t%{EPOCH}\t%{VERSION}-%{RELEASE}\n"


def query_dpkg(run, names, timeout, dpkg_query):
    """{name: version or None}. Names dpkg does not know are not installed."""
    rc, out, err = run([dpkg_query, "-W", "-f", DPKG_FORMAT, "--", *names], timeout)
    if rc not in (0, 1):
        raise CommandError("dpkg-query failed (rc %s): %s" % (rc, err))
    if rc == 1:
        # rc 1 is also how dpkg-query reports an unknown name; anything else on stderr is an error
        for line in err.splitlines():
            if line and "no packages found matching" not in line:
                raise CommandError("dpkg-query failed: %s" % err)
    found = dict.fromkeys(names)
    for line in out.splitlines():
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, status, version = parts
        name = name.split(":", 1)[0]
        if name in found and status.strip()[1:2] == "i":
            found[name] = version.strip()
    return found


def query_rpm(run, names, timeout, rpm):
    """{name: version or None}; rpm -q exits with the number of packages that are not installed."""
    rc, out, err = run([rpm, "-q", "--qf", RPM_FORMAT, "--", *names], timeout)
    found = dict.fromkeys(names)
    missing = 0
    for line in out.splitlines():
        if line.startswith("package ") and line.endswith(" is not installed"):
            missing += 1
            continue
        parts = line.split("\t")
        if len(parts) != 3:
            continue
        name, epoch, version = parts
        if name in found and found[name] is None:
            found[name] = version if epoch in ("(none)", "") else "%s:%s" % (epoch, version)
    if rc != missing:
        raise CommandError("rpm -q failed (rc %s): %s" % (rc, err))
    return found


def version_matches(want, actual):
    return actual == want or (actual.startswith("0:") and actual[2:] == want)


def check_packages(out, packages, run, timeout=30, path=None):
    if not packages:
        return
    names = [p["name"] for p in packages]
    dpkg_query = which("dpkg-query", path)
    rpm = None if dpkg_query else which("rpm", path)
    try:
        if dpkg_query:
            installed = query_dpkg(run, names, timeout, dpkg_query)
        elif rpm:
            installed = query_rpm(run, names, timeout, rpm)
        else:
            for p in packages:
                out.count("package")
                out.cannot("package", p["name"], "no package manager found (dpkg-query or rpm)")
            return
    except CommandError as exc:
        for p in packages:
            out.count("package")
            out.cannot("package", p["name"], str(exc))
        return
    for p in packages:
        out.count("package")
        actual = installed.get(p["name"])
        if p["state"] == "absent":
            if actual is not None:
                out.add("package", p["name"], "state", "absent", "present")
            continue
        if actual is None:
            out.add("package", p["name"], "state", "present", "absent")
            continue
        want = p["version"]
        if want is None:
            continue
        if not version_matches(want, actual):
            out.add("package", p["name"], "version", want, actual)
