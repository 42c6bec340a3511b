#!/usr/bin/env bash
# ansible-test must run from a tree laid out as ansible_collections/<namespace>/<name>. Copy the
# files git would ship (tracked, plus untracked files that are not ignored) into such a tree and run
# sanity there, offline, with no ignore file for our own code.
# Usage: scripts/sanity.sh [venv-dir] [extra ansible-test args...]
set -euo pipefail
cd "$(dirname "$0")/.."
root=$PWD
venv=${1:-.venv}; shift || true
[ -x "$venv/bin/ansible-test" ] || { echo "sanity: $venv has no ansible-test; run make setup" >&2; exit 1; }
pyver=$("$venv/bin/python" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
# A fresh tree per run, so runs side by side (2.19 and 2.21, or two people) do not trip over each other.
mkdir -p build
work=$(mktemp -d "$PWD/build/sanity-$pyver-XXXXXX")
trap 'rm -rf "$work"' EXIT
dest="$work/ansible_collections/changeward/hybrid"
mkdir -p "$dest"
# collections/ only holds the link that makes the checkout find itself; it is not part of the collection.
git ls-files -z --cached --others --exclude-standard | grep -zv '^collections/' \
  | rsync -a --from0 --files-from=- ./ "$dest/"
if [ -e tests/sanity ] && ls tests/sanity/ignore-*.txt >/dev/null 2>&1; then
  echo "sanity: ignore files are not allowed for our own code" >&2; exit 1
fi
cd "$dest"
# The copy lies inside this (git-ignored) build dir; its own index tells ansible-test which files exist.
git init -q . && git add -A
export ANSIBLE_TEST_PREFER_PODMAN=0
"$root/$venv/bin/ansible-test" sanity --venv --python "$pyver" --color no "$@"
