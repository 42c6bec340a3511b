#!/usr/bin/env bash
# The built artifact must install into an empty path and work without the checkout.
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
root=$PWD
tarball=$(ls build/dist/changeward-hybrid-*.tar.gz | head -n1)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Operator and test parts must stay out of the artifact.
if tar -tzf "$tarball" | grep -E '^(tests|inventories|scripts|collections|molecule|extensions/molecule|\.ci)/' >/dev/null; then
  echo "install-check: the artifact contains operator or test files:" >&2
  tar -tzf "$tarball" | grep -E '^(tests|inventories|scripts|collections|molecule|extensions/molecule|\.ci)/' | head >&2
  exit 1
fi
# The licence and the release notes make build generates ship with it.
contents=$(tar -tzf "$tarball")
for shipped in COPYING CHANGELOG.rst changelogs/changelog.yaml; do
  grep -qx "$shipped" <<< "$contents" || { echo "install-check: the artifact has no $shipped" >&2; exit 1; }
done
cd "$tmp"
"$root/$venv/bin/ansible-galaxy" collection install --force "$root/$tarball" -p "$tmp/collections" >/dev/null 2>&1
printf "[defaults]\n" > "$tmp/ansible.cfg"
export ANSIBLE_COLLECTIONS_PATH="$tmp/collections" ANSIBLE_CONFIG="$tmp/ansible.cfg"
"$root/$venv/bin/ansible-doc" changeward.hybrid.hybrid -t inventory | head -n 3
"$root/$venv/bin/ansible-doc" -t role changeward.hybrid.ring_rollout | grep -q "ENTRY POINT: .*main" \
  || { echo "install-check: ansible-doc does not render the ring_rollout role" >&2; exit 1; }
"$root/$venv/bin/ansible" localhost -c local -m ansible.builtin.debug \
  -a "msg={{ [{'host': 'h1', 'env_type': 'edge', 'outcome': 'changed'}] | changeward.hybrid.change_report }}" \
  | grep -q "edge" || { echo "install-check: the installed collection's filter did not run" >&2; exit 1; }
echo "install-check: $tarball installs into an empty path; ansible-doc and the plugins work"
