# -*- coding: utf-8 -*-
# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""One pass over a declared baseline: every section compared, item-level differences returned."""

import time

from ansible_collections.changeward.hybrid.plugins.module_utils.drift import files, kernel, packages, services, users
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.findings import Findings
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.proc import no_runner
from ansible_collections.changeward.hybrid.plugins.module_utils.drift.spec import digest, normalise


def scan(baseline, run=no_runner, root="/", timeout=20, path=None):
    """Compare the host (or a scratch ``root``) with ``baseline``.

    Returns ``status`` (in_sync | drifted | unknown), ``findings`` (class, item, attribute, expected,
    actual), ``unknown`` (class, item, reason), ``checked`` (items per class), ``checked_total``,
    ``baseline_sha256`` and ``elapsed``. Raises BaselineError for a malformed baseline.
    """
    started = time.monotonic()
    spec = normalise(baseline)
    out = Findings()
    files.check_files(out, spec["files"], root)
    files.check_trees(out, spec["trees"], root)
    packages.check_packages(out, spec["packages"], run, timeout, path)
    services.check_services(out, spec["services"], run, timeout, root, path)
    kernel.check_sysctls(out, spec["sysctls"], root)
    kernel.check_ports(out, spec["ports"], root)
    users.check_users(out, spec["users"], root)
    return {
        "status": out.status(),
        "findings": out.drift,
        "unknown": out.unknown,
        "checked": out.checked,
        "checked_total": sum(out.checked.values()),
        "baseline_sha256": digest(spec),
        "elapsed": round(time.monotonic() - started, 4),
    }
