# The example scenarios as a container: the test binary of the module's
# root package (go test -c -tags loadtest, static), the CA certificates for
# https targets, and nothing else: no shell, no package manager. Built by
# `make image` from a context the Makefile assembles; FROM scratch, so
# nothing is pulled.
#
# Arguments are the test binary's flags: -test.run picks the scenario
# (default: TestOrdersSteadyRate), -loadtest.* set the run, e.g.
#
#	docker run --rm steadyload-scenarios:dev -loadtest.host=https://orders.example.com -loadtest.duration=5m
#
# Without -loadtest.host the scenario runs against its in-process stand-in.
FROM scratch
COPY ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
COPY steadyload-scenarios /steadyload-scenarios
# The results folder, writable by the user the binary runs as (a volume
# mounted there replaces it).
COPY --chown=65532:65532 results /results
USER 65532:65532
WORKDIR /results
ENTRYPOINT ["/steadyload-scenarios", "-test.v", "-test.timeout=0", "-test.run=^TestOrdersSteadyRate$", "-loadtest.out=/results"]
