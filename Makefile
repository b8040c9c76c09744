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

.PHONY: install lab test test-fast lint format browser-deps prometheus-deps container-deps sandbox-deps hub-deps image image-gpu site gpu-validate lock release clean

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

# Prometheus for the monitoring tests, from Debian. The tests start their own server on a free
# port; the package's system service must not start (it would hold :9090 for good), so a
# policy-rc.d that denies service starts is in place during the install (ours only if there was none).
prometheus-deps:
	@if ! command -v prometheus >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			ours=; if [ ! -e /usr/sbin/policy-rc.d ]; then printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d; \
				chmod 755 /usr/sbin/policy-rc.d; ours=1; fi; \
			if apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
				prometheus >/dev/null; then rc=0; else rc=$$?; fi; \
			if [ -n "$$ours" ]; then rm -f /usr/sbin/policy-rc.d; fi; exit $$rc; \
		else echo "prometheus not found and cannot install it (not root): the Prometheus tests will be skipped"; fi; \
	fi

# podman (with runc) and debootstrap build and run the images without a Docker engine
# (docs/docker.md); installed when missing and we may.
container-deps:
	@if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null; \
		else echo "podman/runc/debootstrap not found and cannot install them (not root): container tests will be skipped"; fi; \
	fi

# The workshop and grading images, CPU variant (what the container tests run); GPU variant by hand.
image: install container-deps
	@if command -v podman >/dev/null && [ "$$(id -u)" = 0 ]; then docker/build.sh cpu; \
	else echo "no podman as root here: images not built, container tests will be skipped"; fi

image-gpu: install container-deps
	docker/build.sh gpu

# bubblewrap sandboxes each graded submission (docs/grading-security.md); the grading tests need it.
sandbox-deps:
	@if ! command -v bwrap >/dev/null; then \
		if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
			apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap >/dev/null; \
		else echo "bwrap not found and cannot install it (not root): grading tests will fail"; fi; \
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

# One pytest run for every tier; conftest.py prints each tier's time at the end.
test: install lint browser-deps prometheus-deps container-deps sandbox-deps hub-deps image
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest $(PYTEST_ARGS)

# The rendered course: every notebook executed on this machine (CPU path here), the syllabus and the
# docs, as static HTML in _build/site (open _build/site/index.html). Executions are cached in
# _build/site-executed and reused while nothing they depend on changes; FRESH=1 runs them all again.
site: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python scripts/site/build.py --out _build/site $(if $(FRESH),--fresh)

# The unit tier without slow tests (no notebooks, grading, browser, gpu...): under a minute.
test-fast: install
	PATH="$(CURDIR)/$(BIN):$$PATH" $(BIN)/python -m pytest tests -q --tiers unit -m "not slow" $(PYTEST_ARGS)

# Every static check, in checking mode (CI runs them through `make test`); .pre-commit-config.yaml
# runs the same tools before each commit, fixing what they can. `make format` fixes instead.
NOTEBOOKS = $$(find notebooks solutions exercises -name '*.ipynb' -not -path '*/.ipynb_checkpoints/*')

lint: install
	$(BIN)/python -m ruff check .
	$(BIN)/python -m ruff format --check .
	$(BIN)/python -m mypy
	$(BIN)/python scripts/strip_notebook_outputs.py --check $(NOTEBOOKS)
	$(BIN)/hadolint --failure-threshold info docker/Dockerfile docker/grading.Dockerfile
	$(BIN)/shellcheck scripts/*.sh docker/*.sh .ci/run

format: install
	$(BIN)/python -m ruff format .
	$(BIN)/python -m ruff check --fix .
	$(BIN)/python scripts/strip_notebook_outputs.py $(NOTEBOOKS)

lock: install
	$(BIN)/python -m pip freeze --exclude-editable | sed '1i # Exact versions of every package, verified together on Python 3.11.\n# Used as pip constraints by `make install`; regenerate with `make lock`.' > requirements.lock

clean:
	rm -rf $(VENV) .pytest_cache _build
