# Two commands: `make run` serves the app, `make test` runs the whole suite. Both set up .venv first.
PYTHON ?= $(shell command -v python3.11 || command -v python3)
VENV := .venv
PY := $(VENV)/bin/python
STAMP := $(VENV)/.installed
PIP := $(PY) -m pip install --disable-pip-version-check -q -c constraints.txt

.PHONY: install run test test-fast bench browser prepare clean

$(STAMP): requirements.txt requirements-dev.txt requirements-nodeps.txt constraints.txt
	$(PYTHON) -m venv $(VENV)
	$(PIP) torch==2.13.0
	$(PIP) -r requirements-dev.txt
	$(PIP) --no-deps -r requirements-nodeps.txt
	touch $(STAMP)

install: $(STAMP)

prepare: install  ## convert the builtin model once (later loads take about a second); build the bundled sets
	$(PY) -m models prepare
	$(PY) -m data build-bundled

run: prepare
	$(PY) app.py

browser:  ## Chromium for tests/e2e; installed when missing and root, else e2e tests skip and say why
	@if [ -x /usr/bin/chromium ]; then :; \
	elif [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
		echo "Installing Debian's chromium for the browser tests ..."; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium >/dev/null; \
	else echo "Chromium is missing and this is not root: tests/e2e will be skipped."; fi

test: install browser
	$(PY) -m ruff check .
	$(PY) -m pytest

test-fast: install  ## everything but the tests marked slow (real model, browser)
	$(PY) -m ruff check .
	$(PY) -m pytest -m "not slow"

bench: prepare
	$(PY) bench/chat.py
	$(PY) bench/data.py
	$(PY) bench/eval.py
	$(PY) bench/train.py
	$(PY) bench/search.py
	$(PY) bench/openai_estimate.py

clean:
	rm -rf $(VENV) .pytest_cache .cache
