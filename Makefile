# Ward's build. Every Go command needs GOEXPERIMENT=jsonv2 (mautrix's
# federation/pdu on Go 1.26) and -tags goolm (mautrix's pure-Go Olm, no cgo).
#
#   make run    build and start `ward serve` on the embedded SQLite default
#   make test   the whole suite: unit and black-box tests, brief fuzz runs,
#               and the Node interop tests when they exist
#   make build  build bin/ward
#   make fuzz   fuzz every target longer (FUZZTIME=5m make fuzz)

GO       ?= go
TAGS     := -tags goolm
FUZZTIME ?= 10s
VERSION  ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS  := -X main.version=$(VERSION)
# Optional configuration file for `make run` (CONFIG=ward.yaml make run).
CONFIG   ?=

export GOEXPERIMENT := jsonv2
SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

.PHONY: all build run test test-go test-fuzz test-interop fuzz vet fmt clean

all: build

build:
	$(GO) build $(TAGS) -ldflags '$(LDFLAGS)' -o bin/ward ./cmd/ward

run: build
	./bin/ward serve $(if $(CONFIG),--config $(CONFIG))

test: test-go test-fuzz test-interop

test-go:
	$(GO) test $(TAGS) -count=1 ./...

# Every fuzz target in the module, found by `go test -list`, so a new target
# is fuzzed without editing this file. On a loaded machine the fuzzer can
# stop with "context deadline exceeded" when its time runs out while an
# input (a request to a real server) is still running; that is no failing
# input, so the target is run once more, and fails for real the second time.
test-fuzz:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=$(FUZZTIME)

fuzz:
	@targets=$$($(GO) test $(TAGS) -list '^Fuzz' ./... | awk '/^Fuzz/ { names = names " " $$1; next } \
		/^ok / { n = split(names, a, " "); for (i = 1; i <= n; i++) print $$2 ":" a[i]; names = "" }'); \
	if [ -z "$$targets" ]; then echo "no fuzz targets"; exit 0; fi; \
	for t in $$targets; do \
		pkg=$${t%%:*}; name=$${t##*:}; \
		echo "fuzz $$pkg $$name for $(FUZZTIME)"; \
		out=$$(mktemp); \
		if ! $(GO) test $(TAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg 2>&1 | tee $$out; then \
			if grep -q 'context deadline exceeded' $$out && ! grep -q 'Failing input written' $$out; then \
				echo "fuzz $$name: the fuzzer's own deadline ran out while an input was still running (no failing input); once more"; \
				$(GO) test $(TAGS) -run '^$$' -fuzz "^$$name\$$" -fuzztime $(FUZZTIME) $$pkg || { rm -f $$out; exit 1; }; \
			else rm -f $$out; exit 1; fi; \
		fi; \
		rm -f $$out; \
	done

# Interop tests drive the server with matrix-js-sdk (Node). They live in
# interop/ once written; until then this step says so and passes.
test-interop:
	@if [ -f interop/package.json ]; then \
		$(GO) build $(TAGS) -ldflags '$(LDFLAGS)' -o bin/ward ./cmd/ward && \
		cd interop && npm ci --no-audit --no-fund && WARD_BIN=../bin/ward npm test; \
	else \
		echo "interop: no interop/package.json yet, skipping"; \
	fi

vet:
	$(GO) vet $(TAGS) ./...

fmt:
	gofmt -l -w .

clean:
	rm -rf bin
