# Two entry points: `make demo` and `make test`. Both create .venv and install on first use.
# While developing, `make check` is the fast lane: lint, types and the in-process tests.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
# mypy finds vats_etl.flows (flows/ in the checkout, mapped by the build) through this link
MYPY_LAYOUT := $(VENV)/mypy-layout/vats_etl

export PREFECT_SERVER_ANALYTICS_ENABLED := false
export DO_NOT_TRACK := 1

.PHONY: demo test check lint typecheck unit bench chromium clean

$(STAMP): pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	mkdir -p $(MYPY_LAYOUT) && ln -sfn ../../../flows $(MYPY_LAYOUT)/flows
	touch $(STAMP)

demo: $(STAMP)
	$(BIN)/vats-etl demo

# Browser tests need Debian's chromium; install it when we can (root on a fresh machine).
chromium:
	@command -v chromium >/dev/null 2>&1 || { \
	  if [ "$$(id -u)" = 0 ]; then apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  elif command -v sudo >/dev/null 2>&1; then sudo apt-get update -qq && sudo DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	  else echo "chromium missing and cannot be installed: browser tests will fail"; fi; }

lint: $(STAMP)
	$(BIN)/ruff check vats_etl flows tests bench
	$(BIN)/ruff format --check vats_etl flows tests bench

typecheck: $(STAMP)
	@mkdir -p $(MYPY_LAYOUT) && ln -sfn ../../../flows $(MYPY_LAYOUT)/flows
	$(BIN)/mypy

unit: $(STAMP)
	$(BIN)/pytest

test: $(STAMP) chromium lint typecheck unit

# The fast lane: lint, types and the tests marked neither slow (a process, Prefect, more than
# a couple of seconds) nor browser, on two workers (pytest-xdist): about 2 minutes on two
# cores. `make test` (CI) still runs every test, in one process: the slow tests share one
# Prefect server and some measure time.
check: $(STAMP) lint typecheck
	$(BIN)/pytest -q -n 2 -m "not slow and not browser"

# Benchmarks print figures (they assert nothing): see docs/performance.md.
BENCHES := emulator_bench parse_bench pipeline_bench cli_bench views_bench report_bench webhook_bench accounts_bench accounts_failures_bench recordings_bench
bench: $(STAMP)
	@for b in $(BENCHES); do echo "== $$b"; $(BIN)/python -m bench.$$b || exit 1; done

clean:
	rm -rf $(VENV) .pytest_cache .mypy_cache .ruff_cache
