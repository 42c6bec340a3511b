#!/usr/bin/env bash
# make demo: bring the lab up, put the edge hosts on a flaky link, run the main job over SSH on every
# host and print what ran where. The lab is torn down afterwards unless KEEP_LAB=1.
set -euo pipefail
cd "$(dirname "$0")/.."
HOSTS=${HOSTS:-12}
VERSION=${DEMO_VERSION:-1.1.$(date +%s)}
lab() { PYTHONPATH=tests/lab .venv/bin/python -m cwlab "$@"; }
export ANSIBLE_CONFIG="$PWD/ansible.cfg"

if [ "${KEEP_LAB:-0}" != 1 ]; then
  trap 'echo; echo "demo: tearing the lab down (KEEP_LAB=1 keeps it)"; lab down >/dev/null 2>&1 || lab down' EXIT
fi

echo "== lab: $HOSTS hosts"
lab up --hosts "$HOSTS"
echo "== edge hosts on a flaky link"
lab fault set edge --profile flaky
lab status
echo "== main job: playbooks/change.yml (release $VERSION)"
.venv/bin/ansible-playbook playbooks/change.yml -e "changeward_release_version=$VERSION"
