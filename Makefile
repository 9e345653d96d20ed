# Crowdify: local development, checks and build. Needs only python3 (3.11) and pip.
#   make test            lint + template checks + sam build + every test, then integration and e2e through PgBouncer
#   make run             the local stack (see docs/architecture.md, "The local stack")
#   make token ROLE=admin [EMAIL=...]   prints a JWT for a running local stack as its last line
#   make device EVENT=<id> [NAME=...]   prints a door-app pairing link for a running local stack as its last line
#   make build           the door app (web/scanner/dist), the waiting-room page (web/queue/dist) + sam build
#                        + precompiled bytecode in .aws-sam/build
#   make queue-page      the waiting-room page alone (web/queue/dist), served by make run at /queue/
#   make deploy-scanner STACK=<name>    uploads the door app to the stack's bucket with the stack's API URL
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
.PHONY: help venv run token device scanner queue-page deploy-scanner lint template-check build test bench openapi clean distclean

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

# The door app (web/scanner): npm ci only when the lock file changed, then type check and build into dist/.
SCANNER := web/scanner
SCANNER_MODULES_STAMP := $(SCANNER)/node_modules/.installed
$(SCANNER_MODULES_STAMP): $(SCANNER)/package.json $(SCANNER)/package-lock.json
	cd $(SCANNER) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

scanner: $(SCANNER_MODULES_STAMP)
	cd $(SCANNER) && npm run -s typecheck && npm run -s build

# The waiting-room page (web/queue), built the same way.
QUEUE_PAGE := web/queue
QUEUE_PAGE_MODULES_STAMP := $(QUEUE_PAGE)/node_modules/.installed
$(QUEUE_PAGE_MODULES_STAMP): $(QUEUE_PAGE)/package.json $(QUEUE_PAGE)/package-lock.json
	cd $(QUEUE_PAGE) && npm ci --no-audit --no-fund --loglevel=error
	@touch $@

queue-page: $(QUEUE_PAGE_MODULES_STAMP)
	cd $(QUEUE_PAGE) && npm run -s typecheck && npm run -s build

run: $(VENV_STAMP) scanner queue-page
	$(VENV)/bin/python -m local.stack

# Silent recipe: the JWT must stay the last line of the output. (make -C DIR adds a "Leaving directory"
# line after it: from another folder use make --no-print-directory -C DIR token.)
token: $(VENV_STAMP)
	$(if $(ROLE),,$(error make token needs ROLE=admin|coordinator|scanner|user))
	@$(VENV)/bin/python -m local.token --role $(ROLE) $(if $(EMAIL),--email $(EMAIL))

# Silent recipe, as for token: the pairing link must stay the last line of the output.
device: $(VENV_STAMP)
	$(if $(EVENT),,$(error make device needs EVENT=<event id>))
	@$(VENV)/bin/python -m local.device --event $(EVENT) $(if $(NAME),--name "$(NAME)")

# After sam deploy: the app goes to the stack's private bucket (served by its CloudFront distribution) with a
# config.json naming the stack's API. index.html, config.json and the service worker are revalidated on every load.
STACK ?=
deploy-scanner: $(VENV_STAMP) $(SCANNER_MODULES_STAMP)
	$(if $(STACK),,$(error make deploy-scanner needs STACK=<stack name>))
	$(VENV)/bin/python -m local.deploy_scanner --stack $(STACK)

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
build: $(TOOLS_STAMP) $(VENV_STAMP) scanner queue-page
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
	cd $(SCANNER) && npm test --silent
	cd $(QUEUE_PAGE) && npm test --silent
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
