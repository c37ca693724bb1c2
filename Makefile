# turnstile: the two commands a new user needs are `make run` and `make test`.
GO       ?= go
BIN      := bin/turnstile
PKGS     := ./...
# Tests run against the embedded broker and registry; a few start child
# processes. One package at a time keeps a 2-core machine responsive.
TESTFLAGS ?= -count=1 -p 1 -timeout 30m

.PHONY: all build run test race systest chaos lint generate bench bench-go up down clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/turnstile

## run: the whole pipeline on embedded services (Ctrl-C to stop; state in ./data, files in ./lake).
## LAKE is where the lake goes: a directory or a URL, e.g. a local MinIO bucket (see the README):
## make run LAKE='s3://turnstile-lake/lake?endpoint=http://127.0.0.1:9000&region=us-east-1&use_path_style=true'
LAKE ?= ./lake
run: build
	./$(BIN) dev --lake-dir '$(LAKE)'

## test: every test, against the embedded broker and schema registry
test:
	$(GO) test $(TESTFLAGS) $(PKGS)

## race: the tests of the concurrent packages under the race detector: the state stores, the relays,
## two members run in-process (httpapi: goka, the windowed stage and the queries), the dashboard's
## hub and the embedded stack (devstack: broker, registry, member, lake-writer and dashboard in one
## process); CI runs it
RACE_PKGS ?= ./state/ ./processors/ ./emitter/ ./httpapi/ ./dashboard/ ./devstack/
race:
	$(GO) test -race $(TESTFLAGS) $(RACE_PKGS)

## systest: the whole-system tests alone (systest/: member processes, kills, outages, scaling, MTA weeks)
systest:
	$(GO) test $(TESTFLAGS) ./systest/

## chaos: the chaos run (systest's TestChaos: members and lake-writer SIGKILLed 12 times, broker and
## registry restarted, one CHAOS summary line) and the kill tests of systest, datalake and state
chaos:
	TURNSTILE_CHAOS=1 $(GO) test -count=1 -p 1 -timeout 30m -run 'Killed|Chaos|Scale|SIGKILL' -v ./systest/... ./datalake/... ./state/...

## lint: formatting and vet
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)

## generate: rewrite what the sink records' declarations in schemas/types.go imply elsewhere
## (codecs/, dashboard/, datalake/ window_gen.go); a test fails when they are stale
generate:
	$(GO) generate ./schemas

## bench: one run (< 10 min): ours vs the limit vs the usual goka way on 2M readings, close latency,
## restore, scaling, one member's memory, the cost curve (devices x partitions), a real MTA week
## through bin/turnstile (produce into dev; skipped without ../shared/data/mta), micro-benchmarks;
## markdown on stdout, every figure in bench/results.json.
## Sizes: BENCHFLAGS='--readings 500000 --phases throughput,goka' (go run ./cmd/turnstile-bench --help)
BENCHFLAGS ?=
bench: build
	$(GO) run ./cmd/turnstile-bench --turnstile-bin $(BIN) $(BENCHFLAGS)

## bench-go: the go test micro-benchmarks in detail (codecs, state; Pebble/LevelDB ratio table)
bench-go:
	$(GO) test -run '^$$' -bench . -benchmem -count=1 ./codecs/... ./state/...
	STATE_BENCH_COMPARE=1 $(GO) test -count=1 -v -run '^TestBenchCompare$$' ./state/

## up/down: the production-like stack (Apache Kafka, Confluent Schema Registry) with docker compose
up:
	docker compose up -d --build

down:
	docker compose down

clean:
	rm -rf bin
