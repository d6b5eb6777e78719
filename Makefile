# mi-harden: the two commands of the README are `make demo` and `make test`.
SHELL := /bin/bash
VENV := .venv
PY := $(VENV)/bin/python
ACTIVATE := source $(VENV)/bin/activate &&
SUITES ?= bullseye bookworm trixie
MOLECULE_JOBS ?= 3
# Ansible loads the project's filter plugins from source in every task's worker process;
# with PYTHONDONTWRITEBYTECODE set (some shells and CI images set it) there is never a
# cached .pyc and each task recompiles them: 25 % of the controller's CPU in an audit
# (docs/BENCHMARKS.md, "Findings"). The recipes below run without it.
unexport PYTHONDONTWRITEBYTECODE


.PHONY: help venv host images demo demo-clean lint unit molecule test test-all docs clean bench

help:
	@echo "make demo        harden and audit a local container terminal (mi-demo)"
	@echo "make demo-clean  remove the demo terminal"
	@echo "make test        everything CI runs: lint, unit tests, Molecule scenarios"
	@echo "make test-all    make test plus the extended scenarios (molecule/EXTENDED)"
	@echo "make lint | unit | molecule [SCENARIOS='a b'] | docs | images"
	@echo "make bench       converge and audit terminal containers over SSH, print figures"

# Virtualenv from the pinned requirements; rebuilt when requirements.txt changes.
$(VENV)/.stamp: requirements.txt
	python3 -m venv $(VENV)
	$(VENV)/bin/pip install -q --upgrade pip
	$(VENV)/bin/pip install -q -r requirements.txt
	touch $@

venv: $(VENV)/.stamp

host:
	scripts/ensure-host.sh

images: host
	scripts/build-images.sh $(SUITES)

demo: venv host
	scripts/build-images.sh bookworm
	$(ACTIVATE) scripts/demo.sh

demo-clean: venv
	$(ACTIVATE) ansible-playbook playbooks/demo_terminal.yml -e demo_state=absent

lint: venv
	$(ACTIVATE) yamllint -s .
	$(ACTIVATE) ansible-lint --profile production

unit: venv
	$(ACTIVATE) pytest -q tests/unit

docs: venv
	$(ACTIVATE) python scripts/gen_controls_doc.py

molecule: venv images
	$(ACTIVATE) scripts/run-molecule.sh -j $(MOLECULE_JOBS) $(SCENARIOS)

test: venv
	@scripts/timed.sh lint $(MAKE) --no-print-directory lint
	@scripts/timed.sh unit $(MAKE) --no-print-directory unit
	@scripts/timed.sh molecule $(MAKE) --no-print-directory molecule

# make test and the scenarios too long for CI's budget (molecule/EXTENDED)
test-all:
	MI_RUN_EXTENDED=1 $(MAKE) --no-print-directory test

clean:
	rm -rf $(VENV) reports/ .pytest_cache

# Benchmark (not a test): converge and audit terminal containers over SSH, print figures
# (docs/BENCHMARKS.md). A short run: make bench BENCH_ARGS='--sizes 1,2 --profile'.
BENCH_ARGS ?= --profile
bench: venv host
	$(ACTIVATE) scripts/bench.py $(BENCH_ARGS)
