# The two commands of the README: `make run` and `make test`. Each sets up what is missing and
# skips what is already there, so a second call starts at once: `make run` the virtualenv, and
# Kafka's jars from Maven Central only when it starts a broker (no KAFKA_BOOTSTRAP_SERVERS);
# `make test` all of it and the Debian tools its benchmarks and browser test use (wrk, chromium).

PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMPS := .harness/stamps
OUT    ?= results/latest

.PHONY: run test bench setup venv kafka-jars system-deps lint clean

# The embedded broker's jars (Java and Maven) only when the run starts a broker.
RUN_NEEDS := venv $(if $(strip $(KAFKA_BOOTSTRAP_SERVERS)),,kafka-jars)

# The default sweep (grids/default.yaml, seed-style baseline included) and its report.
run: $(RUN_NEEDS)
	$(BIN)/python -m harness sweep --out $(OUT)

test: setup
	$(BIN)/python -m pytest

# Every benchmark (docs/BENCHMARKS.md); wrk is one of them.
bench: setup
	$(BIN)/python -m harness bench

setup: venv kafka-jars system-deps

venv: $(STAMPS)/venv
kafka-jars: $(STAMPS)/kafka-jars
system-deps: $(STAMPS)/system-deps

$(STAMPS)/venv: pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(0 if sys.version_info >= (3, 11) else "Python 3.11+ is required (found %s); set PYTHON=python3.11" % sys.version.split()[0])'
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@mkdir -p $(STAMPS) && touch $@

# Resolves the broker's jars into Maven's local repository (~/.m2), caches the classpath, and
# builds the brokers' class archive (harness/cds.py: a broker start takes ~40% less CPU).
$(STAMPS)/kafka-jars: harness/jvm/pom.xml harness/cds.py $(STAMPS)/venv
	$(BIN)/python -c 'from harness.java import check_java, broker_classpath; check_java(); broker_classpath()'
	$(BIN)/python -m harness.cds
	@mkdir -p $(STAMPS) && touch $@

# Debian packages the benchmarks and browser tests use (wrk, chromium).
$(STAMPS)/system-deps: scripts/install-system-deps.sh
	bash scripts/install-system-deps.sh
	@mkdir -p $(STAMPS) && touch $@

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

clean:
	rm -rf .harness results/latest
