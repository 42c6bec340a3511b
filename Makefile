# changeward — operator project and collection changeward.hybrid.
# Two commands do everything on a fresh Debian machine (as root):  make demo   and   make test
SHELL := /bin/bash
.DEFAULT_GOAL := help

VENV      ?= .venv
VENV313   ?= .venv313
PY        := $(VENV)/bin/python
HOSTS     ?= 12
LAB       := PYTHONPATH=tests/lab $(PY) -m cwlab
PYTEST    := $(PY) -m pytest

export ANSIBLE_CONFIG := $(CURDIR)/ansible.cfg

.PHONY: help setup demo test test-fast lint ruff ansible-lint sanity sanity-all unit molecule integration \
        lab-up lab-down lab-status build install-check bench-lab clean ee test-ee

help:
	@echo "make demo          set up, bring the lab up and run playbooks/change.yml on it"
	@echo "make test          set up and run every test (lint, sanity, unit, integration on the lab)"
	@echo "make test-fast     ruff + unit tests only (no lab, no sanity)"
	@echo "make lint | sanity | unit | molecule | integration"
	@echo "make lab-up [HOSTS=48] | lab-down | lab-status"
	@echo "make build | install-check | bench-lab   (build: tarball and release notes, build/CHANGELOG.rst)"
	@echo "make ee            the execution environment (execution-environment.yml) with ansible-builder and podman"
	@echo "make test-ee       make ee, then the main job in it on the lab through ansible-navigator"

setup:
	@bash scripts/bootstrap.sh

lab-up: setup
	$(LAB) up --hosts $(HOSTS)

lab-down:
	@if [ -x $(PY) ]; then $(LAB) down; else echo "no venv; nothing to tear down"; fi

lab-status:
	$(LAB) status

demo: setup
	@bash scripts/demo.sh

ruff: setup
	$(VENV)/bin/ruff check plugins tests scripts bench examples
	$(VENV)/bin/ruff format --check plugins tests scripts bench examples

ansible-lint: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH ANSIBLE_INVENTORY=inventories/example/hybrid.yml ansible-lint --offline --profile production

lint: ruff ansible-lint

sanity: setup
	bash scripts/sanity.sh $(VENV)

# sanity on the highest ansible-core too, where python3.13 exists
sanity-all: sanity
	@if [ -x $(VENV313)/bin/ansible-test ]; then bash scripts/sanity.sh $(VENV313); fi

unit: setup
	$(PYTEST) tests/unit -q

# The lab-free molecule scenarios (extensions/molecule); the lab one runs in the integration suite.
molecule: setup
	PATH=$(CURDIR)/$(VENV)/bin:$$PATH NO_COLOR=1 $(VENV)/bin/molecule test -s drift_baseline -s ring_rollout

# -n 2: suites that reserve different lab hosts run side by side (tests/lab/README.md)
integration: setup
	$(PYTEST) tests/integration -q -n 2

test-fast: setup
	$(VENV)/bin/ruff check plugins tests scripts bench examples
	$(PYTEST) tests/unit -q

test: setup
	@bash scripts/test.sh

# The tarball, with release notes (antsibull-changelog) for galaxy.yml's version in its CHANGELOG.rst.
build: setup
	bash scripts/build-collection.sh $(VENV)

install-check: build
	bash scripts/install-check.sh $(VENV)

# Not part of make test: the first build makes a Debian base image and takes minutes (docs/awx.md).
ee: setup
	bash scripts/ee.sh $(VENV)

# The main job in that image on the lab (tests/integration/test_ee_lab.py, skipped by make test).
test-ee: ee
	CHANGEWARD_EE_IMAGE=localhost/changeward-ee:latest $(PYTEST) tests/integration/test_ee_lab.py -q -p no:cacheprovider -rs

bench-lab: setup
	$(PY) bench/lab_bench.py

clean: lab-down
	rm -rf build .pytest_cache .ruff_cache
