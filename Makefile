# Coral — two commands: `make run` and `make test`.
# Both create .venv when it is missing and install what they need into it.

PYTHON ?= python3
VENV ?= .venv
BIN := $(VENV)/bin
RUN_STAMP := $(VENV)/.coral-run
DEV_STAMP := $(VENV)/.coral-dev
PIP := $(BIN)/python -m pip install --quiet --disable-pip-version-check
# The MCP Inspector CLI (npm, pinned): an independent MCP client the tests drive.
INSPECTOR := .tools/inspector/node_modules/.bin/mcp-inspector
INSPECTOR_VERSION := 2.12.0

.PHONY: run test lint typecheck unit proto mesh-tools demo-stores deploy-tools browser bench-agent bench-agent-compare clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

$(RUN_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e .
	touch $@

$(DEV_STAMP): pyproject.toml | $(BIN)/python
	$(PIP) -e '.[dev]'
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

unit: $(DEV_STAMP) $(INSPECTOR) mesh-tools demo-stores deploy-tools browser
	$(BIN)/pytest

## mesh-tools: the userspace WireGuard and netns tools the mesh tests use (Debian; root only)
mesh-tools:
	@if command -v wireguard-go >/dev/null && command -v wg >/dev/null \
		&& command -v ip >/dev/null && command -v iptables >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get update -qq && apt-get install -y -qq --no-install-recommends \
			wireguard-go wireguard-tools iproute2 iptables >/dev/null; \
	else echo "mesh-tools: not root or no apt-get: the namespace tests will skip"; fi

## deploy-tools: systemd-analyze for the unit-file tests (Debian; root only; when missing)
deploy-tools:
	@if command -v systemd-analyze >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		apt-get -o DPkg::Lock::Timeout=600 update -qq && \
		apt-get -o DPkg::Lock::Timeout=600 install -y -qq --no-install-recommends \
			systemd >/dev/null; \
	else echo "deploy-tools: not root or no apt-get: the systemd unit tests will skip"; fi

## demo-stores: PostgreSQL and Redis from Debian, for `coral demo` and the live fault suite
demo-stores:
	@if ls /usr/lib/postgresql/*/bin/postgres >/dev/null 2>&1 && command -v redis-server >/dev/null; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		{ find /var/lib/apt/lists -maxdepth 1 -name '*_Packages*' -mmin -60 | grep -q . \
			|| apt-get update -qq -o DPkg::Lock::Timeout=300; } && \
		apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
			postgresql redis-server >/dev/null; \
	else echo "demo-stores: not root or no apt-get: the live fault suite will skip"; fi

## browser: Debian's chromium for the dashboard's browser tests (root only)
browser:
	@command -v chromium >/dev/null || { [ "$$(id -u)" = 0 ] && apt-get update -qq && \
		apt-get install -y -qq --no-install-recommends -o DPkg::Lock::Timeout=300 \
		chromium >/dev/null; } || echo "browser: no chromium: the browser tests will skip"

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
	command -v prometheus-node-exporter >/dev/null || { apt-get update && \
		apt-get install -y --no-install-recommends prometheus-node-exporter; }
	if [ "$$(id -u)" = 0 ] && command -v unshare >/dev/null && command -v ip >/dev/null; then \
		unshare -n sh -c 'ip link set lo up && exec $(BIN)/python benchmarks/agent_vs_node_exporter.py'; \
	else $(BIN)/python benchmarks/agent_vs_node_exporter.py; fi

clean:
	rm -rf $(VENV) .tools .pytest_cache .mypy_cache .ruff_cache
