# Everything runs from a venv in .venv holding exactly the versions in uv.lock; `make test`
# and `make demo` install what a fresh Debian machine lacks (ZooKeeper, Redis, HAProxy, and
# Prometheus for promtool; needs root for apt-get). uv itself is bootstrapped at a pinned
# version into .tools.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
UV_VERSION := 0.13.10
TOOLS := .tools
UV := $(TOOLS)/bin/uv
# The one version: the package's, the image's tag and (a test checks) the chart's appVersion.
VERSION := $(shell sed -n 's/^__version__ = "\(.*\)"$$/\1/p' controller/__init__.py)
IMAGE ?= failover-controller
# uv uses this machine's python3 and never downloads an interpreter of its own.
UV_ENV := UV_PROJECT_ENVIRONMENT=$(VENV) UV_PYTHON_DOWNLOADS=never
DEBIAN_PACKAGES := zookeeper redis-server redis-sentinel haproxy iproute2 prometheus

.PHONY: test unit lint layers typecheck lockcheck lock test-newest test-lowest docs cover demo bench \
        soak mutate system-deps dist image clean

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

# The lowest releases pyproject.toml allows for what it names (their own dependencies as new
# as they come), in a fresh venv, with the same checks: the lower bounds are what was tested.
# The committed config reference and schema are the locked pydantic's output, not an older one's.
LOWEST := .venv-lowest
test-lowest: $(UV)
	rm -rf $(LOWEST)
	$(UV) venv --quiet --python $(PYTHON) $(LOWEST)
	VIRTUAL_ENV=$(LOWEST) UV_PYTHON_DOWNLOADS=never $(UV) pip install --quiet \
	  --resolution lowest-direct -e '.[test]'
	$(LOWEST)/bin/ruff check controller probes config tests bench
	$(LOWEST)/bin/mypy --cache-dir $(LOWEST)/mypy-cache
	$(LOWEST)/bin/lint-imports
	$(LOWEST)/bin/pytest -q -p no:cacheprovider tests/unit \
	  --deselect tests/unit/test_config_reference.py::test_the_committed_reference_and_schema_are_up_to_date

system-deps:
	@missing=""; \
	command -v java >/dev/null && [ -f /usr/share/java/zookeeper.jar ] || missing="$$missing zookeeper"; \
	command -v redis-server >/dev/null || missing="$$missing redis-server"; \
	command -v redis-sentinel >/dev/null || missing="$$missing redis-sentinel"; \
	command -v haproxy >/dev/null || missing="$$missing haproxy"; \
	command -v ip >/dev/null || missing="$$missing iproute2"; \
	command -v promtool >/dev/null || missing="$$missing prometheus"; \
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

# The documentation site from docs/ (mkdocs.yml): --strict fails on a broken link or page.
docs: $(BIN)/failoverctl
	NO_MKDOCS_2_WARNING=1 $(BIN)/mkdocs build --strict

test: system-deps lockcheck $(BIN)/failoverctl lint layers typecheck docs
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

# What a server without the repository installs (README, "A real deployment"): the wheel,
# and uv.lock's runtime versions with their hashes, exactly as the image does.
DIST ?= dist
dist: $(UV)
	mkdir -p $(DIST)
	$(UV) export --quiet --frozen --no-dev --no-emit-project --output-file $(DIST)/requirements.txt
	$(UV) build --quiet --wheel --out-dir $(DIST)

# The image installs uv.lock's runtime versions with their hashes (see the Dockerfile).
image:
	docker build --build-arg UV_VERSION=$(UV_VERSION) -t $(IMAGE):$(VERSION) .

clean:
	rm -rf $(VENV) $(NEWEST) $(LOWEST) $(TOOLS) mutants site .pytest_cache .mypy_cache .ruff_cache .coverage .coverage.*
