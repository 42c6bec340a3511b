# GNU General Public License v3.0+ (see COPYING or https://www.gnu.org/licenses/gpl-3.0.txt)
"""Where a drift report is written: somewhere the run's scheduler keeps it.

In order: the task's ``output_dir`` (the playbooks pass ``drift_report_dir``), ``CHANGEWARD_DRIFT_REPORT_DIR``,
the job's artifact directory when ansible-runner runs the job (AWX/AAP jobs, ansible-navigator: runner puts its
path in ``AWX_ISOLATED_DATA_DIR``, and keeps what is there with the job's events and stdout), else the user's state
directory. A job whose own disk is thrown away (context.ephemeral_job) and that has none of the first three is
refused: its home directory dies with the container, and a report nobody can read is a silent one. Every
report is in the ledger too (record.py).
"""

from __future__ import annotations

import os
from collections.abc import Mapping

from ansible_collections.changeward.hybrid.plugins.plugin_utils.drift.errors import DriftInputError

ENV_REPORT_DIR = "CHANGEWARD_DRIFT_REPORT_DIR"
ENV_RUNNER_ARTIFACTS = "AWX_ISOLATED_DATA_DIR"
ARTIFACTS_SUBDIR = "changeward-drift"
DEFAULT_DIR = os.path.join("~", ".local", "state", "changeward", "drift")


def report_dir(option: str | None, environ: Mapping | None = None, ephemeral: str | None = None) -> tuple:
    """(directory, source): source is ``output_dir``, the environment variable's name, or ``default``."""
    env = os.environ if environ is None else environ
    if option and str(option).strip():
        return os.path.expanduser(str(option).strip()), "output_dir"
    configured = (env.get(ENV_REPORT_DIR) or "").strip()
    if configured:
        return os.path.expanduser(configured), ENV_REPORT_DIR
    artifacts = (env.get(ENV_RUNNER_ARTIFACTS) or "").strip()
    if artifacts:
        return os.path.join(artifacts, ARTIFACTS_SUBDIR), ENV_RUNNER_ARTIFACTS
    if ephemeral:
        raise DriftInputError(
            f"this run is {ephemeral}, and no drift report directory is configured: the home directory is thrown "
            f"away with the job. Set drift_report_dir or {ENV_REPORT_DIR} to a mounted volume, or run the job "
            "under ansible-runner (its artifact directory is kept)"
        )
    return os.path.expanduser(DEFAULT_DIR), "default"
