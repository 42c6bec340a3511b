#!/usr/bin/env bash
# One-shot set-up for a fresh Debian machine, run as root: system packages, the pinned Python
# environments (lowest and highest supported ansible-core) and the offline ansible-test bootstrap.
# Idempotent: every step checks before it acts.
set -euo pipefail
cd "$(dirname "$0")/.."

APT_PACKAGES=(openssh-server openssh-client iptables iproute2 prometheus prometheus-alertmanager
              prometheus-blackbox-exporter prometheus-pushgateway procps psmisc curl git rsync make util-linux
              postgresql rsyslog rsyslog-gnutls nginx openssl rpm btrfs-progs xfsprogs e2fsprogs systemd
              dpkg-dev python3-apt
              # an HTTP proxy: the recorder's sinks are tested behind one (tests/integration)
              tinyproxy
              # a headless browser: the compliance report's HTML is rendered and screenshotted in a test
              chromium
              # Debian's python3 has no venv/ensurepip without it: bootstrap's venvs, ansible-test's --venv
              # and its offline pip stand-in all need it.
              python3-venv)

die() { echo "bootstrap: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (the lab needs network namespaces, overlayfs and iptables)"
command -v apt-get >/dev/null || die "apt-get not found: this set-up targets Debian"

missing=()
for p in "${APT_PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "bootstrap: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # no recommends: the prometheus package would otherwise pull in a node exporter we do not use.
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

find_python() {  # $1 = minor version, e.g. 3.13; prints an interpreter path or nothing
  local v=$1 c
  for c in "python$v" "/usr/bin/python$v"; do
    if command -v "$c" >/dev/null 2>&1 && "$c" -c 'import sys' >/dev/null 2>&1; then command -v "$c"; return; fi
  done
  if command -v pyenv >/dev/null 2>&1; then
    for c in "$(pyenv root)"/versions/"$v"*/bin/python"$v"; do
      [ -x "$c" ] && { echo "$c"; return; }
    done
  fi
}

make_venv() {  # $1 = venv dir, $2 = interpreter, $3 = lock file
  local dir=$1 py=$2 lock=$3 stamp="$1/.lock.sha256"
  local want; want=$(sha256sum "$lock" | cut -d' ' -f1)
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ]; then return; fi
  echo "bootstrap: creating $dir with $("$py" -V 2>&1) from $lock"
  rm -rf "$dir"
  "$py" -m venv "$dir"
  "$dir/bin/python" -m pip install -q --disable-pip-version-check -r "$lock"
  echo "$want" > "$stamp"
}

PY311=$(find_python 3.11); [ -n "$PY311" ] || die "python3.11 not found (needed for ansible-core 2.19)"
make_venv .venv "$PY311" requirements/py311.lock.txt

PY313=$(find_python 3.13)
if [ -n "$PY313" ]; then
  make_venv .venv313 "$PY313" requirements/py313.lock.txt
else
  echo "bootstrap: no python3.13 on this machine; ansible-core 2.21 tests will be skipped"
  rm -rf .venv313
fi

# ansible-test downloads a pip bootstrap script from the internet, which these machines cannot reach.
# A stand-in with the name it looks for installs pip from the interpreter's own ensurepip instead.
bash scripts/ansible-test-pip-standin.sh

echo "bootstrap: ready"
