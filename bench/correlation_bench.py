"""Precision and recall of change-incident correlation (plugins/plugin_utils/correlation.py) on generated,
labelled incidents, each over a real ledger built the way the main job writes it.

Every scenario writes a fresh SQLite ledger: a day of background changes (good releases of several
services rolled out ring by ring: opened, ring started / passed events with the hosts and times, closed),
then the scenario's own events, then one incident (an alert on a host, for a service, at a time) and the
other anomalies firing around it. The correlation reads the ledger back (ledger_histories) and answers.

Scenarios (label = the change that caused the incident, or none):

* bad_caught - a bad release caught at the canary: the watch breaches on the canary, the ring is rolled
  back; the alert is on the canary. Label: that change.
* bad_latent - a bad release that passes the canary and breaks most hosts (70 %) some minutes after it
  reaches them; the alert is on a host of the second ring, anomalies on the other broken hosts that show
  within ten minutes of it. Label: that change.
* dependency - a release of a service others depend on (db) breaks a dependant (api) on other hosts; the
  alert is on an api host. Label: that change.
* concurrent - two changes reach the same host minutes apart: a release of the host's service and a
  host-level change (os); either may be the culprit (70 % / 30 %). Label: the culprit.
* unrelated - a fault unrelated to any change on a random host: at a random time (50 %), in the middle of a
  rollout of another service (30 %), or - a coincidence - minutes to an hour after a release of the host's
  own service reached it, as its canary (20 %). Label: none.

Precision = correct confident answers / confident answers (an unrelated fault given a culprit is a wrong
answer); recall = correct confident answers / incidents caused by a change. The generator's timing and
topology assumptions are its author's, like the scorer's: the figures say how the scorer behaves on these
assumptions, not how it will do on a real fleet.

Usage: nice -n 10 .venv/bin/python bench/correlation_bench.py [--incidents 400] [--seed 2026]
"""

from __future__ import annotations

import argparse
import random
import sys
import tempfile
from collections import Counter, defaultdict
from datetime import UTC, datetime
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "collections"))

from ansible_collections.changeward.hybrid.plugins.plugin_utils import correlation
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger import model
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

KEY = "hmac:correlation-bench-key-0123456789"
SERVICES = {"web": 8, "api": 8, "db": 4, "cache": 4}
DEPENDENCIES = {"web": ["api"], "api": ["db", "cache"]}
T0 = 1_790_000_000.0  # a fixed day, so runs repeat
DAY = 86400.0


def fleet():
    hosts = {}
    for service, count in SERVICES.items():
        for i in range(count):
            hosts[f"{service}-{i:02d}"] = service
    return hosts


HOSTS = fleet()


def iso(ts: float) -> str:
    return datetime.fromtimestamp(ts, tz=UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


class Writer:
    """Writes changes into a ledger the way change.yml and ring_verdict do (event data shapes included)."""

    def __init__(self, path):
        self.led = open_ledger(str(path), key=KEY, checkpoint_interval=0)
        self.n = 0

    def close(self):
        self.led.close()

    def change(self, rng, service, hosts, start, *, bad_ring=None, breach_host=None, ring_gap=None, summary=None):
        """A release of service to hosts from start: canary (one host), then two rings. bad_ring: the ring
        whose watch breaches on breach_host and is rolled back (the rollout stops). Returns (id, exposures)."""
        self.n += 1
        cid = f"CHG-{self.n:04d}"
        hosts = list(hosts)
        rest = hosts[1:]
        rng.shuffle(rest)  # the first host given is the canary
        hosts = hosts[:1] + rest
        rings = [
            ("canary", hosts[:1]),
            ("ring1", hosts[1 : 1 + max(1, len(hosts) // 3)]),
            ("ring2", hosts[1 + max(1, len(hosts) // 3) :]),
        ]
        rings = [(n, h) for n, h in rings if h]
        record = model.new_record(
            cid, "standard", summary or f"release of {service}", "bench", opened_at=iso(start), targets=hosts
        )
        self.led.open_change(record, data={"service": service})
        t = start + rng.uniform(30, 120)
        exposures, outcome = {}, "successful"
        for name, ring_hosts in rings:
            self.led.record(
                correlation.RING_STARTED,
                cid,
                {"ring": name, "hosts": ring_hosts, "since": t, "unreachable": []},
                time=iso(t),
            )
            for h in ring_hosts:
                exposures[h] = (t, name)
            bake = ring_gap or (rng.uniform(300, 900) if name == "canary" else rng.uniform(120, 600))
            if name == bad_ring:
                seen = t + rng.uniform(20, 120)
                done = seen + rng.uniform(5, 30)
                data = {
                    "ring": name,
                    "name": name,
                    "hosts": ring_hosts,
                    "status": "rolled_back",
                    "since": t,
                    "ended": done,
                    "watch": {
                        "verdict": "breach",
                        "breach": {
                            "metric": "error_ratio",
                            "host": breach_host,
                            "visible_ts": seen,
                            "detected_ts": seen + 4,
                        },
                    },
                    "rollback": {
                        "hosts": {h: {"rolled_back": True, "verified": True} for h in ring_hosts},
                        "earlier": [],
                    },
                    "timings": {"visible_ts": seen, "detected_ts": seen + 4, "rolled_back_ts": done},
                }
                self.led.record("io.changeward.ring.rolled_back", cid, data, time=iso(done))
                outcome, t = "rolled_back", done
                break
            t += bake
            self.led.record(
                "io.changeward.ring.passed",
                cid,
                {
                    "ring": name,
                    "name": name,
                    "hosts": ring_hosts,
                    "status": "passed",
                    "since": exposures[ring_hosts[0]][0],
                    "ended": t,
                },
                time=iso(t),
            )
        self.led.close_change(cid, outcome, ["bench"])
        return cid, exposures


def background(rng, writer, until, count):
    """count good releases in the day before until, each of a random service to all its hosts."""
    out = []
    for _unused in range(count):
        service = rng.choice(list(SERVICES))
        start = until - rng.uniform(600, DAY)
        hosts = [h for h, s in HOSTS.items() if s == service]
        rng.shuffle(hosts)
        out.append(writer.change(rng, service, hosts, start))
    return out


def noise(rng, at, n):
    """n anomalies on random hosts near at: the background of any fleet."""
    hosts = [rng.choice(list(HOSTS)) for _unused in range(n)]
    return [{"host": h, "service": HOSTS[h], "time": at + rng.uniform(-3600, 600)} for h in hosts]


def scenario(kind, rng, path):
    writer = Writer(path)
    now = T0 + DAY
    try:
        background(rng, writer, now - 3600, rng.randint(3, 8))
        anomalies = noise(rng, now, rng.randint(0, 2))
        if kind == "bad_caught":
            service = rng.choice(list(SERVICES))
            hosts = [h for h, s in HOSTS.items() if s == service]
            start = now - rng.uniform(600, 2400)
            canary = rng.choice(hosts)
            cid, exp = writer.change(
                rng, service, [canary] + [h for h in hosts if h != canary], start, bad_ring="canary", breach_host=canary
            )
            incident = correlation.Incident(canary, service, exp[canary][0] + rng.uniform(20, 180), "HighErrorRate")
            return incident, cid, anomalies
        if kind == "bad_latent":
            service = rng.choice(["web", "api"])
            hosts = [h for h, s in HOSTS.items() if s == service]
            start = now - rng.uniform(1800, 5400)
            rng.shuffle(hosts)
            cid, exp = writer.change(rng, service, hosts, start)
            ring1 = [h for h, (_unused, ring) in exp.items() if ring == "ring1"]
            delay = rng.uniform(120, 1500)
            # it breaks most hosts it reaches, each some time after it reached them; the first alert is on ring1
            victim = rng.choice(ring1)
            incident = correlation.Incident(victim, service, exp[victim][0] + delay, "HighLatency")
            for h, (reached, _unused) in exp.items():
                at = reached + delay * rng.uniform(0.8, 1.5)
                if h != victim and rng.random() < 0.7 and at <= incident.time + 600:
                    anomalies.append({"host": h, "service": service, "time": at})
            return incident, cid, anomalies
        if kind == "dependency":
            start = now - rng.uniform(900, 3600)
            cid, exp = writer.change(rng, "db", [h for h, s in HOSTS.items() if s == "db"], start)
            first = min(t for t, _unused in exp.values())
            victims = rng.sample([h for h, s in HOSTS.items() if s == "api"], 3)
            at = first + rng.uniform(60, 1200)
            incident = correlation.Incident(victims[0], "api", at, "UpstreamErrors")
            anomalies += [{"host": h, "service": "api", "time": at + rng.uniform(-60, 120)} for h in victims[1:]]
            return incident, cid, anomalies
        if kind == "concurrent":
            service = rng.choice(["web", "api"])
            hosts = [h for h, s in HOSTS.items() if s == service]
            start = now - rng.uniform(1200, 3600)
            release, exp = writer.change(rng, service, hosts, start)
            os_start = start + rng.uniform(-600, 600)
            os_change, exp_os = writer.change(rng, "os", hosts, os_start, summary="kernel parameter change")
            culprit, culprit_exp = (release, exp) if rng.random() < 0.7 else (os_change, exp_os)
            victim = rng.choice(hosts)
            at = max(exp[victim][0], exp_os[victim][0]) + rng.uniform(60, 900)
            incident = correlation.Incident(victim, service, at, "HighErrorRate")
            spread = [h for h in hosts if h != victim and culprit_exp[h][0] < at and rng.random() < 0.6]
            anomalies += [
                {"host": h, "service": service, "time": culprit_exp[h][0] + rng.uniform(60, 600)} for h in spread
            ]
            return incident, culprit, anomalies
        # unrelated: a fault at a random time; some in the middle of a rollout of another service, some (a
        # coincidence no scorer can see through) on a host a release of its own service reached minutes before
        host = rng.choice(list(HOSTS))
        at = now - rng.uniform(0, 3 * 3600)
        draw = rng.random()
        if draw < 0.3:
            service = rng.choice([s for s in SERVICES if s != HOSTS[host]])
            writer.change(rng, service, [h for h, s in HOSTS.items() if s == service], at - rng.uniform(300, 1800))
        elif draw < 0.5:
            own = [host] + [h for h, s in HOSTS.items() if s == HOSTS[host] and h != host]
            writer.change(rng, HOSTS[host], own, at - rng.uniform(300, 3600))
        return correlation.Incident(host, HOSTS[host], at, "DiskPressure"), None, anomalies
    finally:
        writer.close()


MIX = (("bad_caught", 0.2), ("bad_latent", 0.2), ("dependency", 0.1), ("concurrent", 0.15), ("unrelated", 0.35))


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--incidents", type=int, default=400)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    rng = random.Random(args.seed)
    tally = defaultdict(Counter)
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(args.incidents):
            kind = rng.choices([k for k, _unused in MIX], [w for _unused, w in MIX])[0]
            path = Path(tmp) / f"ledger-{i}.db"
            incident, label, anomalies = scenario(kind, rng, path)
            with open_ledger(str(path), create=False) as led:
                changes = correlation.ledger_histories(led)
            result = correlation.correlate(incident, changes, DEPENDENCIES, anomalies)
            top = result["candidates"][0]["change_id"] if result["candidates"] else None
            t = tally[kind]
            t["n"] += 1
            t["confident"] += result["confident"]
            t["correct"] += result["confident"] and result["culprit"] == label
            t["wrong"] += result["confident"] and result["culprit"] != label
            t["top1"] += label is not None and top == label
            t["no_culprit"] += not result["confident"]
            path.unlink()
    total = Counter()
    for t in tally.values():
        total.update(t)
    caused = sum(t["n"] for k, t in tally.items() if k != "unrelated")
    precision = total["correct"] / total["confident"] if total["confident"] else float("nan")
    recall = total["correct"] / caused if caused else float("nan")
    print(f"change-incident correlation: {args.incidents} generated incidents, seed {args.seed}")
    print(
        f"{'scenario':12s} {'n':>4s} {'confident':>9s} {'correct':>7s} {'wrong':>5s} {'top-1':>5s} {'no culprit':>10s}"
    )
    for kind, _unused in MIX:
        t = tally[kind]
        print(
            f"{kind:12s} {t['n']:4d} {t['confident']:9d} {t['correct']:7d} {t['wrong']:5d} {t['top1']:5d} "
            f"{t['no_culprit']:10d}"
        )
    unrelated = tally["unrelated"]
    print(
        f"precision {precision:.3f}  recall {recall:.3f}  "
        f"(unrelated faults with no confident culprit: {unrelated['no_culprit']}/{unrelated['n']})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
