# redis-jobs: the two commands are `make run` and `make test`. See README.md.
SHELL := /bin/bash
.DEFAULT_GOAL := help

CONFIG ?= debug
# Which Redis `make run` and `make cluster` use: single (REDIS_URL or the local server), cluster (a local Redis
# Cluster on REDIS_CLUSTER_PORT.., scripts/redis-cluster.sh) or sentinel (a primary, a replica and three
# sentinels on REDIS_SENTINEL_PORT.., scripts/redis-sentinel.sh).
REDIS_MODE ?= single
REDIS_MODE_PORT = $(if $(filter sentinel,$(REDIS_MODE)),$(REDIS_SENTINEL_PORT),$(REDIS_CLUSTER_PORT))
N ?= 3
BASE_PORT ?= 8080
SWIFT ?= swift
FORMAT_PATHS := Package.swift Sources Tests
# The built binaries (evaluated only when a target needs them).
BIN_DIR = $(shell $(SWIFT) build -c $(CONFIG) --show-bin-path)

.PHONY: help services build run migrate seed test test-cluster test-on-cluster cluster cluster-stop format lint chaos
.PHONY: redis-cluster redis-cluster-stop redis-sentinel redis-sentinel-stop console-screenshots

help: ## List the targets
	@grep -E '^[a-zA-Z_-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-14s %s\n", $$1, $$2}'

services: ## Install (if missing) and start Redis and PostgreSQL on loopback
	@bash scripts/services.sh

build: ## Build the shop executable (CONFIG=debug|release)
	$(SWIFT) build -c $(CONFIG) --product shop

migrate: services build ## Apply database migrations
	"$(BIN_DIR)/shop" migrate

seed: services build ## Load the demo data (idempotent)
	"$(BIN_DIR)/shop" seed

run: services build ## Start services, migrate, seed, start the simulated provider (:8090), serve on :8080 (REDIS_MODE=cluster|sentinel)
	REDIS_URL="$$(bash scripts/redis-mode.sh "$(REDIS_MODE)" "$(REDIS_MODE_PORT)")" && export REDIS_URL \
		&& bash scripts/run.sh "$(BIN_DIR)/shop"

test: services ## Start services, run every test (then again on a Redis Cluster, the cluster and Sentinel suites apart), chaos (standalone, cluster, sentinel), API fuzzing
	@bash scripts/test-deps.sh
	$(SWIFT) build --build-tests
	SWIFT="$(SWIFT)" python3 scripts/run-tests.py --skip-build --skip '$(TOPOLOGY_TESTS)'
	SWIFT="$(SWIFT)" python3 scripts/run-tests.py --skip-build --filter '$(TOPOLOGY_TESTS)'
	$(MAKE) test-on-cluster
	$(MAKE) chaos CHAOS_SECONDS=$(TEST_CHAOS_SECONDS) SHOP_BIN="$(BIN_DIR)/shop"
	$(MAKE) chaos CHAOS_REDIS=cluster CHAOS_SECONDS=$(TEST_CHAOS_SECONDS) SHOP_BIN="$(BIN_DIR)/shop"
	$(MAKE) chaos CHAOS_REDIS=sentinel CHAOS_SECONDS=$(TEST_CHAOS_SECONDS) SHOP_BIN="$(BIN_DIR)/shop"
	$(MAKE) fuzz-api FUZZ_API_SECONDS=$(TEST_FUZZ_API_SECONDS) SHOP_BIN="$(BIN_DIR)/shop"

# Suites that start their own Redis Cluster or Sentinel set (scripts/redis-cluster.sh, redis-sentinel.sh). They run
# in a process of their own: a reshard or a failover loads the machine enough to upset the timing of other suites.
TOPOLOGY_TESTS := ClusterClientTests|SentinelClientTests|ShardedPubSubTests|ReplicaReadsTests
# The test targets run again against a Redis Cluster (`make test-on-cluster`, part of `make test` and of
# `make test-cluster`): the libraries' and the shop's service suite. The cluster has a 15 s node timeout: nothing
# kills its nodes, and a starved primary must not fail over. ResilienceTests use no Redis.
TEST_CLUSTER_FILTER ?= RedisClientTests|RedisCacheTests|RedisSessionsTests|RedisLockTests|StreamQueueTests|SchedulerTests|ShopTests
# Tests to leave out on the cluster (a regular expression, as --skip takes); none today.
TEST_CLUSTER_SKIP ?=

test-cluster: ## Cluster and Sentinel client suites, then the library and shop suites against a local Redis Cluster (REDIS_CLUSTER_PORT)
	$(SWIFT) build --build-tests
	SWIFT="$(SWIFT)" python3 scripts/run-tests.py --skip-build --filter '$(TOPOLOGY_TESTS)'
	$(MAKE) test-on-cluster

test-on-cluster: ## The suites of TEST_CLUSTER_FILTER (built already) with REDIS_URL on a local Redis Cluster (REDIS_CLUSTER_PORT)
	@bash scripts/test-deps.sh
	@port="$(REDIS_CLUSTER_PORT)"; log=$$(mktemp); keep=0; \
	bash scripts/redis-cluster.sh status "$$port" >/dev/null 2>&1 && keep=1; \
	stop() { rm -f "$$log"; [ "$$keep" = 1 ] || bash scripts/redis-cluster.sh stop "$$port"; }; \
	trap stop EXIT; \
	url=$$(REDIS_CLUSTER_NODE_TIMEOUT=15000 bash scripts/redis-cluster.sh start "$$port" | sed -n 's/^REDIS_URL=//p'); \
	[ -n "$$url" ] || { echo "test-on-cluster: the Redis Cluster did not start" >&2; exit 1; }; \
	echo "test-on-cluster: REDIS_URL=$$url --filter '$(TEST_CLUSTER_FILTER)'"; \
	REDIS_URL="$$url" SWIFT="$(SWIFT)" python3 scripts/run-tests.py --skip-build --filter '$(TEST_CLUSTER_FILTER)' \
		--skip '$(TOPOLOGY_TESTS)$(if $(TEST_CLUSTER_SKIP),|$(TEST_CLUSTER_SKIP))' \
		2>&1 | tee "$$log"; status=$${PIPESTATUS[0]}; \
	ran=$$(sed -n 's/.*Test run with \([0-9]*\) tests\{0,1\} .*/\1/p' "$$log" | tail -n 1); \
	skipped=$$(grep -c '^. Test .* skipped' "$$log"); \
	echo "test-on-cluster: $${ran:-0} tests ran on the cluster ($$skipped skipped); exit status $$status"; \
	exit $$status

cluster: services build ## Start N instances (default 3) on ports 8080, 8081, ... (REDIS_MODE=cluster|sentinel)
	REDIS_URL="$$(bash scripts/redis-mode.sh "$(REDIS_MODE)" "$(REDIS_MODE_PORT)")" && export REDIS_URL \
		&& "$(BIN_DIR)/shop" seed && bash scripts/cluster.sh start "$(N)" "$(BASE_PORT)" "$(BIN_DIR)/shop"

cluster-stop: ## Stop the instances `make cluster` started (SIGTERM, graceful)
	bash scripts/cluster.sh stop

# Local Redis topologies as plain processes on 127.0.0.1 (docs/operations.md, "Local Redis Cluster and Sentinel").
# Their first port (not BASE_PORT, which is the shop's): the cluster uses 7000-7005 (bus +10000), the Sentinel
# setup a primary on 6390, a replica on 6391 and Sentinels on 26390-26392.
REDIS_CLUSTER_PORT ?= 7000
REDIS_SENTINEL_PORT ?= 6390

redis-cluster: ## Start a 6-node Redis Cluster (3 primaries + 3 replicas) on 127.0.0.1:7000-7005 (REDIS_CLUSTER_PORT)
	@bash scripts/redis-cluster.sh start "$(REDIS_CLUSTER_PORT)"

redis-cluster-stop: ## Stop the Redis Cluster `make redis-cluster` started and remove its files
	@bash scripts/redis-cluster.sh stop "$(REDIS_CLUSTER_PORT)"

redis-sentinel: ## Start a Redis primary (:6390), replica (:6391) and 3 Sentinels (:26390-26392) for master 'shop'
	@bash scripts/redis-sentinel.sh start "$(REDIS_SENTINEL_PORT)"

redis-sentinel-stop: ## Stop what `make redis-sentinel` started and remove its files
	@bash scripts/redis-sentinel.sh stop "$(REDIS_SENTINEL_PORT)"

format: ## Format the Swift sources in place
	$(SWIFT) format format --in-place --recursive $(FORMAT_PATHS)

lint: ## Fail when the Swift sources are not formatted
	$(SWIFT) format lint --strict --recursive $(FORMAT_PATHS)

# --- Chaos ---------------------------------------------------------------------------------------------
# A seeded run of faults under load on private servers, then invariants checked (docs/chaos.md).
# CHAOS_SEED (default: random, printed), CHAOS_SECONDS (default 150); SHOP_BIN=/path skips the build.
# CHAOS_REDIS=cluster: on a private six-node Redis Cluster (ports 7600-7605) with primary kills among the faults.
# CHAOS_REDIS=sentinel: on a private primary, replica and three Sentinels (ports 7800, 7801, 27800-27802) with
# planned failovers (SENTINEL FAILOVER) and primary kills among the faults.
CHAOS_SECONDS ?= 150
# The chaos runs `make test` ends with (CI): standalone, cluster mode (primary kills and a live reshard among the
# faults), sentinel mode (planned failovers and primary kills among the faults).
TEST_CHAOS_SECONDS ?= 120
CHAOS_SEED ?=
CHAOS_REDIS ?= standalone
CHAOS_ARGS ?=

chaos: ## Seeded chaos run: faults under load on private servers, then invariants (CHAOS_SEED, CHAOS_SECONDS, CHAOS_REDIS=standalone|cluster|sentinel)
	@command -v redis-server >/dev/null && command -v psql >/dev/null && ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 \
		|| bash scripts/services.sh
	@if [ -z "$(SHOP_BIN)" ]; then $(SWIFT) build -c $(CONFIG) --product shop; fi
	CHAOS_SEED="$(CHAOS_SEED)" CHAOS_SECONDS="$(CHAOS_SECONDS)" CHAOS_REDIS="$(CHAOS_REDIS)" \
		python3 scripts/chaos/chaos.py --shop "$(if $(SHOP_BIN),$(SHOP_BIN),$(BIN_DIR)/shop)" $(CHAOS_ARGS)

# --- API fuzzing ---------------------------------------------------------------------------------------
# schemathesis against the OpenAPI document (GET /openapi.json) of a private stack: its own redis-server, database,
# provider and shop serve (scripts/fuzz-api.sh). FUZZ_API_SECONDS (default 180); SHOP_BIN=/path skips the build.
.PHONY: fuzz-api
FUZZ_API_SECONDS ?= 180
# The fuzzing `make test` ends with (CI).
TEST_FUZZ_API_SECONDS ?= 180

fuzz-api: services ## schemathesis on every route of the OpenAPI document, private stack (FUZZ_API_SECONDS, SHOP_BIN)
	@if [ -z "$(SHOP_BIN)" ]; then $(SWIFT) build -c $(CONFIG) --product shop; fi
	FUZZ_API_SECONDS="$(FUZZ_API_SECONDS)" SHOP_BIN="$(if $(SHOP_BIN),$(SHOP_BIN),$(BIN_DIR)/shop)" \
		bash scripts/fuzz-api.sh

# --- Benchmarks ----------------------------------------------------------------------------------
# `make bench` runs every benchmark; `make bench-<topic>` one of them (see docs/benchmarks.md).
.PHONY: bench bench-idle bench-redis bench-cluster bench-sessions bench-cache bench-lock bench-orders bench-pubsub bench-queue bench-memory fuzz-resp fuzz-api-decoding

bench: bench-idle bench-redis bench-cluster bench-sessions bench-cache bench-lock bench-orders bench-pubsub bench-queue bench-memory ## Run every benchmark (prints BENCH lines)

bench-idle: ## One idle shop serve: Redis commands per second and CPU (goal <= 50 cmd/s, <= 1% of a core)
	bash Benchmarks/scripts/bench-idle.sh

bench-redis: ## RedisClient vs redis-benchmark on the same private redis-server, in the same run
	bash Benchmarks/scripts/bench-redis.sh

bench-cluster: ## RedisClient vs redis-benchmark --cluster on a private 6-node Redis Cluster, and vs one redis-server
	bash Benchmarks/scripts/bench-cluster.sh

bench-cache: ## Cached GET /api/v1/products/{id} vs CACHE_ENABLED=false vs /health/live, wrk, two release shops
	bash Benchmarks/scripts/bench-cache.sh

bench-lock: ## Stock strategies (10k orders for 1k units, 3 release shops), lock round trips vs SET, lock hand-off
	bash Benchmarks/scripts/bench-lock.sh

bench-orders: ## Orders/s over HTTP (3 release shops, 16 and 64 callers, random products) vs pgbench tpcb-like, same PostgreSQL
	bash Benchmarks/scripts/bench-orders.sh

bench-memory: ## RSS of one release shop over 5 minutes of reads, orders and SSE streams; plot in .run/bench-memory (OUT=docs/images: the docs' figure)
	bash Benchmarks/scripts/bench-memory.sh

bench-sessions: ## Authenticated GET /api/v1/me vs anonymous /health/live, wrk against one release shop
	bash Benchmarks/scripts/bench-sessions.sh

bench-pubsub: ## Notification latency: broadcast on one release shop, SSE streams on another, at 1,000 events/s
	bash Benchmarks/scripts/bench-pubsub.sh

console-screenshots: services ## Screenshots of every console page (1280x800 and a phone's width) into CONSOLE_SCREENSHOTS (default .run/console-screenshots)
	@bash scripts/test-deps.sh
	$(SWIFT) build --build-tests
	CONSOLE_SCREENSHOTS="$${CONSOLE_SCREENSHOTS:-$(CURDIR)/.run/console-screenshots}" SWIFT="$(SWIFT)" \
		python3 scripts/run-tests.py --skip-build --filter 'ConsoleTests/theConsoleInARealBrowser'

bench-queue: ## StreamQueue produce->consume->ack (1 producer, 4 consumers) and e2e latency vs RQ and Sidekiq, same redis-server
	bash Benchmarks/scripts/bench-queue.sh

fuzz-resp: ## Fuzz the RESP3 decoder with libFuzzer + ASan for FUZZ_SECONDS (default 60)
	bash Fuzz/run.sh RESPFuzz

fuzz-api-decoding: ## Fuzz order/product body decoding + validation and the webhook signature parser (libFuzzer + ASan)
	bash Fuzz/run.sh APIFuzz
