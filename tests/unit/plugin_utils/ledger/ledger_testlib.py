"""Constants and builders shared by the ledger tests (imported by name: the test dir is on sys.path)."""

from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model

KEY = "test-ledger-key-0123456789abcdef"  # HMAC secret (tests only)
N_EVENTS = 100
INTERVAL = 10


def task_event(i, subject="CHG0001"):
    return model.new_event(
        "io.changeward.run.task_result",
        subject,
        {"i": i, "host": f"web{i % 7}", "task": "install nginx", "changed": i % 3 == 0, "rc": 0, "ratio": i / 8},
        source="urn:changeward:test",
    )


def append_worker(path, key, worker, count, barrier, pause=0.001):
    """Append ``count`` events one transaction at a time (run in a separate process).

    The short pause between appends stands for the work a playbook does between two events; without it
    one tight loop can hold SQLite's (unfair) lock for its whole run and nothing would interleave.
    """
    import time

    from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import api

    with api.open_ledger(path, key=key) as ledger:
        barrier.wait(timeout=60)
        for i in range(count):
            ledger.append(task_event(i, subject=f"CHG-W{worker}"))
            time.sleep(pause)
