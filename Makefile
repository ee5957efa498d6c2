# Gatehouse: `make run` serves a demo on http://127.0.0.1:5000, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
export FLASK_APP := app

CHROMIUM ?= /usr/bin/chromium

.PHONY: install browser run test bench lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)
	$(BIN)/python -m pip install --quiet --upgrade pip

# reinstall whenever the dependency list changes
$(VENV)/.installed: pyproject.toml | $(BIN)/python
	$(BIN)/python -m pip install --quiet -e '.[dev]'
	touch $@

install: $(VENV)/.installed

# The page tests drive Debian's Chromium through Playwright (`playwright install` cannot
# download browsers on a closed network, so the distribution's package is used).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium fonts-wqy-zenhei

browser: $(CHROMIUM)

run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo
	$(BIN)/gunicorn --worker-class gthread --workers 2 --threads 8 --bind 127.0.0.1:$(PORT) \
		--access-logfile - 'app:create_app()'

test: install browser
	$(BIN)/python -m pytest -q -p no:cacheprovider

bench: install
	$(BIN)/python bench/run.py

lint: install
	$(BIN)/ruff check .

clean:
	rm -rf $(VENV) instance .pytest_cache

# Hosted-page translations: re-extract the strings, merge them into every catalogue, compile
# the .mo files (committed, so a fresh checkout needs no build step). Translate any new or
# fuzzy entry in translations/<locale>/LC_MESSAGES/messages.po, then run this again.
.PHONY: translations
translations: install
	$(BIN)/pybabel extract -F babel.cfg -k _l -k lazy_gettext --no-location --sort-output \
		--project Gatehouse -o translations/messages.pot .
	$(BIN)/pybabel update -i translations/messages.pot -d translations --ignore-obsolete
	$(BIN)/pybabel compile -d translations --statistics
