# Crowdify: local development, checks and build. Needs only python3 (3.11) and pip.
#   make test            lint + template checks + sam build + every test, then integration and e2e through PgBouncer
#   make run             the local stack (see DESIGN.md, "The local stack")
#   make token ROLE=admin [EMAIL=...]   prints a JWT for a running local stack as its last line
#   make build           sam build + precompiled bytecode in .aws-sam/build
#   make bench           every benchmark; one table, figures in .bench/latest.json
#   make openapi         openapi.json from the handlers' own models

PYTHON ?= python3
PIP_VERSION := 25.3

VENV := .venv
VENV_STAMP := $(VENV)/.installed
TOOLS := .venv-tools
TOOLS_STAMP := $(TOOLS)/.installed

SAM := $(TOOLS)/bin/sam
CFN_LINT := $(TOOLS)/bin/cfn-lint

# The SAM CLI needs a region even for offline work; a deploy names its own (samconfig.toml).
export AWS_DEFAULT_REGION ?= us-east-1
export SAM_CLI_TELEMETRY := 0
PIP_QUIET := --quiet --disable-pip-version-check

.DEFAULT_GOAL := help
.PHONY: help venv run token lint template-check build test bench openapi clean distclean

help:
	@sed -n '1,/^$$/p' $(firstword $(MAKEFILE_LIST))

# Lambda runs python3.11, and .aws-sam/build is compiled with this interpreter: refuse any other.
define make_venv
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else \
		"$(PYTHON) is Python %d.%d; Crowdify needs 3.11 (the Lambda runtime): make PYTHON=python3.11" % sys.version_info[:2])'
	$(PYTHON) -m venv $(1)
	$(1)/bin/python -m pip install $(PIP_QUIET) pip==$(PIP_VERSION)
endef

$(VENV_STAMP): requirements-dev.txt layers/shared/requirements.txt
	$(call make_venv,$(VENV))
	$(VENV)/bin/python -m pip install $(PIP_QUIET) -r requirements-dev.txt
	@touch $@

# aws-sam-cli and cfn-lint pin their own dependencies tightly, so they get an environment of their own.
$(TOOLS_STAMP): requirements-tools.txt
	$(call make_venv,$(TOOLS))
	$(TOOLS)/bin/python -m pip install $(PIP_QUIET) -r requirements-tools.txt
	@touch $@

venv: $(VENV_STAMP) $(TOOLS_STAMP)

run: $(VENV_STAMP)
	$(VENV)/bin/python -m local.stack

# Silent recipe: the JWT must stay the last line of the output. (make -C DIR adds a "Leaving directory"
# line after it: from another folder use make --no-print-directory -C DIR token.)
token: $(VENV_STAMP)
	$(if $(ROLE),,$(error make token needs ROLE=admin|coordinator|scanner|user))
	@$(VENV)/bin/python -m local.token --role $(ROLE) $(if $(EMAIL),--email $(EMAIL))

lint: $(VENV_STAMP)
	$(VENV)/bin/ruff check .
	$(VENV)/bin/ruff format --check .

template-check: $(TOOLS_STAMP)
	$(SAM) validate --lint --template template.yaml
	$(CFN_LINT) template.yaml

# No container: sam looks for python3.11 on the PATH, and finds the venv's first. The Lambda file system is read-only, so a module
# without bytecode would be compiled again on every cold start. The pycs must be unchecked-hash ones:
# sam's deployment zip dates every file 1980-01-01, so a timestamp pyc never matches its source there.
# The deployed architecture (template default, arm64) builds into .aws-sam/build, where sam deploy looks; another
# one (ARCHITECTURE=x86_64, to measure cold starts on this machine) into .aws-sam/build-<architecture>.
ARCHITECTURE ?= arm64
BUILD_DIR := .aws-sam/build$(if $(filter arm64,$(ARCHITECTURE)),,-$(ARCHITECTURE))
build: $(TOOLS_STAMP) $(VENV_STAMP)
	PATH="$(CURDIR)/$(VENV)/bin:$$PATH" $(SAM) build --cached --parallel \
		--parameter-overrides Architecture=$(ARCHITECTURE) --build-dir $(BUILD_DIR)
	$(VENV)/bin/python -m compileall -q -f -j 0 --invalidation-mode unchecked-hash $(BUILD_DIR)

# pytest's exit code 5 means it collected no test: that fails too, and says so.
define pytest_run
	$(VENV)/bin/pytest $(1) || { status=$$?; \
		if [ $$status -eq 5 ]; then echo "make test: pytest collected no tests" >&2; fi; exit $$status; }
endef

# Then the integration and e2e suites again, with the functions behind a transaction-mode PgBouncer that the tests
# start themselves, as production runs behind Supabase's pooler or RDS Proxy (needs the pgbouncer package).
test: $(VENV_STAMP) $(TOOLS_STAMP) lint template-check build
	$(call pytest_run,)
	$(call pytest_run,--pooler=pgbouncer tests/integration tests/e2e)

# The cold-start benchmark imports a build made for this machine's CPU.
bench: $(VENV_STAMP)
	$(MAKE) --no-print-directory build ARCHITECTURE=$(if $(filter aarch64 arm64,$(shell uname -m)),arm64,x86_64)
	$(VENV)/bin/python -m bench

openapi: $(VENV_STAMP)
	$(VENV)/bin/python -m local.openapi

clean:
	rm -rf .aws-sam .pytest_cache .ruff_cache
	find . -path ./$(VENV) -prune -o -path ./$(TOOLS) -prune -o -name __pycache__ -type d -prune \
		-exec rm -rf {} +

# Also the virtual environments; the next make target builds them again.
distclean: clean
	rm -rf $(VENV) $(TOOLS)
