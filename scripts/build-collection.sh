#!/usr/bin/env bash
# make build: the collection tarball, with release notes for the version in galaxy.yml.
# antsibull-changelog's release rewrites changelogs/changelog.yaml and drops the fragments, as a release
# does; that happens in a staged copy of the working tree (build/stage), never in the checkout, so the
# fragments stay until a maintainer releases for real. Usage: build-collection.sh [VENV]
set -euo pipefail
cd "$(dirname "$0")/.." || exit 1
venv=${1:-.venv}
stage=build/stage
rm -rf "$stage" build/dist build/CHANGELOG.rst
mkdir -p "$stage" build/dist

# Fragments that do not parse stop the build.
"$venv/bin/antsibull-changelog" lint

# What ansible-galaxy leaves out anyway (galaxy.yml build_ignore) need not be copied; the lab's state and the
# virtual environments are large.
tar --exclude=./.git --exclude='./.venv*' --exclude=./build --exclude=./.lab --exclude=./.cache \
  --exclude=./.pytest_cache --exclude=./.ruff_cache --exclude=./.benchmarks --exclude=./collections -cf - . \
  | tar -C "$stage" -xf -

version=$("$venv/bin/python" -c 'import sys, yaml; print(yaml.safe_load(open(sys.argv[1]))["version"])' galaxy.yml)
# antsibull-changelog reads the plugins with ansible-doc, which it finds on PATH.
(cd "$stage" && PATH="$OLDPWD/$venv/bin:$PATH" "$OLDPWD/$venv/bin/antsibull-changelog" release --version "$version")
rm -f "$stage/changelogs/.plugin-cache.yaml"  # antsibull-changelog's cache, not part of the release
"$venv/bin/ansible-galaxy" collection build --force --output-path build/dist "$stage"
cp "$stage/CHANGELOG.rst" build/CHANGELOG.rst
rm -rf "$stage"
echo "build: build/dist/changeward-hybrid-$version.tar.gz (release notes: build/CHANGELOG.rst)"
