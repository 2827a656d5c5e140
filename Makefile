# The two commands: `make loadtest` (the example scenarios against the
# container stand-in, or the embedded one without Docker) and `make test`
# (the test suite).

GO       ?= go
# Seconds of load per scenario in `make loadtest`.
DURATION ?= 30
# Extra -loadtest.* flags, e.g. LOADTEST_FLAGS='-loadtest.host=https://api.example.com'.
LOADTEST_FLAGS ?=
# Which scenarios to run (a go test -run pattern).
RUN      ?= .
# Two scenarios run one after the other; each needs its duration plus grace
# and reporting time.
TIMEOUT  ?= $(shell echo $$(( 2 * ($(DURATION) + 60) + 120 )))s

# The container stand-in (loadtest/standin) runs on testcontainers: without
# its Ryuk reaper, an image that would be pulled from a registry (the tests
# remove their containers themselves, .ci/run removes leftovers by label),
# and with published ports reached on the loopback address. Set either in
# the environment to override (GitHub's runners can run Ryuk).
export TESTCONTAINERS_RYUK_DISABLED ?= true
export TESTCONTAINERS_HOST_OVERRIDE ?= 127.0.0.1

.PHONY: loadtest test lint fuzz

loadtest:
	$(GO) test -tags loadtest -count=1 -v -timeout $(TIMEOUT) -run '$(RUN)' . \
		-args -loadtest.duration=$(DURATION)s $(LOADTEST_FLAGS)

test: lint
	$(GO) test -race -count=1 ./...
	bash .github/scripts/loadtest-data_test.sh
	$(GO) test -tags loadtest -count=1 -v -timeout 5m -run 'TestOrdersSteadyRate' . \
		-args -loadtest.duration=5s -loadtest.window=1s -loadtest.out=$(CURDIR)/loadtest-results/ci

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags loadtest ./...

# Every Fuzz* target of the module, FUZZTIME each (their seed corpora under
# testdata/fuzz/ also run in `make test`). A count, not a duration: with a
# duration, Go 1.26's fuzzing coordinator can report its own deadline as a
# failure (go.dev/issue/75804, fixed in Go 1.27).
FUZZTIME ?= 300000x
fuzz:
	@set -e; for pkg in $$($(GO) list ./...); do \
		for f in $$($(GO) test -list '^Fuzz' $$pkg | grep '^Fuzz' || true); do \
			echo "fuzz: $$pkg $$f ($(FUZZTIME))"; \
			$(GO) test -run '^$$' -fuzz "^$$f\$$" -fuzztime $(FUZZTIME) $$pkg; \
		done; \
	done
