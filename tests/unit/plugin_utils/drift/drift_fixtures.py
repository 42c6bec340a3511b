"""Report inputs built here, independent of the code under test."""

import datetime as dt

NOW = dt.datetime(2025, 6, 1, 12, 0, tzinfo=dt.UTC)

LABELS = {
    "cloud-a": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1a", "rollback_capability": "full"},
    "cloud-b": {"env_type": "cloud", "region": "eu-west-1", "az": "eu-west-1b", "rollback_capability": "full"},
    "dc-1": {"env_type": "onprem", "region": "onprem-eu", "site": "dc1", "rollback_capability": "full"},
    "dc-legacy": {"env_type": "onprem", "region": "onprem-eu", "site": "dc1", "rollback_capability": "none"},
    "edge-1": {"env_type": "edge", "region": "eu-central", "site": "edge-site-1", "rollback_capability": "partial"},
}


def scan(findings=(), unknown=(), items=5):
    return {
        "changed": False,
        "status": "drifted" if findings else "unknown" if unknown else "in_sync",
        "findings": list(findings),
        "unknown": list(unknown),
        "checked_total": items,
    }


def finding(cls="file", item="/etc/app.conf", attribute="sha256", expected="a", actual="b"):
    return {"class": cls, "item": item, "attribute": attribute, "expected": expected, "actual": actual}


UNREACHABLE = {"unreachable": True, "msg": "Failed to connect to the host via ssh: no route", "changed": False}


def check_doc(run_id, hosts):
    return {"format": "changeward-drift-check/1", "run_id": run_id, "complete": False, "hosts": hosts}


def check_host(changed=(), unevaluable=(), errors=(), tasks=10, reachable=True):
    return {
        "reachable": reachable,
        "tasks": tasks,
        "changed": list(changed),
        "unevaluable": list(unevaluable),
        "errors": list(errors),
    }
