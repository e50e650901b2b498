# Ratchet: every target documents itself; `make help` lists them.
SHELL := /bin/bash
.DEFAULT_GOAL := help

PYTHON ?= python3
VENV := .venv
BIN := $(VENV)/bin
STAMP := $(VENV)/.installed-stamp
CONFIG ?= ratchet.toml
DATA ?= data/btc-1m.csv.gz
SIM_PORT ?= 8765
PROM_PORT ?= 9090
AM_PORT ?= 9093
# Test files run side by side: most of the suite waits on real engines and sims, not the CPU.
TEST_JOBS ?= 3

.PHONY: help install run test lint bench chaos replay-demo sweep-demo sim run-sim preflight-sim \
	prometheus alertmanager promtool dashboards clean clean-state

# `make help` prints each target's text with the variables filled in (`$(SIM_PORT)` reads 8765).
help: ## Show this help
	@grep -hE '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | sort | \
		SIM_PORT='$(SIM_PORT)' PROM_PORT='$(PROM_PORT)' AM_PORT='$(AM_PORT)' CONFIG='$(CONFIG)' \
		DATA='$(DATA)' awk 'BEGIN {FS = ":.*## "}; { t = $$2; \
		while (match(t, /\$$\([A-Z_]+\)/)) { \
			t = substr(t, 1, RSTART - 1) ENVIRON[substr(t, RSTART + 2, RLENGTH - 3)] \
				substr(t, RSTART + RLENGTH) }; \
		printf "  \033[36m%-14s\033[0m %s\n", $$1, t }'

$(STAMP): setup.cfg pyproject.toml
	$(PYTHON) -m venv $(VENV)
	$(BIN)/pip install -q --upgrade pip
	$(BIN)/pip install -q -e '.[dev,encryption,plot]'
	touch $(STAMP)

install: $(STAMP) ## Create .venv and install ratchet with its dev, encryption and plot extras

run: $(STAMP) ## Trade in paper mode on the simulated feed with ratchet.toml (no keys, no network)
	$(BIN)/ratchet run -c $(CONFIG) $(RUN_ARGS)

test: $(STAMP) ## Run the whole test suite (unit, property, actor, crash, promtool, amtool, Prometheus, alerts end to end)
	$(BIN)/python -m pytest -q -n $(TEST_JOBS) --dist loadfile tests

lint: $(STAMP) ## Check style with ruff
	$(BIN)/ruff check .

bench: $(STAMP) ## Run the benchmarks (one JSON line a figure) and write docs/performance.md
	$(BIN)/python -m bench.report $(BENCH)

chaos: $(STAMP) ## Long kill -9 chaos run against the sim exchange (100+ kills)
	RATCHET_CHAOS_CYCLES=100 $(BIN)/python -m pytest -q tests/chaos

replay-demo: $(STAMP) ## Replay the whole BTC file; writes out/replay-report.json and out/replay.png
	mkdir -p out
	$(BIN)/ratchet replay $(DATA) --symbol BTCUSDT -c examples/replay.toml \
		--report out/replay-report.json --plot out/replay.png

sweep-demo: $(STAMP) ## Sweep the whole BTC file over 20 settings on every CPU; writes out/sweep.csv and out/sweep.png
	mkdir -p out
	$(BIN)/ratchet sweep $(DATA) --symbol BTCUSDT -c examples/replay.toml \
		--grid trail_pct=1,2,3,4,5 --grid min_move_pct=0.1,0.2,0.5,1 \
		-o out/sweep.csv --heatmap out/sweep.png

sim: $(STAMP) ## Start the Binance-compatible sim exchange on 127.0.0.1:$(SIM_PORT)
	$(BIN)/ratchet sim-exchange --port $(SIM_PORT) --state var/sim-state.db

preflight-sim: $(STAMP) ## Check the account and print the first run's plan against `make sim`
	RATCHET_API_KEY=$${RATCHET_API_KEY:-sim-key} RATCHET_API_SECRET=$${RATCHET_API_SECRET:-sim-secret} \
		$(BIN)/ratchet preflight -c examples/sim.toml

run-sim: $(STAMP) ## Run the engine against `make sim` (binance mode, loopback only)
	RATCHET_API_KEY=$${RATCHET_API_KEY:-sim-key} RATCHET_API_SECRET=$${RATCHET_API_SECRET:-sim-secret} \
		$(BIN)/ratchet run -c examples/sim.toml

prometheus: ## Start Prometheus on 127.0.0.1:$(PROM_PORT) scraping a running engine
	mkdir -p var/prometheus
	prometheus --config.file=dashboards/prometheus.yml --storage.tsdb.path=var/prometheus \
		--web.listen-address=127.0.0.1:$(PROM_PORT)

alertmanager: ## Start Alertmanager on 127.0.0.1:$(AM_PORT) routing to webhook, email, Telegram (secrets: README)
	$(PYTHON) dashboards/render_alertmanager.py dashboards/alertmanager.yml var/alertmanager/alertmanager.yml
	amtool check-config var/alertmanager/alertmanager.yml
	prometheus-alertmanager --config.file=var/alertmanager/alertmanager.yml \
		--storage.path=var/alertmanager/data --web.listen-address=127.0.0.1:$(AM_PORT) \
		--cluster.listen-address=

promtool: ## Check the Prometheus config, alert rules and Alertmanager config; run the alert unit tests
	promtool check config dashboards/prometheus.yml
	promtool check rules dashboards/alerts.yml
	promtool test rules dashboards/alerts_test.yml
	amtool check-config dashboards/alertmanager.yml

dashboards: $(STAMP) ## Regenerate the Grafana dashboard JSON from dashboards/build_dashboard.py
	$(BIN)/python dashboards/build_dashboard.py

clean: ## Remove the venv, caches and out/ (never var/: the trading DB lives there)
	rm -rf $(VENV) out .pytest_cache .ruff_cache .hypothesis

clean-state: ## Delete var/: the trading DB, the paper book, the sim's state and the logs (asks first)
	@if [ -d var ]; then \
		read -r -p "delete var/ (the trading DB and its history)? [y/N] " answer; \
		[ "$$answer" = y ] && rm -rf var && echo "var/ deleted" || echo "var/ kept"; \
	else echo "no var/"; fi
