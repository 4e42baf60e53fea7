# Targets for working on twimlbin. `make test` is what CI runs (.ci/run).

GO ?= go

# The version stamped into the binary by `make build`.
VERSION ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)

# Fuzz targets as PACKAGE:FuzzName; `make test` runs each briefly, `make fuzz`
# for FUZZTIME each.
FUZZ_TARGETS = ./engine:FuzzCompile ./engine:FuzzRender ./api:FuzzSignature ./api:FuzzDecode ./api:FuzzAddParams
TEST_FUZZTIME ?= 15s
FUZZTIME ?= 5m

STATICCHECK_VERSION ?= v0.8.2

# fuzz-each runs every target of FUZZ_TARGETS for $(1). A target that does
# not exist fails, rather than letting go test pass without fuzzing.
define fuzz-each
	@set -e; for target in $(FUZZ_TARGETS); do \
		pkg=$${target%%:*}; name=$${target#*:}; \
		$(GO) test -list="^$$name$$" $$pkg | grep -qx "$$name" || \
			{ echo "no fuzz test $$name in $$pkg: fix FUZZ_TARGETS in the Makefile" >&2; exit 1; }; \
		echo "fuzz $$name in $$pkg for $(1)"; \
		$(GO) test -run='^$$' -fuzz="^$$name$$" -fuzztime=$(1) $$pkg; \
	done
endef

.PHONY: build run test fuzz lint bench crash soak clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o bin/twimlbin ./cmd/twimlbin

run:
	@mkdir -p data
	$(GO) run ./cmd/twimlbin serve --db data/twimlbin.db

# test runs every test, then the API's and the web form's again over the
# etcd backend (an etcd member started on loopback: Debian's etcd-server,
# or on a machine without one, an etcd that internal/etcdtest builds on the
# first run, while the test binaries that need it wait: hence the timeout).
test:
	$(GO) test -race -count=1 -timeout=20m ./...
	TWIMLBIN_TEST_BACKEND=etcd $(GO) test -race -count=1 ./api ./web
	$(call fuzz-each,$(TEST_FUZZTIME))

fuzz:
	$(call fuzz-each,$(FUZZTIME))

lint:
	$(GO) vet ./...
	@test -z "$$(gofmt -l .)" || { echo "gofmt -l: these files need gofmt -w:"; gofmt -l .; exit 1; }
	$(GO) run honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION) ./...

# bench runs the Go benchmarks, builds bin/twimlbin, then the load run on
# loopback (cmd/twimlbin-load): `bin/twimlbin serve` as users run it (default
# flags, access log on, each server in a process of its own) against a bare
# Echo server answering the same bytes, with the tool's own client and with
# wrk when it is installed (apt-get install wrk); creates through the API; a
# random bin of 100,000 against a serve holding one, with resident memory;
# and serve over a 3-member etcd cluster on loopback against serve over a
# bbolt file (when etcd is installed: apt-get install etcd-server): the bin
# URL, creates, memory and etcd's data with 100,000 bins, and how soon an
# update made on one of three nodes is served by the others (about 10
# minutes in all, 4 of them over etcd; `go run ./cmd/twimlbin-load -h` for
# what it does and its flags, set with LOADTEST_FLAGS).
LOADTEST_FLAGS ?=
bench:
	$(GO) test -run='^$$' -bench=. -benchmem ./...
	$(MAKE) --no-print-directory build
	$(GO) run ./cmd/twimlbin-load -twimlbin bin/twimlbin $(LOADTEST_FLAGS)

# crash kills the server with SIGKILL CRASH_CYCLES times under write load
# and checks that no acknowledged write is lost (make test runs 3 cycles).
CRASH_CYCLES ?= 50
crash:
	CRASH_CYCLES=$(CRASH_CYCLES) $(GO) test -count=1 -timeout=30m -run='^TestCrashKeepsAcknowledgedWrites$$' -v ./cmd/twimlbin

# soak runs sustained load on the bin URL mixed with API writes for
# SOAK_DURATION, reporting throughput, p50/p99 latency, errors (must be
# zero) and resident memory over time.
SOAK_DURATION ?= 5m
SOAK_TIMEOUT ?= 30m
soak:
	SOAK_DURATION=$(SOAK_DURATION) $(GO) test -run '^TestSoak$$' -count=1 -timeout $(SOAK_TIMEOUT) -v ./cmd/twimlbin

clean:
	rm -rf bin
