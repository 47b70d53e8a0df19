# Coral — two commands: `make run` and `make test`.
# Both create .venv when it is missing and install into it the exact versions pinned in
# requirements.lock / requirements-dev.lock (pyproject.toml declares compatible ranges).

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.coral-run
DEV_STAMP := $(VENV)/.coral-dev
# uv (from PyPI, pinned) installs from the lock files and re-resolves them (`make lock`).
UV_VERSION := 0.13.9
UV := $(BIN)/uv
# Bytecode compiled at install (as pip does): otherwise, where PYTHONDONTWRITEBYTECODE is
# set, every process compiles its imports at start (the agent: +0.45 s CPU, +4 MiB at start).
INSTALL := $(UV) pip install --quiet --compile-bytecode --python $(BIN)/python
LOCK := $(UV) pip compile pyproject.toml --quiet --python-version 3.11 \
	--annotation-style line --custom-compile-command "make lock" $(if $(UPGRADE),--upgrade)
# The MCP Inspector CLI (npm, pinned): an independent MCP client the tests drive.
INSPECTOR := .tools/inspector/node_modules/.bin/mcp-inspector
INSPECTOR_VERSION := 2.12.0
# pytest-xdist workers. Tests that share a module fixture (a running application) carry
# an xdist_group mark: one worker runs them all. The longest groups start first
# (tests/conftest.py, START_FIRST): the live fault suite on a worker of its own (it mostly
# waits for faults to show), four for the rest, which also wait on real processes.
TEST_WORKERS ?= 5

# System packages (Debian) as COMMAND:PACKAGE pairs (`-:PACKAGE` asks dpkg instead of a
# command). scripts/apt-need installs only what is missing, waits for apt's locks and
# updates the package lists at most once. The tests' packages are installed in one call:
# a test that needs another package adds it with `TEST_PACKAGES += command:package`;
# a target of its own uses `scripts/apt-need its:packages` (see bench-agent-compare).
TEST_PACKAGES := wireguard-go:wireguard-go wg:wireguard-tools ip:iproute2 iptables:iptables
# PostgreSQL and Redis, for `coral demo` and the live fault suite (tests/demo).
TEST_PACKAGES += -:postgresql redis-server:redis-server
# systemd-analyze, for the unit-file tests (deploy/systemd).
TEST_PACKAGES += systemd-analyze:systemd
# Chromium, for the dashboard's browser tests (tests/dashboard).
TEST_PACKAGES += chromium:chromium

.PHONY: run test lint typecheck unit lock proto system-packages bench-agent \
	bench-agent-compare clean

$(UV):
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --disable-pip-version-check uv==$(UV_VERSION)

$(RUN_STAMP): pyproject.toml requirements.lock | $(UV)
	$(INSTALL) -r requirements.lock -e .
	touch $@

$(DEV_STAMP): pyproject.toml requirements-dev.lock | $(UV)
	$(INSTALL) -r requirements-dev.lock -e '.[dev]'
	touch $@ $(RUN_STAMP)

## run: install into .venv and start Coral (colony + an agent for this host)
run: $(RUN_STAMP)
	$(BIN)/coral up

## test: install with the dev extra, then lint, type-check and run every test
test: $(DEV_STAMP) lint typecheck unit

lint: $(DEV_STAMP)
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/lint-imports

typecheck: $(DEV_STAMP)
	$(BIN)/mypy

# With bytecode caches even where PYTHONDONTWRITEBYTECODE is set (as __pycache__, ignored by
# git): otherwise each colony, agent and CLI process the tests start compiles coral_mcp
# again (~0.2 s of CPU a colony) and each worker rewrites and compiles every test module.
unit: $(DEV_STAMP) $(INSPECTOR) system-packages
	PYTHONDONTWRITEBYTECODE= $(BIN)/pytest -n $(TEST_WORKERS) --dist loadgroup --no-loadscope-reorder

## lock: re-resolve the lock files after a dependency change in pyproject.toml (existing pins
## stay where they still fit; `make lock UPGRADE=1` moves everything to the newest allowed)
lock: | $(UV)
	$(LOCK) -o requirements.lock
	$(LOCK) --extra dev -o requirements-dev.lock

## system-packages: the Debian packages the tests use (wireguard-go etc. for tests/mesh/;
## without root they are not installed and those tests skip with the reason)
system-packages:
	@scripts/apt-need --optional $(TEST_PACKAGES)

$(INSPECTOR):
	mkdir -p .tools/inspector
	cd .tools/inspector && npm install --no-audit --no-fund --loglevel=error \
		@modelcontextprotocol/inspector@$(INSPECTOR_VERSION)

## proto: regenerate coral_mcp/proto from coral.proto
proto: $(DEV_STAMP)
	$(BIN)/python scripts/gen_proto.py

## bench-agent: measure the agent's idle RSS and CPU while it watches 10 processes
bench-agent: $(DEV_STAMP)
	$(BIN)/python benchmarks/agent_idle.py

## bench-agent-compare: the agent beside prometheus-node-exporter, 50 processes, ~200 connections
bench-agent-compare: $(DEV_STAMP)
	scripts/apt-need prometheus-node-exporter:prometheus-node-exporter
	if [ "$$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then \
		unshare -n sh -c 'ip link set lo up && exec $(BIN)/python benchmarks/agent_vs_node_exporter.py'; \
	else $(BIN)/python benchmarks/agent_vs_node_exporter.py; fi

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
