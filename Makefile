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

.PHONY: loadtest test lint fuzz image deploy-tools deploy-check duet

loadtest:
	$(GO) test -tags loadtest -count=1 -v -timeout $(TIMEOUT) -run '$(RUN)' . \
		-args -loadtest.duration=$(DURATION)s $(LOADTEST_FLAGS)

# A duet run of the example service: cmd/orders built at DUET_BASE (default
# the merge base with origin/main; without origin, give a ref) and in the
# working tree, both on loopback, judged the working tree against the base
# within one run (scripts/duet.sh; docs/ci.md).
DUET_BASE ?=
duet:
	GO=$(GO) bash scripts/duet.sh $(DUET_BASE)

test: lint
	$(GO) test -race -count=1 ./...
	bash .github/scripts/loadtest-data_test.sh
	$(GO) test -tags loadtest -count=1 -v -timeout 5m -run 'TestOrdersSteadyRate' . \
		-args -loadtest.duration=5s -loadtest.window=1s -loadtest.out=$(CURDIR)/loadtest-results/ci

# gofmt, go vet with and without the loadtest tag, and the CI's own files:
# the workflows by actionlint (a pinned version, fetched by go run) and the
# shell scripts by shellcheck where it is installed (scripts/lint-ci.sh).
lint:
	@out=$$(gofmt -l $$(git ls-files '*.go' 2>/dev/null || find . -name '*.go')); \
		if [ -n "$$out" ]; then echo "gofmt would change:"; echo "$$out"; exit 1; fi
	$(GO) vet ./...
	$(GO) vet -tags loadtest ./...
	GO=$(GO) bash scripts/lint-ci.sh

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

# The container images (deploy/image/): the example scenarios compiled into
# one test binary (go test -c), and the steadyload command when
# cmd/steadyload exists, each a static binary with the host's CA
# certificates FROM scratch, run as uid 65532. Nothing is pulled. Tag them
# with IMAGE and CLI_IMAGE; GOARCH is the engine's machine.
IMAGE     ?= steadyload-scenarios:dev
CLI_IMAGE ?= steadyload:dev
GOARCH    ?= $(shell $(GO) env GOARCH)
CA_CERTS  ?= /etc/ssl/certs/ca-certificates.crt
image:
	@set -e; ctx=$$(mktemp -d); trap 'rm -rf "$$ctx"' EXIT; \
	cp $(CA_CERTS) "$$ctx/ca-certificates.crt"; cp deploy/image/*.Dockerfile "$$ctx/"; \
	mkdir "$$ctx/results"; \
	CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) test -c -tags loadtest -trimpath -buildvcs=false \
		-ldflags='-s -w' -o "$$ctx/steadyload-scenarios" .; \
	docker build -q -t $(IMAGE) -f "$$ctx/scenarios.Dockerfile" "$$ctx"; \
	echo "image: $(IMAGE)"; \
	if [ -d cmd/steadyload ]; then \
		CGO_ENABLED=0 GOOS=linux GOARCH=$(GOARCH) $(GO) build -trimpath -buildvcs=false \
			-ldflags='-s -w' -o "$$ctx/steadyload" ./cmd/steadyload; \
		docker build -q -t $(CLI_IMAGE) -f "$$ctx/cli.Dockerfile" "$$ctx"; \
		echo "image: $(CLI_IMAGE)"; \
	else \
		echo "image: no cmd/steadyload: $(CLI_IMAGE) not built"; \
	fi

# The tools that check the Kubernetes manifests of deploy/: kustomize (whose
# module also ships the Kubernetes OpenAPI definitions the schemas are made
# from) and kubeconform.
KUSTOMIZE_VERSION   ?= v5.8.2
KUBECONFORM_VERSION ?= v0.8.0
deploy-tools:
	$(GO) install sigs.k8s.io/kustomize/kustomize/v5@$(KUSTOMIZE_VERSION)
	$(GO) install github.com/yannh/kubeconform/cmd/kubeconform@$(KUBECONFORM_VERSION)

# kustomize build of every overlay of deploy/, validated by kubeconform
# -strict; fails where the tools are missing (make deploy-tools).
deploy-check:
	STEADYLOAD_REQUIRE_DEPLOY_TOOLS=1 $(GO) test -count=1 -run 'TestManifests' ./deploy
