# One entry point for developers and CI. Every target sets up .venv itself.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed-$(shell cat requirements-dev.txt layers/common/requirements.txt | cksum | cut -d' ' -f1)
export PYTHONPATH := $(CURDIR)/layers/common/python:$(CURDIR)

FN    ?=
EVENT ?=

.PHONY: venv run test invoke trigger migrate lint bench package clean

$(STAMP): requirements-dev.txt layers/common/requirements.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -r requirements-dev.txt
	rm -f $(VENV)/.installed-* && touch $@

venv: $(STAMP)

## run: serve every function of template.yaml locally (API :3000, queues, schedules, simulators)
run: venv
	$(BIN)/python -m infra.local.runtime

## test: the whole suite (MariaDB/MySQL tests skip loudly without a server unless REQUIRE_MYSQL=1)
test: venv
	$(BIN)/python -m pytest $(PYTEST_ARGS)

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

## lint: cfn-lint on template.yaml, also after an offline SAM transform
lint: venv
	$(BIN)/cfn-lint template.yaml
	$(BIN)/python -m infra.deploy.check_template

## bench: cold-start and throughput benchmarks (figures as ratios to their baselines)
bench: venv
	LOG_LEVEL=WARNING $(BIN)/python -m tests.benchmarks.run

## package: build the Lambda layer into build/layer (sam build does the same for deployment)
package: venv
	rm -rf build/layer
	$(MAKE) -C layers/common build-CommonLayer ARTIFACTS_DIR=$(CURDIR)/build/layer PYTHON=$(CURDIR)/$(BIN)/python

clean:
	rm -rf $(VENV) .local build .pytest_cache
