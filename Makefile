# circlebuy — one command each: `make demo`, `make test`. Both build the venv when it is missing.
PYTHON ?= python3
VENV   := .venv
BIN    := $(VENV)/bin
STAMP  := $(VENV)/.installed
CHROMIUM ?= /usr/bin/chromium
FONTS_CJK ?= fonts-noto-cjk
DEMO_HOME ?= demo-home
DEMO_RAW  ?= demo-raw
PORT ?= 8000

.PHONY: help install test demo bench lint browser fonts java clean

help:
	@echo "make demo     install, generate a small world, run its nightly, serve it (PORT=8000)"
	@echo "make test     install (venv, chromium, CJK fonts, Java) and run every test"
	@echo "make install  the venv only (.venv, the package with its dev extras)"
	@echo "make bench    every bench/bench_*.py (figures go in BENCHMARKS.md)"
	@echo "make lint     ruff over the code and tests"
	@echo "make browser | fonts | java   one system package each (apt), as make test installs them"
	@echo "make clean    remove the venv and the demo's folders"

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

# CJK fonts (Debian fonts-noto-cjk) so that Chinese renders in the browser tests instead of tofu boxes.
# Installed when no font covers Chinese; where apt is missing or we are not root it says so and goes on:
# the glyph test (tests/api/test_api_pages.py) then skips, naming the missing font.
fonts:
	@if fc-list :lang=zh family 2>/dev/null | grep -q .; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "fonts: no apt-get here; install $(FONTS_CJK) (Noto Sans CJK) yourself, or the CJK glyph test skips"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "fonts: not root; run 'sudo apt-get install $(FONTS_CJK)', or the CJK glyph test skips"; \
	else \
	  echo "installing $(FONTS_CJK) (apt)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    $(FONTS_CJK) >/dev/null) || echo "fonts: could not install $(FONTS_CJK); the CJK glyph test skips"; \
	fi

# A Java runtime for the Spark engine (pyspark 4 needs Java 17+; Debian default-jre-headless).
# Installed when `java` is missing; where apt is missing or we are not root it says so and goes on:
# the engine parity test (tests/pipelines/test_engine_parity.py) then skips, naming what is missing.
java:
	@if command -v java >/dev/null 2>&1; then :; \
	elif ! command -v apt-get >/dev/null 2>&1; then \
	  echo "java: no apt-get here; install a Java 17+ runtime yourself, or the Spark parity test skips"; \
	elif [ "$$(id -u)" != 0 ]; then \
	  echo "java: not root; run 'sudo apt-get install default-jre-headless', or the Spark parity test skips"; \
	else \
	  echo "installing default-jre-headless (apt)"; \
	  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
	    default-jre-headless >/dev/null) || echo "java: could not install default-jre-headless; the Spark parity test skips"; \
	fi

test: $(STAMP) browser fonts java
	CIRCLEBUY_CHROMIUM=$(CHROMIUM) $(BIN)/python -m pytest

lint: $(STAMP)
	$(BIN)/ruff check common recsys aggregation api pipelines tests bench

demo: $(STAMP)
	$(BIN)/circlebuy demo --home $(DEMO_HOME) --raw $(DEMO_RAW) --port $(PORT)

bench: $(STAMP)
	$(BIN)/python -m bench.run_all

clean:
	rm -rf $(VENV) $(DEMO_HOME) $(DEMO_RAW) bench/out .pytest_cache
