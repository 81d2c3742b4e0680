# msglabs: two commands matter. `make check` starts the checker; `make test` verifies the kit.
GO      ?= go
CHECKER := bin/checker
COUNT   ?= 1
UNIT_P  ?= 4
STAGE   := .ci/stage

.PHONY: check test doctor up down prepare bench build seal clean fmt-check vet seal-check dev-check unit verify slides

build:
	@$(GO) build -o $(CHECKER) ./checker

## check: open the checker (the TUI on a terminal, the lab list otherwise)
check: build
	@$(CHECKER)

## lab-N: run lab N's tests against your files, e.g. `make lab-3`.
# A failing recipe makes GNU make print its own "make: *** [Makefile:NN: lab-3] Error 1" under the checker's
# verdict, which only adds noise. So when the checker fails, the recipe ends make with SIGPIPE (make does not catch
# it and prints nothing): the shell sees status 141, still a failure for `make lab-3 && …`. Scripts that want the
# checker's own exit code (1 failing, 2 environment, 3 not counted) call bin/checker run N directly.
lab-%: build
	@$(CHECKER) run $* || kill -PIPE $$PPID

## test: everything CI runs, stage by stage, each timed: formatting and vet of the kit as shipped (your edits to the
## lab files are never judged), seals, the kit's conventions, the unit tests of shared/ and checker/, then every lab.
# The last stage, left, fails when a test run of this make test left a queue, an exchange or a schema registered on
# the services (or a test binary still holds one). The dev stage skips the headline rule: verify runs every starter anyway and judges the READMEs' headlines from
# those runs. The unit tests run UNIT_P packages at once: many of them wait on the broker, a child or a timer.
test: build
	@$(STAGE) --begin
	@$(STAGE) fmt    $(CHECKER) dev check --rules fmt
	@$(STAGE) vet    $(CHECKER) dev check --rules vet
	@$(STAGE) seal   $(CHECKER) seal --check
	@$(STAGE) dev    $(CHECKER) dev check --skip fmt,vet,headline
	@$(STAGE) unit   $(GO) test -p $(UNIT_P) -race -count=1 ./shared/... ./checker/...
	@$(STAGE) verify $(CHECKER) verify --count $(COUNT)
	@$(STAGE) left   $(CHECKER) dev left --since $$($(STAGE) --began)
	@$(STAGE) --summary

# The stages on their own, for a maintainer who wants one of them.
fmt-check: build
	$(CHECKER) dev check --rules fmt
vet: build
	$(CHECKER) dev check --rules vet
seal-check: build
	$(CHECKER) seal --check
dev-check: build
	$(CHECKER) dev check
unit:
	$(GO) test -race -count=1 ./shared/... ./checker/...
verify: build
	$(CHECKER) verify --count $(COUNT)

## seal: regenerate labs/labs.sum (blob ids of tests, lab files, starters, shared/) and the generated parts of the
## documents (kit maintainers, after changing a lab or shared/)
seal:
	$(GO) run ./checker seal

doctor: build
	@$(CHECKER) doctor

up:
	docker compose up -d --wait

down:
	docker compose down

## prepare: download and build everything once, so a workshop room without internet works: Go modules, the checker,
## every package the labs' tests build on (with and without -race), the slides' npm packages, the container images.
prepare:
	$(GO) mod download
	$(GO) build ./...
	$(GO) build -o $(CHECKER) ./checker
	$(GO) test -count=1 -run '^$$' ./labs/... ./shared/... ./checker/...
	$(GO) test -race -count=1 -run '^$$' ./labs/...
	@sh slides/install-reveal.sh
	@if command -v docker >/dev/null 2>&1 && docker info >/dev/null 2>&1; then docker compose pull; fi

## slides: serve every deck in a browser (reveal.js from `make prepare`; S in a deck opens the speaker view)
SLIDES_ADDR ?= 127.0.0.1:8000
slides:
	@$(GO) run ./checker/slides/cmd/slides -addr $(SLIDES_ADDR)

## bench: throughput of the lab 6 relay and lab 7 consumers (solutions) next to raw amqp091-go, with ratios
bench: build
	$(CHECKER) bench --count 3

clean:
	rm -rf bin
