#!/usr/bin/env bash
# The CI's own files, checked by `make lint`: the workflows
# (.github/workflows/) by actionlint, run at a pinned version with go run
# (fetched and built once, then from Go's caches; nothing is added to
# go.mod), and the shell scripts by shellcheck. actionlint checks the
# workflows' run: scripts with shellcheck as well, when it is on PATH;
# without it both shellcheck checks are skipped, saying so, unless
# STEADYLOAD_REQUIRE_SHELLCHECK=1 (.ci/run and ci.yml set it), which makes
# that a failure.
set -euo pipefail
cd "$(dirname "$0")/.."

GO=${GO:-go}
ACTIONLINT_VERSION=v1.7.12
# The scripts CI runs: the duet, this one, the nightly workflow's data
# branch commands and the CI entry point.
scripts=(scripts/*.sh .github/scripts/*.sh .ci/run)

if command -v shellcheck >/dev/null 2>&1; then
	shellcheck "${scripts[@]}"
elif [ "${STEADYLOAD_REQUIRE_SHELLCHECK:-}" = 1 ]; then
	echo "lint: shellcheck not found, and STEADYLOAD_REQUIRE_SHELLCHECK=1 (apt-get install shellcheck)" >&2
	exit 1
else
	echo "lint: shellcheck not found: the shell scripts and the workflows' run: scripts are not checked (apt-get install shellcheck)"
fi
# -mod=mod: a module query, whatever GOFLAGS says of this module's own.
GOFLAGS=-mod=mod "$GO" run "github.com/rhysd/actionlint/cmd/actionlint@$ACTIONLINT_VERSION"
