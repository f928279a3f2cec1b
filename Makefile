# circlebuy — one command each: `make demo`, `make test`. Both build the venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
DEMO_HOME ?= demo-home
DEMO_RAW  ?= demo-raw
PORT ?= 8000

.PHONY: install test demo bench lint browser clean

$(STAMP): pyproject.toml
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $(STAMP)

install: $(STAMP)

# Headless Chromium for the page and report tests (Debian package; no browser download).
browser:
	@if [ ! -x $(CHROMIUM) ]; then \
	  echo "installing chromium (apt)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null) \
	    || { echo "could not install chromium: browser tests need $(CHROMIUM)"; exit 1; }; \
	fi

test: $(STAMP) browser
	CIRCLEBUY_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check recsys aggregation api pipelines tests bench

demo: $(STAMP)
	$(BIN)/circlebuy demo --home $(DEMO_HOME) --raw $(DEMO_RAW) --port $(PORT)

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(DEMO_RAW) bench/out .pytest_cache
