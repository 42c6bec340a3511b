"""The period compliance report over a ledger the lab's change tests wrote (no further lab hosts used): the
report lists their changes with approvers and exceptions, rechecks against the ledger, and renders in Chromium."""

import json
import shutil
import subprocess
import time

from conftest import REPO, ansible_env


def quarter_now():
    now = time.gmtime()
    return f"{now.tm_year}Q{(now.tm_mon - 1) // 3 + 1}"


def playbook(ledger, key, *extra):
    return subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/compliance_report.yml",
            "-e",
            f"ledger_src={ledger}",
            *extra,
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER_KEY=key),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def check_report(ledger, key, workdir, expect):
    """Build this quarter's report of ``ledger``; expect: change id -> {outcome, type, exceptions (kinds it
    must have)}. Returns the report (JSON)."""
    dest = workdir / "reports"
    proc = playbook(ledger, key, "-e", f"report_period={quarter_now()}", "-e", f"report_dest={dest}")
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    (json_path,) = dest.glob("compliance-*.json")
    report = json.loads(json_path.read_text())
    rows = {c["change_id"]: c for c in report["changes"]}
    for cid, want in expect.items():
        assert cid in rows, (cid, sorted(rows))
        row = rows[cid]
        assert (row["outcome"], row["type"]) == (want["outcome"], want["type"]), row
        assert set(want.get("exceptions", ())) <= {x["kind"] for x in row["exceptions"]}, row["exceptions"]
        assert row["requester"] and row["evidence"], row
    listed = [c["change_id"] for c in report["changes"]]
    assert listed == sorted(listed, key=lambda c: not rows[c]["exceptions"])  # exceptions first
    assert report["ledger"]["verified"]["valid"] is True
    again = playbook(ledger, key, "-e", f"report_recheck={json_path}")
    assert again.returncode == 0, again.stdout[-3000:]
    chromium = shutil.which("chromium")
    if chromium:  # scripts/bootstrap.sh installs it; the unit tests render the report too
        html = json_path.with_suffix(".html")
        dom = subprocess.run(
            [chromium, "--headless", "--no-sandbox", "--disable-gpu", "--dump-dom", html.as_uri()],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        ).stdout
        assert all(cid in dom for cid in expect), dom[:2000]
    return report


def drafted_pir(ledger, key, change_id, workdir):
    """playbooks/review.yml for a change of the lab's ledger; the drafted post-incident review (Markdown)."""
    proc = subprocess.run(
        [
            str(REPO / ".venv" / "bin" / "ansible-playbook"),
            "playbooks/review.yml",
            "-e",
            f"change_id={change_id}",
            "-e",
            f"review_dest={workdir}",
        ],
        cwd=REPO,
        env=ansible_env(CHANGEWARD_LEDGER=str(ledger), CHANGEWARD_LEDGER_KEY=key),
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-2000:]
    return (workdir / f"{change_id}-pir.md").read_text()
