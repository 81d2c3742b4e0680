# msglabs: two commands matter. `make check` starts the checker; `make test` verifies the kit.
GO        ?= go
CHECKER   := bin/checker
COUNT     ?= 1
GOFILES    = $(shell git ls-files '*.go' 2>/dev/null || find . -name '*.go' -not -path './.git/*')

.PHONY: check test unit fmt-check vet seal-check verify doctor up down prepare bench build seal clean

build:
	@$(GO) build -o $(CHECKER) ./checker

## check: open the checker (the TUI on a terminal, the lab list otherwise)
check: build
	@$(CHECKER)

## lab-N: run lab N's tests against your files, e.g. `make lab-3`
lab-%: build
	@$(CHECKER) run $*

## test: everything CI runs: formatting, vet, unit tests of shared/ and checker/, then verify every lab
test: fmt-check vet seal-check unit verify

fmt-check:
	@out=$$(gofmt -l $(GOFILES)); if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi

vet:
	$(GO) vet ./...

unit:
	$(GO) test -race -count=1 ./shared/... ./checker/...

## seal-check: fail when labs/labs.sum or the README's lab table are out of date
seal-check: build
	$(CHECKER) seal --check

verify: build
	$(CHECKER) verify --count $(COUNT)

## seal: regenerate labs/labs.sum (blob ids of tests, lab files, starters, shared/) and the README's lab table (kit maintainers)
seal:
	$(GO) run ./checker seal

doctor: build
	@$(CHECKER) doctor

up:
	docker compose up -d --wait

down:
	docker compose down

## prepare: download modules and warm the build cache, so a workshop room without internet works
prepare:
	$(GO) mod download
	$(GO) build ./...
	$(GO) test -count=1 -run '^$$' ./labs/... ./shared/... ./checker/...
	$(GO) test -race -count=1 -run '^$$' ./labs/...
	$(GO) build -o $(CHECKER) ./checker

## bench: throughput of the lab 6 relay and lab 7 consumers (solutions) next to raw amqp091-go, with ratios
bench: build
	$(CHECKER) bench --count 3

clean:
	rm -rf bin
