"""Drift reports and evidence are private: files 0600 in 0700 directories; a looser report directory is
tightened with a warning."""

import os

from ansible_collections.changeward.hybrid.plugins.action.drift_report import write_report
from ansible_collections.changeward.hybrid.plugins.module_utils import filemodes

REPORT = {"run_id": "r1", "status": "clean"}


def test_report_files_are_private_in_a_private_directory(tmp_path):
    out = tmp_path / "reports" / "drift"
    warnings = []
    files = write_report(str(out), REPORT, "# clean\n", warnings)
    assert warnings == [] and oct(out.stat().st_mode & 0o777) == "0o700"
    assert {oct(os.stat(p).st_mode & 0o777) for p in files.values()} == {"0o600"}


def test_a_loose_report_directory_is_tightened_with_a_warning(tmp_path):
    out = tmp_path / "reports"
    out.mkdir()
    out.chmod(0o755)
    (out / "latest.json").write_text("{}")
    (out / "latest.json").chmod(0o644)  # an old report: replaced by a new 0600 file
    warnings = []
    write_report(str(out), REPORT, "# clean\n", warnings)
    assert oct(out.stat().st_mode & 0o777) == "0o700"
    assert warnings == [f"drift report directory {out} had mode 0755, tightened to 0700: it holds private files"]
    assert oct((out / "latest.json").stat().st_mode & 0o777) == "0o600"


def test_loose_files_are_named_with_their_mode(tmp_path):
    path = tmp_path / "f"
    assert filemodes.loose_file(str(path)) is None
    path.write_text("x")
    path.chmod(0o600)
    assert filemodes.loose_file(str(path)) is None
    path.chmod(0o640)
    assert "mode 0640" in filemodes.loose_file(str(path))
    link = tmp_path / "l"
    link.symlink_to(path)
    assert "not a regular file" in filemodes.loose_file(str(link))
