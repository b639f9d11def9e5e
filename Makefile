# One entry point for developers and CI. Every target sets up .venv itself.
# PYTHON and VENV choose the interpreter and the folder: `make unit PYTHON=python3.13 VENV=.venv-3.13`
# runs the unit tier in a second venv, installed from the same locks (`make compat` does that).
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
# .venv is installed from the lock files (every package pinned, hash-checked); a change to
# either lock reinstalls. The .txt files are their human-edited inputs: see `make lock`.
LOCKS  := requirements-dev.lock layers/common/requirements.lock
STAMP  := $(VENV)/.installed-$(shell cat $(LOCKS) | cksum | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)/layers/common/python:$(CURDIR)

FN    ?=
EVENT ?=

.PHONY: venv lock run test unit compat invoke trigger migrate backup restore openapi lint bench load package clean

# pip itself is in the dev lock (chalice depends on it), so this also brings pip to the
# locked version. Packages installed by hand and absent from the lock are left alone.
# Not quiet: the first install takes a minute or more, and pip's line per package shows it moving.
$(STAMP): $(LOCKS)
	@test -x $(BIN)/python || { echo "creating $(VENV) with $(PYTHON)" && $(PYTHON) -m venv $(VENV); }
	@echo "installing the $$(grep -c '^[A-Za-z0-9].*==' requirements-dev.lock) packages of requirements-dev.lock" \
	  "into $(VENV), hashes checked (about a minute the first time)"
	$(BIN)/python -m pip install --disable-pip-version-check --require-hashes -r requirements-dev.lock
	@rm -f $(VENV)/.installed-* && touch $@ && echo "$(VENV) is ready"

venv: $(STAMP)

## lock: regenerate the lock files from requirements-dev.txt and layers/common/requirements.txt
# Keeps every pin the inputs still allow; LOCK_ARGS=--upgrade moves all of them to the newest
# allowed, LOCK_ARGS="--upgrade-package requests" one package (and what it needs).
# Resolved for the Lambda platform (CPython 3.11, manylinux2014 x86_64), whatever machine
# runs it. Dev first; the runtime lock takes the dev lock as a constraint, so the layer ships
# exactly the versions the tests run with; chalice.lock pins the wheel the layer takes
# Chalice's two runtime files from, at the dev lock's version.
LOCK_COMPILE = $(BIN)/uv pip compile --quiet --python $(BIN)/python --python-version 3.11 \
	--python-platform x86_64-manylinux2014 --generate-hashes --custom-compile-command "make lock" $(LOCK_ARGS)
lock: venv
	$(LOCK_COMPILE) requirements-dev.txt -o requirements-dev.lock
	$(LOCK_COMPILE) layers/common/requirements.txt -c requirements-dev.lock -o layers/common/requirements.lock
	grep -i '^chalice==' requirements-dev.lock | cut -d' ' -f1 | \
	  $(LOCK_COMPILE) --no-deps --no-annotate - -o layers/common/chalice.lock

## run: serve every function of template.yaml locally (API :3000, queues, schedules, simulators)
run: venv
	$(BIN)/python -m infra.local.runtime

## test: the whole suite (MariaDB/MySQL tests skip loudly without a server unless REQUIRE_MYSQL=1), a
# worker per core (TEST_WORKERS=0: one process), each test file on one worker
TEST_WORKERS ?= auto
test: venv
	$(BIN)/python -m pytest -n $(TEST_WORKERS) --dist loadfile $(PYTEST_ARGS)

## unit: the unit tier alone (tests/unit): pure rules and static checks, no database server, moto or
# simulator (tests/unit/conftest.py refuses a test that asks for one); seconds, not minutes
unit: venv
	$(BIN)/python -m pytest tests/unit -q -p no:cacheprovider $(PYTEST_ARGS)

## compat: the unit tier and the rescue end-to-end tests again on CPython 3.13 (a SnapStart runtime),
# in .venv-3.13, installed from the same locks. The interpreter: PYTHON313, else python3.13 on PATH or
# in pyenv (infra/find_python.sh); none found fails here, naming where it looked.
COMPAT_VENV ?= .venv-3.13
COMPAT_TESTS := tests/unit tests/e2e/test_rescue_slice_e2e.py
compat:
	@python313="$${PYTHON313:-$$(sh infra/find_python.sh 3.13)}" && \
	  $(MAKE) --no-print-directory venv PYTHON="$$python313" VENV=$(COMPAT_VENV)
	$(COMPAT_VENV)/bin/python -c 'import sys; assert sys.version_info[:2] == (3, 13), sys.version'
	$(COMPAT_VENV)/bin/python -m pytest $(COMPAT_TESTS) -q -p no:cacheprovider $(PYTEST_ARGS)

## invoke FN=<function> EVENT=events/<file>.json: one invocation, result printed (like sam local invoke)
invoke: venv
	@test -n "$(FN)" -a -n "$(EVENT)" || (echo "usage: make invoke FN=RescueApiFunction EVENT=events/rescue_api/create_case.json" && exit 2)
	$(BIN)/python -m infra.local.invoke $(FN) $(EVENT)

## trigger FN=<function>: fire a scheduled function now
trigger: venv
	@test -n "$(FN)" || (echo "usage: make trigger FN=OutboxSweeperFunction" && exit 2)
	$(BIN)/python -m infra.local.invoke --trigger $(FN)

## migrate: apply the Alembic migrations to DATABASE_URL
migrate: venv
	$(BIN)/python -m infra.migrate upgrade

## backup [OUT=FILE]: a logical backup of DATABASE_URL (else make run's SQLite file), one consistent
# snapshot, gzip'd rows and a manifest of checksums (default file: .local/backups/hospital-<UTC time>.tar)
OUT ?=
backup: venv
	$(BIN)/python -m infra.backup backup $(if $(OUT),--out "$(OUT)")

## restore FILE=<backup>: restore a backup into an EMPTY DATABASE_URL, checked against its manifest
FILE ?=
restore: venv
	@test -n "$(FILE)" || (echo "usage: make restore FILE=.local/backups/hospital-20250101T020000Z.tar" && exit 2)
	$(BIN)/python -m infra.backup restore "$(FILE)"

## openapi: write docs/openapi.json from the code (routes, models, permissions); a test checks it is current
openapi: venv
	$(BIN)/python -m infra.openapi --write

## lint: ruff, mypy (layer and functions), import contracts, cfn-lint, cfn-lint after an offline SAM transform
# ruff, mypy and lint-imports read their configuration from pyproject.toml; the first finding stops it.
lint: venv
	$(BIN)/ruff check .
	$(BIN)/mypy
	$(BIN)/lint-imports
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m infra.deploy.check_template

## bench: cold start per function, throughput, alert and tracking latency, suspension and
# reconciliation, each against its target (most as ratios to baselines measured in the same run);
# results in .bench/ (JSON), exit 1 when a target is not met. BENCH_QUICK=1: a short version of
# every figure, for a quick look.
bench: venv
	LOG_LEVEL=WARNING $(BIN)/python -m tests.benchmarks.run

## load: mixed traffic (Locust) for LOAD_SECONDS (60) from LOAD_USERS (20) patients and LOAD_CREWS (5)
# crews at a fresh local runtime over a scratch MariaDB database, or at a running `make run` given
# LOAD_URL (and its DATABASE_URL); per route requests, errors, p50/p95, and lost or duplicated alerts,
# ledger entries, callbacks and positions; .bench/load.json; exit 1 on an error, a loss or a duplicate.
load: venv
	LOG_LEVEL=WARNING $(BIN)/python -m tests.benchmarks.load_run

## package: build the Lambda layer into build/layer (sam build does the same for deployment)
# PYTHON_RUNTIME: the template's PythonRuntime the layer is for (python3.11, the default, or python3.13).
PYTHON_RUNTIME ?= python3.11
package: venv
	rm -rf build/layer
	$(MAKE) -C layers/common build-CommonLayer ARTIFACTS_DIR=$(CURDIR)/build/layer PYTHON=$(abspath $(BIN))/python \
	  PYTHON_RUNTIME=$(PYTHON_RUNTIME)

clean:
	rm -rf $(VENV) $(COMPAT_VENV) .local build .pytest_cache .ruff_cache .mypy_cache .import_linter_cache .grimp_cache
