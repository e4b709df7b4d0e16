# Everything runs from a venv in .venv holding exactly the versions in uv.lock; `make test`
# and `make demo` install what a fresh Debian machine lacks (ZooKeeper, Redis, HAProxy; needs
# root for apt-get). uv itself is bootstrapped at a pinned version into .tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.10
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# uv uses this machine's python3 and never downloads an interpreter of its own.
UV_ENV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never
DEBIAN_PACKAGES := zookeeper redis-server redis-sentinel haproxy iproute2

.PHONY: test unit lint layers typecheck lockcheck lock test-newest cover demo bench soak \
        mutate system-deps clean

$(UV):
	$(PYTHON) -m venv $(TOOLS)
	$(TOOLS)/bin/pip install --quiet "uv==$(UV_VERSION)"

# --locked: install exactly uv.lock, and fail if pyproject.toml has moved away from it.
$(BIN)/failoverctl: pyproject.toml uv.lock $(UV)
	$(UV_ENV) $(UV) sync --locked --extra test --python $(PYTHON) --quiet
	touch $@

# Update the lock on purpose (then run `make test` and commit uv.lock).
lock: $(UV)
	$(UV_ENV) $(UV) lock --python $(PYTHON)

lockcheck: $(UV)
	$(UV_ENV) $(UV) lock --check --python $(PYTHON)

# The newest releases that pyproject.toml allows, in a venv of their own: lint, type checks
# and the unit tests. Moving the lock forward is then a decision (`make lock`), not a surprise.
NEWEST := .venv-newest
test-newest: $(UV)
	$(UV) venv --quiet --allow-existing --python $(PYTHON) $(NEWEST)
	VIRTUAL_ENV=$(NEWEST) UV_PYTHON_DOWNLOADS=never $(UV) pip install --quiet --upgrade \
	  --resolution highest -e '.[test]'
	$(NEWEST)/bin/ruff check controller probes config tests bench
	$(NEWEST)/bin/mypy
	$(NEWEST)/bin/lint-imports
	$(NEWEST)/bin/pytest -q -p no:cacheprovider tests/unit

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
	$(BIN)/ruff check controller probes config tests bench tools

typecheck: $(BIN)/failoverctl
	$(BIN)/mypy

# The layers in pyproject.toml ([tool.importlinter]).
layers: $(BIN)/failoverctl
	$(BIN)/lint-imports

unit: $(BIN)/failoverctl
	$(BIN)/pytest -q tests/unit

test: system-deps lockcheck $(BIN)/failoverctl lint layers typecheck
	$(BIN)/pytest -q -p no:cacheprovider

# Branch coverage of the whole suite, controller processes included (processes killed
# with -9 in fault tests write nothing, so their last lines count as unrun).
cover: system-deps $(BIN)/failoverctl
	rm -f .coverage .coverage.*
	$(BIN)/coverage run -m pytest -q -p no:cacheprovider
	$(BIN)/coverage combine -q
	$(BIN)/coverage report

# Mutation testing of controller/core/ against the fast tests (docs/mutation.md): each mutant
# runs only the tests that call the function it changed. Results stay in mutants/, so a
# second run redoes only what changed; `$(BIN)/mutmut results` lists the survivors and
# `$(BIN)/mutmut show NAME` shows one. Hypothesis does not shrink there (a failure is a kill),
# and the simulation runs 60 random examples, not its 400 fixed ones: a mutant that no unit
# test kills runs it, and at 400 each such mutant took 20 to 60 s on 2 loaded cores.
mutate: $(BIN)/failoverctl
	FAILOVER_HYPOTHESIS_PROFILE=mutation SIM_EXAMPLES=$${SIM_EXAMPLES:-60} \
	  $(BIN)/mutmut run --max-children 2
	$(BIN)/python tools/mutation_score.py

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
	rm -rf $(VENV) $(NEWEST) $(TOOLS) mutants .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
