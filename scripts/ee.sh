#!/usr/bin/env bash
# make ee: the operator project's execution environment (execution-environment.yml), built with ansible-builder
# and podman from Debian's packages, without a container registry:
#   1. a Debian bookworm base image from Debian's mirror (debootstrap minbase, podman import), made once;
#   2. the collection tarball, built from the committed tree (HEAD);
#   3. ansible-builder build with podman, the build on the host's network (it reaches Debian's packages and PyPI).
# podman runs here with runc, cgroupfs and explicit ulimits, set in a containers.conf this script writes.
# Usage: scripts/ee.sh [VENV]   (root; after make setup). Prints the image name.
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
venv=${1:-.venv}
work=build/ee
base=localhost/changeward-ee-base:bookworm-1  # bump the suffix when the base recipe changes
image=localhost/changeward-ee:latest
die() { echo "ee: $*" >&2; exit 1; }
[ "$(id -u)" = 0 ] || die "must run as root (debootstrap, podman)"
# Only this target needs them, so make setup does not install them.
need=()
for p in podman runc debootstrap uidmap; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  echo "ee: installing ${need[*]}"
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
mkdir -p "$work"
# ansible-navigator refuses to run podman without a POSIX message queue directory, which containers may lack.
[ -d /dev/mqueue ] || mkdir /dev/mqueue
# shellcheck source=scripts/ee-env.sh
. scripts/ee-env.sh "$work"

# The CA bundle this machine trusts: where TLS is intercepted, the build must trust what the host trusts.
ca=${SSL_CERT_FILE:-/etc/ssl/certs/ca-certificates.crt}

if ! podman image exists "$base"; then
  # The same Debian mirror apt uses on this machine.
  mirror=$(grep -hoE '^(URIs:|deb) +[^ ]+' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | awk '{print $2}' | grep -m1 -E '/debian/?$' || true)
  [ -n "$mirror" ] || die "no Debian mirror in apt's sources"
  rootfs=$work/rootfs
  rm -rf "$rootfs"
  echo "ee: debootstrap bookworm from $mirror"
  debootstrap --variant=minbase --include=python3,python3-pip,python3-venv,ca-certificates,openssh-client,git \
    bookworm "$rootfs" "$mirror" >"$work/debootstrap.log" 2>&1 || { tail -20 "$work/debootstrap.log"; die "debootstrap failed"; }
  cp "$ca" "$rootfs/etc/ssl/certs/ca-certificates.crt"
  tar -C "$rootfs" -c . | podman import \
    --change 'ENV PIP_CERT=/etc/ssl/certs/ca-certificates.crt' --change 'ENV SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt' \
    --change 'CMD ["/bin/bash"]' - "$base" >/dev/null
  rm -rf "$rootfs"
fi

# The collection as committed (HEAD), so the image is reproducible and work in progress never reaches it.
stage=$work/stage
rm -rf "$stage" "$work"/changeward-hybrid-*.tar.gz && mkdir -p "$stage"
git archive HEAD | tar -C "$stage" -xf -
"$venv/bin/ansible-galaxy" collection build --force --output-path "$work" "$stage" >/dev/null
mv "$work"/changeward-hybrid-*.tar.gz "$work/changeward-hybrid.tar.gz"
rm -rf "$stage"
"$venv/bin/ansible-builder" build --container-runtime podman -f execution-environment.yml \
  --context "$work/context" --tag "$image" --prune-images \
  --extra-build-cli-args=--network=host -v 2 >"$work/build.log" 2>&1 || { tail -40 "$work/build.log"; die "ansible-builder build failed"; }
echo "$image"
