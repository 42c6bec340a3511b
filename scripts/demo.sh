#!/usr/bin/env bash
# make demo: bring the lab up, put the edge hosts on a flaky link, and run the main job
# (playbooks/change.yml) on every host through scripts/demo_rollout.sh:
#   (a) a good release reaches every ring across cloud, on-prem and edge,
#   (b) a bad release is caught at the canary ring, rolled back, the breaker opened, the outcome recorded,
#   (c) a second rollout is refused while the breaker is open, (d) only an authorised person half-opens it,
#   (e) a kernel parameter change (another change spec) is the breaker's trial and closes it.
# Each step prints what happened ring by ring and what ran where. The lab is torn down afterwards
# unless KEEP_LAB=1.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-12}
lab() { PYTHONPATH=tests/lab .venv/bin/python -m cwlab "$@"; }
export ANSIBLE_CONFIG="$PWD/ansible.cfg"

if [ "${KEEP_LAB:-0}" != 1 ]; then
  trap 'echo; echo "demo: tearing the lab down (KEEP_LAB=1 keeps it)"; lab down >/dev/null 2>&1 || lab down' EXIT
fi

echo "== lab: $HOSTS hosts"
lab up --hosts "$HOSTS"
echo "== edge hosts on a flaky link"
lab fault set edge --profile flaky
lab status || true
bash scripts/demo_rollout.sh
echo
echo "== auditor: verify the demo's ledger (hash chain and signed checkpoints)"
# Print only the verdict lines, but fail the demo when the ledger does not verify.
rc=0
out=$(CHANGEWARD_LEDGER_KEY=$(cat build/demo-rollout/ledger.key) .venv/bin/ansible-playbook playbooks/audit_verify.yml \
  -e ledger_src=build/demo-rollout/ledger.db) || rc=$?
grep -E '"(valid|events|problems)"|msg' <<<"$out" || true
if [ "$rc" -ne 0 ]; then
  echo "demo: the demo's ledger did NOT verify (audit_verify.yml exit $rc)" >&2
  exit "$rc"
fi
