# Two commands do all the set-up: `make run` and `make test`.
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
HOST ?= 127.0.0.1
PORT ?= 8000
export HF_HUB_OFFLINE := 1
export TRANSFORMERS_OFFLINE := 1

.PHONY: run test install install-test lint bench clean screenshots

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

# Debian packages the tests start or drive, installed when missing: $(1) the command, $(2) the package,
# $(3) what fails without it, $(4) apt options. If one cannot be installed here, the rest of the suite still runs.
define apt_need
	@command -v $(1) >/dev/null 2>&1 || { \
	  SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q $(4) $(2); } \
	  || echo "warning: could not install $(2); $(3) will fail"
	@command -v $(1) >/dev/null 2>&1 && touch $@ || true
endef

# The browser test drives Debian's chromium (Playwright downloads no browser).
$(VENV)/.chromium: | $(BIN)/python
	$(call apt_need,chromium,chromium,the browser test)

# The remote-store tests start a real Virtuoso (Debian's package; only its binaries, no system service).
$(VENV)/.virtuoso: | $(BIN)/python
	$(call apt_need,virtuoso-t,virtuoso-opensource-7-bin,the Virtuoso store tests,--no-install-recommends)

# docker-compose.yml is checked with Compose itself (`docker-compose config`, no Docker daemon needed).
$(VENV)/.compose: | $(BIN)/python
	$(call apt_need,docker-compose,docker-compose,the deployment test,--no-install-recommends)

install-test: $(VENV)/.installed-test $(VENV)/.chromium $(VENV)/.virtuoso $(VENV)/.compose

run: install
	$(BIN)/kgrel serve --host $(HOST) --port $(PORT) --load-demo

test: install-test
	$(BIN)/python -m pytest -q

# The README's screenshot of the labelling page, from the browser test (the suite itself writes no file),
# with a colour emoji font so that the test's emoji render as emoji rather than empty boxes.
$(VENV)/.emoji-font: | $(BIN)/python
	@fc-list ':charset=1f3b5' | grep -q . || { SUDO=$$([ "$$(id -u)" = 0 ] || echo sudo); \
	  $$SUDO apt-get update -q && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -q fonts-noto-color-emoji; } \
	  || echo "warning: could not install fonts-noto-color-emoji; the screenshot shows boxes for emoji"
	@fc-list ':charset=1f3b5' | grep -q . && touch $@ || true

screenshots: install-test $(VENV)/.emoji-font
	KGREL_SCREENSHOT=docs/labelling.png $(BIN)/python -m pytest -q tests/app/test_browser.py

lint: install-test
	$(BIN)/ruff check app kg models bench data tests

clean:
	rm -rf $(VENV) var .pytest_cache
