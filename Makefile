# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test install install-test lint bench clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install -q --upgrade pip

# torch first, pinned: the CPU wheel; the ranges in pyproject.toml accept it, so nothing pulls CUDA.
$(VENV)/.installed: $(BIN)/python pyproject.toml
	$(BIN)/pip install -q torch==2.13.0
	$(BIN)/pip install -q -e .
	touch $@

$(VENV)/.installed-test: $(VENV)/.installed
	$(BIN)/pip install -q -e ".[test]"
	touch $@

install: $(VENV)/.installed

# The browser test drives Debian's chromium (Playwright downloads no browser). If it cannot be
# installed here, the rest of the suite still runs and the browser test says what is missing.
$(VENV)/.chromium: | $(BIN)/python
	@command -v chromium >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q chromium; } \
	  || echo "warning: could not install chromium; the browser test will fail"
	@command -v chromium >/dev/null 2>&1 && touch $@ || true

# The remote-store tests start a real Virtuoso (Debian's package; only its binaries, no system service).
$(VENV)/.virtuoso: | $(BIN)/python
	@command -v virtuoso-t >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q --no-install-recommends \
	    virtuoso-opensource-7-bin; } \
	  || echo "warning: could not install virtuoso; the Virtuoso store tests will fail"
	@command -v virtuoso-t >/dev/null 2>&1 && touch $@ || true

install-test: $(VENV)/.installed-test $(VENV)/.chromium $(VENV)/.virtuoso

run: install
	$(BIN)/kgrel serve --host $(HOST) --port $(PORT) --load-demo

test: install-test
	$(BIN)/python -m pytest -q

lint: install-test
	$(BIN)/ruff check app kg models bench data tests

clean:
	rm -rf $(VENV) var .pytest_cache
