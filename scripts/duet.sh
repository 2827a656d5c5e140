#!/usr/bin/env bash
# Duet run of the example service for a pull request: builds cmd/orders at
# the base (the merge base with origin/main, or the ref given as $1) and at
# HEAD, starts both on loopback ports, and runs TestOrdersSteadyRate as a
# duet against them (-loadtest.duet): every start goes to both, and the
# candidate (HEAD) is judged against the base within the run. The
# comparison is written to loadtest-results/duet/ and, in GitHub Actions,
# to $GITHUB_STEP_SUMMARY. Exit status: the test's.
#
#   scripts/duet.sh                 # base: git merge-base origin/main HEAD
#   scripts/duet.sh v0.1.0          # base: a given ref
#   RATE=20 DURATION=30s scripts/duet.sh
#
# Environment: GO (default go), RATE (starts per second, default 20),
# DURATION (default 30s), OUT (default loadtest-results/duet), and the
# ORDERS_* knobs of the candidate only as CAND_ORDERS_LATENCY_SCALE (to
# watch the duet fire: CAND_ORDERS_LATENCY_SCALE=1.3 scripts/duet.sh).
set -euo pipefail

GO=${GO:-go}
RATE=${RATE:-20}
DURATION=${DURATION:-30s}
root=$(git rev-parse --show-toplevel)
cd "$root"
OUT=${OUT:-$root/loadtest-results/duet}

ref=${1:-}
if [ -z "$ref" ]; then
	ref=$(git merge-base origin/main HEAD)
fi
base_rev=$(git rev-parse --verify "$ref^{commit}")
head_rev=$(git rev-parse HEAD)

work=$(mktemp -d)
pids=()
cleanup() {
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	git worktree remove --force "$work/base-src" 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

echo "duet: base $base_rev ($ref), candidate $head_rev (HEAD)"
git worktree add --detach "$work/base-src" "$base_rev" >/dev/null
(cd "$work/base-src" && CGO_ENABLED=0 "$GO" build -o "$work/orders-base" ./cmd/orders)
CGO_ENABLED=0 "$GO" build -o "$work/orders-head" ./cmd/orders

# A free loopback port: the kernel's pick, released for the service.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME BINARY PORT [VAR=VALUE...]: runs the service on 127.0.0.1:PORT
# and waits until /healthz answers (30 s at most).
start() {
	local name=$1 bin=$2 port=$3
	shift 3
	env "$@" "$bin" -addr "127.0.0.1:$port" >"$work/$name.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 1 300); do
		if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "duet: $name did not answer on port $port:" >&2
	cat "$work/$name.log" >&2
	return 1
}

base_port=$(free_port)
start base "$work/orders-base" "$base_port"
head_port=$(free_port)
start head "$work/orders-head" "$head_port" ${CAND_ORDERS_LATENCY_SCALE:+ORDERS_LATENCY_SCALE=$CAND_ORDERS_LATENCY_SCALE}

mkdir -p "$OUT"
"$GO" test -tags loadtest -count=1 -v -timeout 10m -run '^TestOrdersSteadyRate$' . -args \
	-loadtest.host="http://127.0.0.1:$head_port" -loadtest.duet="http://127.0.0.1:$base_port" \
	-loadtest.rate="$RATE" -loadtest.duration="$DURATION" -loadtest.out="$OUT"
