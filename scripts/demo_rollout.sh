#!/usr/bin/env bash
# Progressive rollout demo against the running lab (docs/rollouts.md):
#   (a) a good release reaches every ring - cloud, on-prem, then edge;
#   (b) a bad release (the demo service's error rate rises) is caught at the canary ring, rolled back from
#       its snapshot, the circuit breaker opened and the outcome recorded;
#   (c) a second rollout of the service is refused while the breaker is open;
#   (d) only an authorised person may move the breaker to half-open;
#   (e) the next change of the service - here a kernel parameter, examples/changes/sysctl-somaxconn.yml - is
#       the breaker's one trial; it closes the breaker when it reaches every ring.
# Each change is approved by a lab approver who signs its statement with their own ssh key (playbooks/approve.yml,
# ssh-keygen -Y sign; keys and allowed-signers file from examples/lab/prepare.py) and hands it to the change job.
# Every change is a change spec (docs/change-spec.md): (a)-(c) are the lab demo's spec
# (examples/changes/demo-release.yml) with another release. Each step streams its rings as they start, bake
# and are decided, then prints what happened ring by ring. The lab must be up (make lab-up); it is left as it is.
#
#   DEMO_TARGETS=cloud:onprem scripts/demo_rollout.sh      # another target pattern (default: all)
#   DEMO_BAKE='{"canary": "180s", "default": "30s"}' ...   # bake times (default canary 110s, others 10s)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV=${VENV:-.venv}
TARGETS=${DEMO_TARGETS:-all}
BAKE=${DEMO_BAKE:-'{"canary": "110s", "default": "10s"}'}
STATE=${DEMO_STATE:-build/demo-rollout}
export ANSIBLE_CONFIG="$PWD/ansible.cfg"

# A fresh ledger for the demo, so its breaker and history start clean; its signing key stays in the state dir.
mkdir -p "$STATE"
chmod 700 "$STATE"
rm -f "$STATE"/ledger.db "$STATE"/ledger.db-wal "$STATE"/ledger.db-shm
export CHANGEWARD_LEDGER="$PWD/$STATE/ledger.db"
if [ -z "${CHANGEWARD_LEDGER_KEY:-}" ]; then
  if [ ! -s "$STATE/ledger.key" ]; then
    (umask 077 && "$VENV/bin/python" -c 'import secrets; print("hmac:" + secrets.token_hex(32))' >"$STATE/ledger.key")
  fi
  CHANGEWARD_LEDGER_KEY=$(cat "$STATE/ledger.key")
  export CHANGEWARD_LEDGER_KEY
fi

# Signed approvals from the lab's approvers: examples/lab/prepare.py makes their ssh keys and the allowed-signers
# file the lab gate policy names. An approver writes the statement of a change with playbooks/approve.yml and
# signs it with their own key (ssh-keygen -Y sign); the change job gets the statement file (changeward_approvals).
"$VENV/bin/python" examples/lab/prepare.py --approvers >/dev/null
APPROVER_KEYS=${CW_STATE_DIR:-/var/lib/changeward-test}/examples/approvers
approve() { # spec file, change id, approver, role: writes and signs the statement, prints -e for the change job
  local file=$1 id=$2 who=$3 role=$4 dir="$PWD/$STATE/approvals"
  "$VENV/bin/ansible-playbook" playbooks/approve.yml -e "@$file" -e "changeward_change_id=$id" \
    -e "approver=$who" -e "role=$role" -e "approval_dir=$dir" >"$STATE/approve-$id.log" 2>&1 \
    || { echo "demo: $who could not write the statement of $id (see $STATE/approve-$id.log)" >&2; return 1; }
  rm -f "$dir/$id.$who.json.sig"
  ssh-keygen -q -Y sign -f "$APPROVER_KEYS/$who" -n changeward-approval "$dir/$id.$who.json" 2>/dev/null
  echo "  $who signed the approval of $id as $role ($dir/$id.$who.json.sig)" >&2
  printf '{"changeward_approvals": ["%s"]}' "$dir/$id.$who.json"
}

# Print a debug task's message (the ring-by-ring report, what ran where) from a run's log, unquoted.
show() {
  awk -v task="$2" '
    index($0, "TASK [" task "]") { on = 1; next }
    on && /^(TASK|PLAY) \[/ { on = 0 }
    on && /^ +"/ && !/"msg": \[$/ { line = $0; sub(/^ +"/, "", line); sub(/",?$/, "", line); gsub(/\\"/, "\"", line); print "  " line }
  ' "$1"
}

# What the alert receivers got about a change (the lab's webhook sink; docs/monitoring.md): alerts_of CHANGE_ID
alerts_of() {
  PYTHONPATH=tests/lab "$VENV/bin/python" - "$1" <<'EOF'
import sys

from cwlab import monitoring
from cwlab.lab import Lab

change, lab = sys.argv[1], Lab.load()
seen = {}
for path in sorted((lab.monitoring_dir / "webhook").glob("*.jsonl")):
    for note in monitoring.notifications(lab.monitoring_dir, path.stem):
        for alert in note.get("alerts", []):
            labels = alert["labels"]
            if labels.get("change_id") == change and alert["status"] == "firing":
                key = (labels["alertname"], labels.get("severity", ""), labels.get("host", ""))
                seen.setdefault(key, set()).add(path.stem)
for (name, severity, host), receivers in sorted(seen.items()):
    print(f"  alert {name} ({severity}) on {host} names {change}; sent to {', '.join(sorted(receivers))}")
if not seen:
    print(f"  no alert of {change} reached a receiver")
EOF
}

# A spec file from a shipped example: spec EXAMPLE OUT [VERSION ERROR_RATE]; targets and bake times from above.
spec() {
  "$VENV/bin/python" - "$@" "$TARGETS" "$BAKE" <<'EOF'
import json
import sys

import yaml

example, out, *release, targets, bake = sys.argv[1:]
doc = yaml.safe_load(open(f"examples/changes/{example}.yml"))
spec = doc["change_spec"]
if release:
    version, error_rate = release
    spec["summary"] = f"Release demo service {version}"
    spec["apply"]["vars"].update(demo_release_version=version, demo_release_error_rate=float(error_rate))
    spec["targets"] = {"pattern": targets}
spec["bake_times"] = json.loads(bake)
with open(out, "w") as handle:
    yaml.safe_dump(doc, handle, sort_keys=False)
EOF
}

# What a person follows while a change runs: the change, each ring's start, bake progress and decision.
PROGRESS='^(Change |bake_watch |ring |edge_rollout |rings )|"msg": "Change '

run_change() { # name, log, spec file, extra args...
  local name=$1 log=$2 file=$3
  shift 3
  echo
  echo "== $name"
  set +e
  "$VENV/bin/ansible-playbook" playbooks/change.yml -e "@$file" "$@" 2>&1 | tee "$log" \
    | grep --line-buffered -E "$PROGRESS" | sed -u 's/^ *"msg": "//; s/",\?$//; s/^/  | /'
  local rc=${PIPESTATUS[0]}
  set -e
  show "$log" "Show the ring plan" | sed 's/^/  plan: /'
  show "$log" "Print what happened, ring by ring"
  show "$log" "Print what ran where, by environment type"
  grep -o "has the approvals it needs: [^\"]*" "$log" | head -1 | sed 's/^/  approvals: /' || true
  grep -o "refused at '[^']*': .*" "$log" | head -1 | sed 's/^/  /' || true
  echo "  (exit code $rc; full log: $log)"
  return 0
}

stamp=$(date +%s)
echo "== lab"
PYTHONPATH=tests/lab "$VENV/bin/python" -m cwlab status | tail -n 2
# Alerts of a change reach ops and the team that owns the host; its non-critical ones are silenced meanwhile.
"$VENV/bin/ansible-playbook" playbooks/alert_routes.yml 2>&1 | grep -o 'Alertmanager routes: [^"]*' | sed 's/^/  /' || true

spec demo-release "$STATE/a-good.yml" "1.2.$stamp" 0
signed=$(approve "$STATE/a-good.yml" "CHG-DEMO-GOOD-$stamp" carol peer)
run_change "(a) good release 1.2.$stamp: every ring, edge last" "$STATE/a-good.log" "$STATE/a-good.yml" \
  -e "changeward_change_id=CHG-DEMO-GOOD-$stamp" -e "$signed"

spec demo-release "$STATE/b-bad.yml" "1.3.$stamp-bad" 0.3
signed=$(approve "$STATE/b-bad.yml" "CHG-DEMO-BAD-$stamp" carol peer)
run_change "(b) bad release 1.3.$stamp (30% of requests fail)" "$STATE/b-bad.log" "$STATE/b-bad.yml" \
  -e "changeward_change_id=CHG-DEMO-BAD-$stamp" -e "$signed"
alerts_of "CHG-DEMO-BAD-$stamp"

spec demo-release "$STATE/c-next.yml" "1.4.$stamp" 0
run_change "(c) another rollout of the demo service while the breaker is open" "$STATE/c-refused.log" \
  "$STATE/c-next.yml" -e "changeward_change_id=CHG-DEMO-NEXT-$stamp"

echo
echo "== (d) who may move the breaker to half-open (gate policy: change-manager or incident-commander)"
for who in bob carol; do
  set +e
  out=$(CHANGEWARD_IDENTITY=$who "$VENV/bin/ansible" localhost -m changeward.hybrid.circuit_breaker \
    -a "state=half_open service=demo reason='bad release rolled back; fix ready' gate_policy=$PWD/examples/policies/lab-gates.yml" 2>&1)
  rc=$?
  set -e
  if [ "$rc" = 0 ]; then
    echo "  $who: breaker moved to half-open; the next change of the demo service is its one trial"
  else
    echo "  $who: refused - $(grep -o 'circuit breaker demo: [^"]*' <<<"$out" | head -1)"
  fi
done

spec sysctl-somaxconn "$STATE/e-sysctl.yml"
signed=$(approve "$STATE/e-sysctl.yml" "CHG-DEMO-SYSCTL-$stamp" bob peer)
run_change "(e) a kernel parameter on the EU cloud hosts: the breaker's trial change" "$STATE/e-sysctl.log" \
  "$STATE/e-sysctl.yml" -e "changeward_change_id=CHG-DEMO-SYSCTL-$stamp" -e "$signed"

echo
echo "== the ledger ($CHANGEWARD_LEDGER)"
"$VENV/bin/python" - <<'EOF'
import sys

sys.path.insert(0, "collections")
from ansible_collections.changeward.hybrid.plugins.plugin_utils.ledger.api import open_ledger

with open_ledger(create=False) as ledger:
    for change_id in ledger.change_ids():
        rec = ledger.get_change(change_id)
        print(f"  {change_id}: {rec['status']}, outcome {rec['outcome']}")
        for obs in rec["observations"][:1]:
            print(f"      {obs if isinstance(obs, str) else obs.get('text')}")
    for entry in ledger.entries():
        event = entry.event
        if event["subject"].startswith("breaker:"):
            data = event["data"]
            who = (data.get("by") or {}).get("name") or data.get("change_id") or ""
            print(f"  #{entry.seq} {event['type'].rsplit('.', 1)[-1]:17} {event['subject']} {who}")
    print(f"  ledger verifies: {ledger.verify()['valid']}")
EOF
