# Gatehouse: `make run` serves a demo on http://localhost:5000, `make test` runs the suite.
PYTHON ?= python3
VENV   ?= .venv
BIN    := $(VENV)/bin
PORT   ?= 5000
LOCK   := requirements.lock
export FLASK_APP := app

CHROMIUM ?= /usr/bin/chromium

.PHONY: install lock docs-assets browser postgresql redis-server node-upstream run test bench bench-peers lint clean

$(BIN)/python:
	$(PYTHON) -m venv $(VENV)

# Exactly the locked runtime and dev dependencies, each checked against its hashes; again
# whenever the lock changes. The project itself is not installed (see pyproject.toml).
$(VENV)/.installed: $(LOCK) | $(BIN)/python
	$(BIN)/python -m pip install --quiet --require-hashes -r $(LOCK)
	touch $@

install: $(VENV)/.installed

# Upgrade: resolve every dependency of pyproject.toml (extra dev included) to its newest
# allowed release and pin it with the hashes of its files, then `make install`. pip-tools runs
# from a throwaway virtualenv, so it never lands in .venv.
lock:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	$(PYTHON) -m venv "$$tmp" && "$$tmp/bin/python" -m pip install --quiet pip-tools && \
	CUSTOM_COMPILE_COMMAND="make lock" "$$tmp/bin/pip-compile" --quiet --upgrade --generate-hashes \
		--allow-unsafe --strip-extras --no-emit-index-url --no-emit-find-links --extra dev \
		--output-file $(LOCK) pyproject.toml

# /docs serves Swagger UI from static/docs/ (committed: no build step, no CDN). This copies the
# pinned release of the npm package swagger-ui-dist there again, with its licence files.
SWAGGER_UI_VERSION ?= 5.36.0
docs-assets:
	tmp=$$(mktemp -d) && trap 'rm -rf "$$tmp"' EXIT && \
	cd "$$tmp" && npm pack --silent swagger-ui-dist@$(SWAGGER_UI_VERSION) >/dev/null && tar xzf swagger-ui-dist-*.tgz && \
	cp package/swagger-ui-bundle.js package/swagger-ui.css package/LICENSE package/NOTICE $(CURDIR)/static/docs/

# The page tests drive Debian's Chromium through Playwright (`playwright install` cannot
# download browsers on a closed network, so the distribution's package is used).
$(CHROMIUM):
	if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends chromium fonts-wqy-zenhei

browser: $(CHROMIUM)

# The outage tests (tests/outage/) start and stop a PostgreSQL cluster of their own, so they
# need the server binaries (initdb, pg_ctl), found by a glob whatever the major version.
postgresql:
	@if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends postgresql; \
	fi

# The Redis Cluster tests (tests/cluster, and the whole suite with TEST_REDIS_CLUSTER=1) start
# three real redis-server processes in cluster mode: Debian's redis-server (Redis 7), when it is
# not on PATH already. Its packaged service is not needed: the tests start their own servers.
REDIS_SERVER ?= $(or $(shell command -v redis-server 2>/dev/null),/usr/bin/redis-server)

$(REDIS_SERVER):
	if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
	$$sudo apt-get update -qq && \
	DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends redis-server

redis-server: $(REDIS_SERVER)

# The federation tests sign in through panva/oidc-provider (OpenID Certified, Node) as a real
# upstream OpenID provider: its node_modules come from the lock file (npm ci), again whenever the
# lock is newer than them; Debian's nodejs and npm are installed when npm is missing.
UPSTREAM_OP := tests/upstreams/oidc_provider

$(UPSTREAM_OP)/node_modules/.package-lock.json: $(UPSTREAM_OP)/package-lock.json
	if ! command -v npm >/dev/null 2>&1; then \
		if [ "$$(id -u)" = 0 ]; then sudo=; else sudo=sudo; fi; \
		$$sudo apt-get update -qq && \
		DEBIAN_FRONTEND=noninteractive $$sudo apt-get install -y -qq --no-install-recommends nodejs npm; \
	fi
	cd $(UPSTREAM_OP) && npm ci --no-audit --no-fund
	touch $@

node-upstream: $(UPSTREAM_OP)/node_modules/.package-lock.json

# gunicorn reads ./gunicorn.conf.py: with REDIS_URL unset its master starts the embedded Redis
# and stops it again when gunicorn stops (Ctrl-C, SIGTERM).
# the demo's URLs (redirect URIs, printed links, the WebOTP line) follow the port unless an
# issuer is set
run: export GATEHOUSE_ISSUER ?= http://localhost:$(PORT)
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo
	$(BIN)/gunicorn --worker-class gthread --workers 2 --threads 8 --bind 127.0.0.1:$(PORT) \
		--access-logfile - 'app:create_app()'

test: install browser postgresql redis-server node-upstream
	$(BIN)/python -m pytest -q -p no:cacheprovider

# wrk against Gatehouse on SQLite and on PostgreSQL (database `bench` at 127.0.0.1:5432, dropped
# and created), Redis db 13, every scenario; BENCH_ARGS passes options (bench/README.md)
bench: install
	$(BIN)/python bench/run.py $(BENCH_ARGS)

# the same, plus panva/oidc-provider (OpenID Certified, Node) from npm, pinned by
# bench/peers/package-lock.json into bench/peers/node_modules (ignored), and the floor Flask app
bench-peers: install
	cd bench/peers && npm ci --no-audit --no-fund
	$(BIN)/python bench/run.py --peers $(BENCH_ARGS)

# The static checks, configured in pyproject.toml: lint rules, the formatter's layout (`ruff
# format .` applies it) and types (mypy: strict on idp/, default checks on the HTTP faces).
lint: install
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .
	$(BIN)/mypy

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
