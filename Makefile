# criugo: checkpoint/restore in userspace, as a pipeline of small tools.
#
#   make            build every binary into bin/
#   make test       every test: unit, image, fuzz smoke, and C/R (root)
#   make generate   regenerate protobuf Go code and pie blobs
#   make lint       vet, staticcheck, doc comments (scripts/doccheck), the
#                   race detector on the packages with goroutines, and the
#                   pure packages built for darwin
#   make bench      benchmarks against CRIU (dump/restore time, frozen time, peak RSS)
#   make demo       the quick start: checkpoint and restore a live process
#   make gocriu     go-criu v7 (its own module, test/gocriu) drives bin/criu

GO        ?= go
BIN       := bin
CMDS      := $(notdir $(wildcard cmd/*))
VERSION   ?= $(shell git describe --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/criugo/criugo/pkg/version.Version=$(VERSION)
FUZZTIME  ?= 10s
# A CRIU 4.x binary for the harness's interop modes; scripts/build-criu.sh
# builds one into build/ (.ci/run does).
CRIU      ?= $(wildcard $(CURDIR)/build/criu-4.2.1/criu)

.PHONY: all build generate check-generated lint test unit-test fuzz gocriu bench demo clean

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -ldflags '$(LDFLAGS)' -o $(BIN)/ $(addprefix ./cmd/,$(CMDS))

generate:
	bash scripts/gen-protos.sh
	@if [ -f pie/Makefile ]; then $(MAKE) -C pie -B; fi

# CI gate: regenerating must change nothing that is committed.
check-generated: generate
	@if [ -n "$$(git status --porcelain -- images pie)" ]; then \
	  git status --short -- images pie; git diff --stat -- images pie; \
	  echo "generated files are not up to date: run make generate and commit"; exit 1; fi

# Packages that start goroutines: their tests run again under -race.
RACE_PKGS := ./pkg/dump/ ./pkg/restore/ ./pkg/ptrace/ ./pkg/nsenter/ ./pkg/sockdiag/ ./pkg/uffd/

lint:
	$(GO) vet ./...
	$(GO) tool staticcheck ./...
	$(GO) run ./scripts/doccheck
	GOOS=darwin $(GO) build ./pkg/image/... ./pkg/crit/... ./cmd/crit
	$(GO) test -race -count=1 $(RACE_PKGS)

unit-test:
	$(GO) vet ./...
	$(GO) test -count=1 ./...

fuzz:
	bash scripts/fuzz.sh $(FUZZTIME)

# go-criu comes from the Go module proxy (or the module cache): when
# neither answers, the test is skipped with a message, not passed.
gocriu: build
	@cd test/gocriu && if timeout 60 $(GO) mod download >/dev/null 2>&1; then \
	  CRIU_BIN=$(CURDIR)/$(BIN)/criu $(GO) test -count=1 -v . ; \
	else echo "gocriu: SKIP: go-criu v7 is neither in the module cache nor reachable through the module proxy"; fi

test: build unit-test fuzz gocriu
	@if [ -f test/Makefile ]; then $(MAKE) -C test run BIN=$(CURDIR)/$(BIN) CRIU=$(CRIU); fi

bench: build
	bash scripts/bench.sh

demo: build
	bash scripts/demo.sh

clean:
	rm -rf $(BIN)
