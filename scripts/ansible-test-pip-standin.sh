#!/usr/bin/env bash
# ansible-test bootstraps pip in its virtual environments with a script it downloads from the
# internet; these machines reach only the package registries. Write, for every pip version the
# installed ansible-test releases ask for, a stand-in at the cache path ansible-test checks first:
# it installs pip from the interpreter's own ensurepip, then the requested packages from the
# package index as pip normally would.
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${HOME}/.ansible/test/cache"
mkdir -p "$cache"
versions=$(grep -hoE "pip='[0-9.]+'" .venv*/lib/python3*/site-packages/ansible_test/_internal/python_requirements.py 2>/dev/null \
  | grep -oE "[0-9.]+" | sort -u)
for v in $versions; do
  target="$cache/get_pip_${v//./_}.py"
  cat > "$target" <<'PY'
"""Offline stand-in for ansible-test's get-pip bootstrap script."""
import subprocess
import sys

args = [a for a in sys.argv[1:] if a not in ('--no-setuptools', '--no-wheel')]
subprocess.check_call([sys.executable, '-m', 'ensurepip', '--upgrade', '--default-pip'])
subprocess.check_call([sys.executable, '-m', 'pip', 'install'] + args)
PY
done
