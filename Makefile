# Everything runs from a venv in .venv; `make test` and `make demo` install what a fresh
# Debian machine lacks (ZooKeeper, Redis, HAProxy; needs root for apt-get).
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
DEBIAN_PACKAGES := zookeeper redis-server redis-sentinel haproxy iproute2

.PHONY: test unit lint layers typecheck cover demo bench soak system-deps clean

$(BIN)/failoverctl: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install --quiet --upgrade pip
	$(BIN)/pip install --quiet -e '.[test]'
	touch $@

system-deps:
	@missing=""; \
	command -v java >/dev/null && [ -f /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-sentinel >/dev/null || missing="$$missing redis-sentinel"; \
	command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	if [ -n "$$missing" ]; then \
	  if [ "$$(id -u)" = 0 ]; then \
	    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $(DEBIAN_PACKAGES); \
	  else \
	    echo "missing Debian packages:$$missing -- run: sudo apt-get install$$missing"; exit 1; \
	  fi; \
	fi

lint: $(BIN)/failoverctl
	$(BIN)/ruff check controller probes config tests bench

typecheck: $(BIN)/failoverctl
	$(BIN)/mypy

# The layers in pyproject.toml ([tool.importlinter]).
layers: $(BIN)/failoverctl
	$(BIN)/lint-imports

unit: $(BIN)/failoverctl
	$(BIN)/pytest -q tests/unit

test: system-deps $(BIN)/failoverctl lint layers typecheck
	$(BIN)/pytest -q -p no:cacheprovider

# Branch coverage of the whole suite, controller processes included (processes killed
# with -9 in fault tests write nothing, so their last lines count as unrun).
cover: system-deps $(BIN)/failoverctl
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -q -p no:cacheprovider
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# The randomized fault soak (tests/soak): 30 minutes unless SOAK_SECONDS says otherwise;
# SOAK_SEED replays a schedule. `make test` runs a one-minute version.
soak: system-deps $(BIN)/failoverctl
	$(BIN)/python -m tests.soak.soak --seconds $${SOAK_SECONDS:-1800} \
	  $${SOAK_SEED:+--seed $$SOAK_SEED} --json soak-summary.json

demo: system-deps $(BIN)/failoverctl
	$(BIN)/failoverctl demo

bench: system-deps $(BIN)/failoverctl
	$(BIN)/python bench/failover.py
	$(BIN)/python bench/probes.py
	$(BIN)/python bench/switchover.py

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
