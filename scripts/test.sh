#!/usr/bin/env bash
# make test: every quality gate, on the lowest and the highest ansible-core that install here.
# The lab is always torn down at the end, whatever failed.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
export ANSIBLE_CONFIG="$PWD/ansible.cfg"
mkdir -p build/logs
failed=()
step() {  # step NAME CMD...: run, time, remember failures, go on so one run shows every problem
  local name=$1; shift
  local t0=$SECONDS
  echo "== $name"
  if "$@"; then echo "== $name: ok ($((SECONDS - t0))s)"; else echo "== $name: FAILED ($((SECONDS - t0))s)"; failed+=("$name"); fi
}
teardown() { PYTHONPATH=tests/lab .venv/bin/python -m cwlab down >/dev/null 2>&1 || true; }
trap teardown EXIT

# sanity (on both ansible-core versions) builds its own virtual environments and is CPU-heavy but
# independent of the lab: run it beside the lint and unit steps, and collect its result before the
# timing-sensitive integration tests start.
sanity_bg() {  # sanity_bg VENV LABEL
  ( bash scripts/sanity.sh "$1" > "build/logs/sanity-$2.log" 2>&1; echo $? > "build/logs/sanity-$2.rc" ) &
  sanity_pids+=($!)
}
sanity_pids=()
sanity_cores=(.venv:2.19)
[ -x .venv313/bin/ansible-test ] && sanity_cores+=(.venv313:2.21)
for vc in "${sanity_cores[@]}"; do sanity_bg "${vc%%:*}" "${vc##*:}"; done

step ruff bash -c '.venv/bin/ruff check plugins tests scripts bench examples && .venv/bin/ruff format --check plugins tests scripts bench examples'
# The example inventory, not the lab's: syntax checks must not depend on the lab being up (fresh clone).
step ansible-lint env PATH="$PWD/.venv/bin:$PATH" ANSIBLE_INVENTORY=inventories/example/hybrid.yml \
  ansible-lint --offline --profile production
# The lab-free molecule scenarios (extensions/molecule: drift_baseline, ring_rollout) mostly wait on
# ansible-playbook start-up and a short bake: run them beside the unit tests.
( PATH="$PWD/.venv/bin:$PATH" NO_COLOR=1 .venv/bin/molecule test -s drift_baseline -s ring_rollout \
    > build/logs/molecule.log 2>&1; echo $? > build/logs/molecule.rc ) &
molecule_pid=$!
step unit .venv/bin/python -m pytest tests/unit -q -p no:cacheprovider -n 2
wait "$molecule_pid"
echo "== molecule (lab-free scenarios)"; grep -E "^[a-z_]+ > [a-z]+: Executed" build/logs/molecule.log
if [ "$(cat build/logs/molecule.rc)" = 0 ]; then echo "== molecule: ok"; else
  tail -n 60 build/logs/molecule.log; echo "== molecule: FAILED"; failed+=(molecule); fi
step build-and-install bash -c 'bash scripts/build-collection.sh .venv >/dev/null && bash scripts/install-check.sh .venv'

wait "${sanity_pids[@]}"
for vc in "${sanity_cores[@]}"; do
  core=${vc##*:}
  echo "== sanity (ansible-core $core)"; grep -E "^(ERROR|FATAL)|Running sanity test" "build/logs/sanity-$core.log" | tail -n 40
  if [ "$(cat "build/logs/sanity-$core.rc")" = 0 ]; then echo "== sanity $core: ok"; else echo "== sanity $core: FAILED"; failed+=("sanity-$core"); fi
done

# Two workers: suites that reserve different lab hosts run side by side (tests/integration/reservations.py);
# most of the time they wait for bake times and outages, not for the CPU.
step integration .venv/bin/python -m pytest tests/integration -q -p no:cacheprovider -rs -n 2 --durations=15

if [ ${#failed[@]} -gt 0 ]; then
  echo "make test: FAILED: ${failed[*]}"
  exit 1
fi
echo "make test: all steps passed"
