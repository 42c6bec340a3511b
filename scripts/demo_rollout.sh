#!/usr/bin/env bash
# Progressive rollout demo against the running lab (docs/rollouts.md):
#   (a) a good release reaches every ring - cloud, on-prem, then edge;
#   (b) a bad release (the demo service's error rate rises) is caught at the canary ring, rolled back from
#       its snapshot, the circuit breaker opened and the outcome recorded;
#   (c) a second rollout of the service is refused while the breaker is open;
#   (d) only an authorised person may move the breaker to half-open.
# Each step prints what happened ring by ring. The lab must be up (make lab-up); it is left as it is.
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

# Print a debug task's message (the ring-by-ring report, what ran where) from a run's log, unquoted.
show() {
  awk -v task="$2" '
    index($0, "TASK [" task "]") { on = 1; next }
    on && /^(TASK|PLAY) \[/ { on = 0 }
    on && /^ +"/ && !/"msg": \[$/ { line = $0; sub(/^ +"/, "", line); sub(/",?$/, "", line); gsub(/\\"/, "\"", line); print "  " line }
  ' "$1"
}

run_change() { # name, log, extra args...
  local name=$1 log=$2
  shift 2
  echo
  echo "== $name"
  set +e
  "$VENV/bin/ansible-playbook" playbooks/change.yml -e "changeward_targets=$TARGETS" \
    -e "{\"changeward_bake_times\": $BAKE}" "$@" >"$log" 2>&1
  local rc=$?
  set -e
  show "$log" "Show the ring plan" | sed 's/^/  plan: /'
  show "$log" "Print what happened, ring by ring"
  show "$log" "Print the summary, by environment type"
  grep -o "refused at '[^']*': .*" "$log" | head -1 | sed 's/^/  /' || true
  echo "  (exit code $rc; full log: $log)"
  return 0
}

stamp=$(date +%s)
echo "== lab"
PYTHONPATH=tests/lab "$VENV/bin/python" -m cwlab status | tail -n 2

run_change "(a) good release 1.2.$stamp: every ring, edge last" "$STATE/a-good.log" \
  -e "changeward_release_version=1.2.$stamp" -e "changeward_change_id=CHG-DEMO-GOOD-$stamp"

run_change "(b) bad release 1.3.$stamp (30% of requests fail)" "$STATE/b-bad.log" \
  -e "changeward_release_version=1.3.$stamp-bad" -e changeward_release_error_rate=0.3 \
  -e "changeward_change_id=CHG-DEMO-BAD-$stamp"

run_change "(c) another rollout of the demo service while the breaker is open" "$STATE/c-refused.log" \
  -e "changeward_release_version=1.4.$stamp" -e "changeward_change_id=CHG-DEMO-NEXT-$stamp"

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
