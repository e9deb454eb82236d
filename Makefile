# kickwatch — see README.md.
VERSION ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
GO      ?= go
LDFLAGS := -s -w -X main.version=$(VERSION)
BIN     := kickwatch
CONFIG  ?= config.toml
# The full suite runs with real PostgreSQL + PostgREST and a real Centrifugo
# server, installed (once per machine) and started by testdata/with-services.sh.
TESTFLAGS ?= -race -shuffle=on -timeout 20m

.PHONY: all build run test test-unit check bench load dist clean fuzz

all: build

build:
	CGO_ENABLED=0 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o $(BIN) .

# The main job on the embedded defaults: with the shipped config.toml this is
# the offline demo (a fake Kick chat, mentions printed by the console sink).
run: build
	./$(BIN) run -config $(CONFIG)

# The whole suite, installing and starting what it needs.
test:
	testdata/with-services.sh $(GO) test $(TESTFLAGS) ./...

# Unit tests only: the tests that need PostgREST or Centrifugo skip and say so.
test-unit:
	$(GO) test $(TESTFLAGS) ./...

check:
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@v0.8.2 ./...
	$(MAKE) test

# Go benchmarks; BENCHMARKS.md was measured with BENCHCOUNT=5 and benchstat.
BENCHCOUNT ?= 1
bench:
	$(GO) test -run '^$$' -bench . -benchmem -count $(BENCHCOUNT) ./...

# The load tool against the real binary (BENCHMARKS.md, part 2): end-to-end
# latency at 1,000 frames/s, memory through a 10-minute sink outage (~14
# minutes) and a 1,000-mention backlog drained under Discord's limits.
load:
	$(GO) run ./pipeline/loadgen -mode latency -rate 1000 -channels 50 -mentions 0.1 -duration 30s
	$(GO) run ./pipeline/loadgen -mode drain -backlog 1000 -channels 50
	$(GO) run ./pipeline/loadgen -mode memory -rate 1000 -channels 50 -mentions 0.1 -warm 60s -outage 10m -recover 2m

FUZZTIME ?= 30s
fuzz:
	@for pkg in $$($(GO) list ./...); do \
	  for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz'); do \
	    echo "== $$pkg $$f"; $(GO) test -run '^$$' -fuzz "^$$f$$" -fuzztime $(FUZZTIME) $$pkg || exit 1; \
	  done; \
	done

dist:
	rm -rf dist && mkdir -p dist
	CGO_ENABLED=0 GOOS=linux GOARCH=amd64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/$(BIN)-linux-amd64 .
	CGO_ENABLED=0 GOOS=linux GOARCH=arm64 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/$(BIN)-linux-arm64 .
	CGO_ENABLED=0 GOOS=linux GOARCH=arm GOARM=7 $(GO) build -trimpath -ldflags "$(LDFLAGS)" -o dist/$(BIN)-linux-armv7 .
	cd dist && sha256sum $(BIN)-* > SHA256SUMS

clean:
	rm -rf $(BIN) dist
