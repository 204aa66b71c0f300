# Intake: every set-up step lives here so a fresh clone needs only `make demo` or `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
LAYER_DIR := build/layers/deps/python
LAYER_STAMP := build/layers/deps/.built
# Lambda runs arm64 (Graviton) on python3.12: the layer takes manylinux wheels for that target.
LAYER_PLATFORM ?= manylinux2014_aarch64
LAYER_PYTHON ?= 3.12
TENANT ?= acme
export JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION := 20
export PIP_DISABLE_PIP_VERSION_CHECK := 1

.PHONY: help venv layer synth deploy cfn-lint lint format test test-unit test-integration test-infra test-e2e test-security test-faults up token sweep redrive-dlq demo bench clean

help:
	@echo "make demo    start the local stack, run the whole flow with the client, stop"
	@echo "make test    run every test suite (unit, integration, infra, e2e, security, faults)"
	@echo "make up      run the local stack in the foreground (Ctrl-C stops it)"
	@echo "make token TENANT=acme [SCOPES=intake/read]   print a bearer token for the local stack"
	@echo "make sweep, make redrive-dlq   run the run sweep / move the DLQ back, on a running make up"
	@echo "make synth   synthesize the CDK stack into cdk.out/ and run cfn-lint"
	@echo "make deploy  synth, then cdk deploy with your AWS credentials (CDK_ARGS=...)"
	@echo "make lint    ruff + mypy;   make bench   benchmarks into docs/benchmarks.md"

$(STAMP): requirements/dev.txt requirements/lambda.txt pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip install -q -r requirements/dev.txt 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/pip install -q --no-deps -e . 2>&1 | grep -v "^WARNING: Location" || true
	$(BIN)/python -c "import aws_lambda_powertools, boto3, moto, aws_cdk, jwt, pydantic"
	touch $@

venv: $(STAMP)

$(LAYER_STAMP): requirements/lambda.txt
	rm -rf build/layers/deps && mkdir -p $(LAYER_DIR)
	$(BIN)/pip install -q --target $(LAYER_DIR) --platform $(LAYER_PLATFORM) \
	  --python-version $(LAYER_PYTHON) --implementation cp --only-binary=:all: \
	  -r requirements/lambda.txt 2>&1 | grep -v "^WARNING: Location" || true
	test -d $(LAYER_DIR)/pydantic_core
	touch $@

layer: $(STAMP) $(LAYER_STAMP)

synth: layer
	rm -rf cdk.out
	$(BIN)/python app.py
	$(MAKE) --no-print-directory cfn-lint

# The CDK CLI 3.x refuses this aws-cdk-lib's cloud assembly: pin 2.x, installed under build/.
CDK_CLI_VERSION ?= 2.1148.1
CDK := build/cdk-cli/node_modules/.bin/cdk

$(CDK):
	npm install --no-save --silent --prefix build/cdk-cli aws-cdk@$(CDK_CLI_VERSION)

deploy: synth $(CDK)
	$(CDK) deploy --app cdk.out $(CDK_ARGS)

cfn-lint:
	$(BIN)/cfn-lint --ignore-checks W3005 -- cdk.out/*.template.json

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy layers/shared/python/intake client/intake_client local/intake_local infra functions tests benchmarks

format: venv
	$(BIN)/ruff format .
	$(BIN)/ruff check --fix .

test: venv
	$(BIN)/pytest -n 2 --dist loadgroup

test-unit: venv
	$(BIN)/pytest tests/unit
test-integration: venv
	$(BIN)/pytest tests/integration
test-infra: venv
	$(BIN)/pytest tests/infra
test-e2e: venv
	$(BIN)/pytest tests/e2e
test-security: venv
	$(BIN)/pytest tests/security
test-faults: venv
	$(BIN)/pytest tests/faults

up: venv
	$(BIN)/intake-local up

# The token is the last line on stdout: export INTAKE_TOKEN=$$(make -s token TENANT=acme | tail -n1)
# SCOPES="intake/read" makes a read-only token.
token: venv
	@$(BIN)/intake-local token --tenant $(TENANT) $(if $(SCOPES),--scopes "$(SCOPES)")

# Operations on a running `make up` (same INTAKE_AWS_PORT); in AWS see docs/operations.md.
sweep: venv
	$(BIN)/intake-local sweep

redrive-dlq: venv
	$(BIN)/intake-local redrive-dlq

demo: venv
	$(BIN)/intake-local demo

bench: venv
	$(BIN)/python -m benchmarks.run

clean:
	rm -rf cdk.out build .local .pytest_cache .mypy_cache .ruff_cache
