# webhook-kit: every task of the repository. `make help` lists them.
# Both `make local` and `make test` set everything up from nothing (virtualenv,
# Python and npm packages); nothing needs installing by hand.

SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
# The project-local Node.js 22 and CDK CLI (package.json) come first on PATH.
export PATH := $(CURDIR)/node_modules/.bin:$(CURDIR)/$(BIN):$(PATH)
export JSII_SILENCE_WARNING_DEPRECATED_NODE_VERSION := 1
CDK := npx --no-install cdk
PYTEST_ARGS ?=

.PHONY: help install local lint format typecheck test test-fast test-py313 lambda-runtime bench bench-scale soak synth nag diff deploy destroy clean

help: ## List the tasks
	@grep -hE '^[a-z0-9-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

$(VENV)/.installed: requirements.txt requirements-dev.txt requirements-test.txt requirements-crypto-layer.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	touch $@

# checkov pins its own boto3, so it lives in a virtualenv of its own.
CHECKOV_VERSION := 3.3.30
.venv-checkov/.installed: Makefile
	test -x .venv-checkov/bin/python || $(PYTHON) -m venv .venv-checkov
	.venv-checkov/bin/python -m pip install --quiet checkov==$(CHECKOV_VERSION)
	touch $@

# The Lambda runtime's Python (3.13) for the second test run and the asset import check:
# PYTHON313 if given, else python3.13 on PATH, else a pyenv-installed 3.13.
VENV313 := .venv-py313
FIND_PYTHON313 := for py in $(PYTHON313) python3.13 "$$(pyenv root 2>/dev/null)"/versions/3.13*/bin/python \
	$(HOME)/.pyenv/versions/3.13*/bin/python; do \
	"$$py" -c 'import sys; sys.exit(sys.version_info[:2] != (3, 13))' 2>/dev/null && { echo "$$py"; exit 0; }; \
	done; echo "error: no Python 3.13 found (the functions' runtime, python3.13); install one" \
	"(e.g. pyenv install 3.13) or name it: make PYTHON313=/path/to/python3.13" >&2; exit 1
$(VENV313)/.installed: requirements-py313.txt requirements-lambda-runtime.txt requirements-test.txt requirements-crypto-layer.txt
	@test -x $(VENV313)/bin/python || { py=$$($(FIND_PYTHON313)) && echo "$(VENV313) from $$py" && "$$py" -m venv $(VENV313); }
	$(VENV313)/bin/python -m pip install --quiet --upgrade pip
	$(VENV313)/bin/python -m pip install --quiet -r requirements-py313.txt
	touch $@

# Only what AWS provides the functions (layer + runtime SDK), for the asset import check.
.lambda-runtime/.installed: requirements-lambda-runtime.txt $(VENV313)/.installed
	rm -rf .lambda-runtime
	$(VENV313)/bin/python -m pip install --quiet --target .lambda-runtime -r requirements-lambda-runtime.txt
	touch $@

lambda-runtime: .lambda-runtime/.installed ## Python 3.13 and a folder of only what the runtime and layer provide

node_modules/.installed: package.json
	npm install --no-audit --no-fund --loglevel=error
	touch $@

install: $(VENV)/.installed node_modules/.installed .venv-checkov/.installed ## Create the virtualenv and install Python and npm packages

local: $(VENV)/.installed ## Run the whole pattern on this machine (no AWS account, no Docker); CONFIG=file.toml, ARGS
	$(BIN)/python -m webhook_kit local $(if $(CONFIG),-f $(CONFIG)) $(ARGS)

lint: install ## Ruff lint and format check
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

format: install ## Format the code with ruff
	$(BIN)/ruff check --fix .
	$(BIN)/ruff format .

typecheck: install ## mypy over the stacks, the Lambda code and the command line
	$(BIN)/mypy

# Tests marked `alone` (the soak: 52 worker processes whose timing is what it checks) run
# after the parallel run, with both cores to themselves; exit status 5 is "none selected".
test: install lambda-runtime ## Lint, type-check and run the whole test suite (what CI runs)
	$(MAKE) --no-print-directory lint typecheck
	$(BIN)/pytest -n 2 -m "not alone" $(PYTEST_ARGS)
	$(BIN)/pytest -m alone $(PYTEST_ARGS) || [ $$? -eq 5 ]
	$(MAKE) --no-print-directory test-py313

# The Lambda code's tests again, on the runtime's Python with its boto3 and the deployed
# Powertools (requirements-lambda-runtime.txt); the CDK's tests need neither. The fuzz (marked
# `slow`: 50,000+ generated requests, about 95 s here) runs once, in the first run.
test-py313: $(VENV313)/.installed ## The Lambda code's tests on Python 3.13 with the runtime's boto3
	$(VENV313)/bin/pytest -n 2 -m "not slow" tests/unit tests/integration tests/security tests/e2e_local $(PYTEST_ARGS)

test-fast: install ## Unit tests only
	$(BIN)/pytest tests/unit $(PYTEST_ARGS)

bench: install ## Run the benchmarks in bench/ (ratios measured side by side)
	@for script in bench/*/run.py; do echo "== $$script"; $(BIN)/python $$script || exit 1; done

bench-scale: $(VENV)/.installed node_modules/.installed ## Synth time and verifier cold start, 3 vs 100 sources, as ratios; ARGS for bench/scale/run.py
	$(BIN)/python bench/scale/run.py $(ARGS)

soak: $(VENV)/.installed ## Soak the local pipeline under injected faults (docs/soak.md); ARGS="--deliveries 300" for a quick one
	$(BIN)/python -m tests.soak.harness $(ARGS)

# The CDK targets build the stack of CONFIG (default: webhook-kit.toml, or WEBHOOK_KIT_CONFIG)
# and hand ARGS to cdk as they are, so `make deploy CONFIG=company.toml ARGS="-c stage_name=dev"`
# deploys exactly what `make synth` with the same arguments built.
CDK_ARGS = $(if $(CONFIG),-c config=$(CONFIG)) $(ARGS)

synth: $(VENV)/.installed node_modules/.installed ## Synthesize the templates into cdk.out (offline); CONFIG=file.toml, ARGS="-c key=value"
	$(CDK) synth --quiet $(CDK_ARGS)

nag: synth ## cdk-nag AwsSolutions report (synth fails on any unsuppressed finding)
	@ls cdk.out/AwsSolutions-*-NagReport.csv && ! grep -hF '"Non-Compliant"' cdk.out/AwsSolutions-*-NagReport.csv

diff: $(VENV)/.installed node_modules/.installed ## Compare the stack with the deployed one (CONFIG, ARGS as for synth)
	$(CDK) diff $(CDK_ARGS)

deploy: $(VENV)/.installed node_modules/.installed ## Deploy to the AWS account of your current credentials (CONFIG, ARGS as for synth)
	$(CDK) deploy $(CDK_ARGS)

destroy: $(VENV)/.installed node_modules/.installed ## Delete the deployed stack (retained data stays; see README; CONFIG, ARGS as for synth)
	$(CDK) destroy $(CDK_ARGS)

clean: ## Remove build output (not the virtualenv)
	rm -rf cdk.out .pytest_cache .mypy_cache .ruff_cache .lambda-runtime build webhook_kit.egg-info
