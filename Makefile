# secmon — the two set-up commands: `make demo` and `make test`.
SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed
# Debian packages the tests use: a PostgreSQL to make throwaway clusters with initdb when no
# server runs on 127.0.0.1:5432, and the protocol peers of later issues (ffmpeg for ipycam's RTSP
# and test media; GStreamer's RTSP server, run by Debian's python3, for the RTSP checks; Chromium
# and CJK fonts for the browser tests).
APT_PACKAGES := postgresql mosquitto mosquitto-clients snmp snmpd \
	ffmpeg python3-gi gir1.2-gst-rtsp-server-1.0 \
	gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-ugly \
	chromium fonts-noto-cjk smartmontools
# WeasyPrint (server/reports PDFs) and pdftotext for its tests.
APT_PACKAGES += libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz-subset0 poppler-utils
# The benchmarks' comparison peers (not needed by the tests).
BENCH_APT_PACKAGES := prometheus-snmp-exporter prometheus prometheus-alertmanager prometheus-blackbox-exporter
# `ip netns` and veth pairs: the WS-Discovery test runs in network namespaces it makes.
APT_PACKAGES += iproute2
# The deployment files' checkers: promtool and a real Prometheus, systemd-analyze, Caddy, and
# docker-compose (v1) to validate the compose file against its schema without an engine.
APT_PACKAGES += prometheus systemd caddy docker-compose

.PHONY: demo test lint typecheck pytest system-deps apt-install venv bench clean

demo: venv
	$(BIN)/secmon demo

test: system-deps venv lint typecheck pytest

venv: $(STAMP)

$(STAMP): pyproject.toml
	@$(PYTHON) -c 'import sys; sys.exit(sys.version_info < (3, 11))' || \
	  { echo "secmon needs Python 3.11 or newer ($(PYTHON) is $$($(PYTHON) --version))"; exit 1; }
	@[ -x $(BIN)/python ] || $(PYTHON) -m venv $(VENV) || { \
	  rm -rf $(VENV); \
	  if [ "$$(id -u)" = 0 ] && command -v apt-get >/dev/null; then \
	    echo "installing python3-venv"; \
	    DEBIAN_FRONTEND=noninteractive apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv && $(PYTHON) -m venv $(VENV); \
	  else echo "python venv module missing: apt-get install python3-venv"; exit 1; fi; }
	$(BIN)/python -m pip install -q --upgrade pip
	$(BIN)/python -m pip install -q -e '.[dev]'
	@touch $(STAMP)

# Installs missing Debian packages when running as root; otherwise says what is missing.
system-deps:
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES)"

apt-install:
	@missing=""; for p in $(PACKAGES); do \
	  dpkg-query -W -f='$${Status}' $$p 2>/dev/null | grep -q "install ok installed" || missing="$$missing $$p"; \
	done; \
	if [ -z "$$missing" ]; then exit 0; fi; \
	if [ "$$(id -u)" != 0 ]; then echo "missing Debian packages:$$missing (run make test as root, or apt-get install them)"; exit 0; fi; \
	echo "installing:$$missing"; \
	export DEBIAN_FRONTEND=noninteractive; \
	policy_added=""; if [ ! -e /usr/sbin/policy-rc.d ]; then \
	  printf '#!/bin/sh\nexit 101\n' > /usr/sbin/policy-rc.d && chmod +x /usr/sbin/policy-rc.d; policy_added=1; fi; \
	apt-get update -qq && apt-get install -y -qq --no-install-recommends $$missing; rc=$$?; \
	[ -n "$$policy_added" ] && rm -f /usr/sbin/policy-rc.d; exit $$rc

lint: venv
	$(BIN)/ruff check .
	$(BIN)/ruff format --check .

typecheck: venv
	$(BIN)/mypy .

# In parallel (pytest-xdist): most tests wait on peers, timers and subprocesses rather than
# compute, so more workers than cores pay. Each worker gets its own databases, ports, temp dirs
# and namespaces; `loadscope` keeps a module's shared fixtures (simulators) in one worker.
PYTEST_WORKERS ?= 4
pytest: venv
	$(BIN)/pytest -q -n $(PYTEST_WORKERS) --dist loadscope

bench: venv
	@$(MAKE) --no-print-directory apt-install PACKAGES="$(APT_PACKAGES) $(BENCH_APT_PACKAGES)"
	$(BIN)/python bench/ingest.py
	$(BIN)/python bench/snmp_poll.py
	$(BIN)/python bench/mqtt_ingest.py
	$(BIN)/python bench/status_page.py
	$(BIN)/python bench/detect_latency.py
	$(BIN)/python bench/onvif_poll.py
	$(BIN)/python bench/onvif_picture.py

clean:
	rm -rf $(VENV) .demo .mypy_cache .ruff_cache .pytest_cache
