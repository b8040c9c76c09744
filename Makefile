# Two commands for a fresh machine (see README): `make lab` and `make test`.
# Both create .venv on first use and reuse it afterwards (the stamp file
# records that pyproject.toml and requirements.lock were installed).

SHELL := /bin/bash
.SHELLFLAGS := -eo pipefail -c
PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.course-installed
# pip prints one harmless warning per package for this machine's local mirrors
QUIET_PIP := { grep -v "is ignored: it is neither a file nor a directory" || true; }
LAB_PORT ?= 8888
PYTEST_ARGS ?=

.PHONY: install lab test test-fast lint browser-deps hub-deps gpu-validate lock release clean

install: $(STAMP)

$(STAMP): pyproject.toml requirements.lock
	@$(PYTHON) -c 'import sys; assert sys.version_info[:2] in ((3, 11), (3, 12)), "Python 3.11 or 3.12 is needed, found " + sys.version.split()[0]'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --constraint requirements.lock --editable ".[dev,tf-cpu]" 2>&1 | $(QUIET_PIP)
	$(BIN)/python -m pip check
	touch $(STAMP)

# Jupyter refuses to run as root unless told; containers and CI machines often are root.
ALLOW_ROOT := $(if $(filter 0,$(shell id -u)),--ServerApp.allow_root=True)

lab: install
	@echo "Opening the course: http://127.0.0.1:$(LAB_PORT)/lab/tree/notebooks/00_welcome.ipynb (add ?token=... from the lines below)"
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/jupyter lab --ServerApp.root_dir="$(CURDIR)" \
		--ServerApp.ip=127.0.0.1 --ServerApp.port=$(LAB_PORT) $(ALLOW_ROOT) notebooks/00_welcome.ipynb

# Chromium for the browser tests comes from Debian; installed when missing and we may.
browser-deps:
	@if ! command -v chromium >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
		else echo "chromium not found and cannot install it (not root): browser tests will be skipped"; fi; \
	fi

# JupyterHub's proxy for the workshop hub and its test: configurable-http-proxy from npm, the
# versions in hub/package-lock.json, into .hub-deps/ (ignored), never globally. Node from Debian
# when missing and we may.
HUB_DEPS := .hub-deps
CHP := $(HUB_DEPS)/node_modules/.bin/configurable-http-proxy

hub-deps: $(CHP)

$(CHP): hub/package.json hub/package-lock.json
	@if ! command -v npm >/dev/null && [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nodejs npm >/dev/null; fi
	@if command -v npm >/dev/null; then \
		mkdir -p $(HUB_DEPS) && cp hub/package.json hub/package-lock.json $(HUB_DEPS)/ && \
		(cd $(HUB_DEPS) && npm ci --no-audit --no-fund --loglevel=error) && touch $(CHP); \
	else echo "npm not found and cannot install it (not root): the hub test will be skipped"; fi

test: install browser-deps hub-deps
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m ruff check .
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# Unit tests only: seconds, for the edit-test loop.
test-fast: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests/unit -q $(PYTEST_ARGS)

lint: install
	$(BIN)/python -m ruff check .

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sed '1i # Exact versions of every package, verified together on Python 3.11.\n# Used as pip constraints by `make install`; regenerate with `make lock`.' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache
