# Hilo — the two commands: `make run` and `make test`. See README.md.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
PORT ?= 5000
DEMO_SITE_PORT ?= 5050
export FLASK_APP := wsgi
export PYTHONDONTWRITEBYTECODE := 1

.PHONY: run test test-sqlite test-postgresql worker bench install chromium dovecot services clean

$(BIN)/.installed: requirements.txt requirements-dev.txt
	test -x $(BIN)/python || $(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -r requirements-dev.txt
	touch $@

install: $(BIN)/.installed

## make run: migrate, load demo data on first start, serve on http://127.0.0.1:$(PORT)
run: install
	$(BIN)/flask db upgrade
	$(BIN)/flask demo load --if-empty
	$(BIN)/flask demo site --hilo http://127.0.0.1:$(PORT) --out instance/demo-site >/dev/null
	@echo "Hilo is at http://127.0.0.1:$(PORT)  (Ctrl-C to stop)"
	@echo "A company website with Hilo's live chat: http://127.0.0.1:$(DEMO_SITE_PORT)"
	$(BIN)/python -m http.server $(DEMO_SITE_PORT) --bind 127.0.0.1 --directory instance/demo-site >/dev/null 2>&1 & \
	  trap "kill $$! 2>/dev/null" EXIT; \
	  $(BIN)/gunicorn --worker-class gthread --workers 1 --threads 64 --bind 127.0.0.1:$(PORT) \
	  --access-logfile - --log-level warning wsgi:app

## make worker: RQ worker with the scheduler, in the app's context (needs REDIS_URL)
worker: install
	$(BIN)/flask worker

## make test: the whole suite on SQLite (embedded) and on PostgreSQL + Redis + RQ, browser tests included
test: install chromium dovecot services
	HILO_TEST_DB=sqlite $(BIN)/python -m pytest -q -p no:cacheprovider
	HILO_TEST_DB=postgresql $(BIN)/python -m pytest -q -p no:cacheprovider

test-sqlite: install
	HILO_TEST_DB=sqlite $(BIN)/python -m pytest -q $(ARGS)

test-postgresql: install services
	HILO_TEST_DB=postgresql $(BIN)/python -m pytest -q $(ARGS)

## Chromium from Debian for the browser tests (no browser download), with an emoji font for screenshots
chromium:
	@{ command -v chromium && test -d /usr/share/fonts/truetype/noto; } >/dev/null 2>&1 || { \
	  echo "Installing Debian's chromium and emoji font for browser tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq chromium fonts-noto-color-emoji >/dev/null; }

## Debian's dovecot for the IMAP polling tests (the tests start a private instance of it)
dovecot:
	@test -x /usr/sbin/dovecot || { \
	  echo "Installing Debian's dovecot-imapd for the IMAP tests"; \
	  SUDO=$$( [ "$$(id -u)" = 0 ] || echo sudo ); \
	  $$SUDO apt-get update -qq && DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq dovecot-imapd >/dev/null; }

## Start PostgreSQL and Redis if they are installed but stopped (this machine and CI)
services:
	@pg_isready -q -h 127.0.0.1 || { command -v pg_ctlcluster >/dev/null && \
	  pg_ctlcluster --skip-systemctl-redirect $$(ls /etc/postgresql) main start; } || true
	@redis-cli -h 127.0.0.1 ping >/dev/null 2>&1 || { command -v redis-server >/dev/null && \
	  redis-server --daemonize yes --bind 127.0.0.1 -::1 --port 6379 --save "" --appendonly no \
	    --dir /var/lib/redis --logfile /var/log/redis/ci.log; } || true

bench: install
	$(BIN)/python -m bench.run

clean:
	rm -rf $(VENV) instance .pytest_cache
