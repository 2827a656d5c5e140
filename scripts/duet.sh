#!/usr/bin/env bash
# Duet run of the example service for a pull request: builds cmd/orders at
# the base (the merge base with origin/main, or the ref given as $1) and in
# the working tree (HEAD and any uncommitted change), starts both on
# loopback ports, and runs TestOrdersSteadyRate as a duet against them
# (-loadtest.duet): every start goes to both, and the candidate is judged
# against the base within the run. The comparison is written to
# loadtest-results/duet/ and, in GitHub Actions, to $GITHUB_STEP_SUMMARY.
# Exit status: the test's (0 pass, 1 fail), 2 when the duet could not be
# set up, 130 or 143 when interrupted (SIGINT, SIGTERM). Whatever the
# outcome, the services are stopped and the base's worktree is removed.
#
#   scripts/duet.sh                 # base: git merge-base origin/main HEAD
#   scripts/duet.sh v0.1.0          # base: a given ref (make duet DUET_BASE=v0.1.0)
#   RATE=20 DURATION=30s scripts/duet.sh
#
# Environment: GO (default go), RATE (starts per second, default 40),
# DURATION (default 40s: with the example's task mix, at least 200 pairs
# for every task, the fewest the duet judges), OUT (default
# loadtest-results/duet), and the ORDERS_* knobs of the candidate only as
# CAND_ORDERS_LATENCY_SCALE (to watch the duet fire:
# CAND_ORDERS_LATENCY_SCALE=1.3 scripts/duet.sh).
set -euo pipefail

GO=${GO:-go}
RATE=${RATE:-40}
DURATION=${DURATION:-40s}

die() {
	echo "duet: $*" >&2
	exit 2
}

root=$(git rev-parse --show-toplevel 2>/dev/null) || die "not in a git checkout"
cd "$root"
OUT=${OUT:-$root/loadtest-results/duet}
for cmd in "$GO" curl python3; do
	command -v "$cmd" >/dev/null 2>&1 || die "$cmd not found: it is needed to build and start the services"
done

ref=${1:-}
if [ -z "$ref" ]; then
	git rev-parse -q --verify 'origin/main^{commit}' >/dev/null ||
		die "no origin/main to take the merge base with: give the base as a ref, e.g. scripts/duet.sh main or make duet DUET_BASE=HEAD~1"
	ref=$(git merge-base origin/main HEAD) ||
		die "HEAD and origin/main have no merge base (a shallow clone? git fetch --unshallow): give the base as a ref, e.g. make duet DUET_BASE=HEAD~1"
fi
base_rev=$(git rev-parse -q --verify "$ref^{commit}") ||
	die "base $ref is not a commit here (fetched? a shallow clone lacks history): give a ref that is, e.g. make duet DUET_BASE=HEAD~1"
head_rev=$(git rev-parse HEAD)
head_what=HEAD
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
	head_what="HEAD and the uncommitted changes of the working tree"
fi

work=$(mktemp -d)
pids=()
test_pid=
interrupted=
# shellcheck disable=SC2317 # run by the EXIT trap
cleanup() {
	trap '' INT TERM
	for pid in "${pids[@]}"; do
		kill "$pid" 2>/dev/null || true
		wait "$pid" 2>/dev/null || true
	done
	if [ -d "$work/base-src" ]; then
		git worktree remove --force "$work/base-src" >/dev/null 2>&1 || true
	fi
	rm -rf "$work"
}
trap cleanup EXIT

# on_signal STATUS: before the run, exit STATUS at once; during it, pass
# SIGINT on to the test, which stops the load and writes what it has, and
# exit STATUS once it has.
# shellcheck disable=SC2317 # run by the INT and TERM traps
on_signal() {
	if [ -z "$test_pid" ]; then
		echo "duet: interrupted" >&2
		exit "$1"
	fi
	if [ -z "$interrupted" ]; then
		echo "duet: interrupted: stopping the run; its results so far are written" >&2
	fi
	interrupted=$1
	kill -INT "$test_pid" 2>/dev/null || true
}
trap 'on_signal 130' INT
trap 'on_signal 143' TERM

# The services and the test run in sessions of their own (setsid), so that
# a Ctrl-C in the terminal reaches this script only: it stops the test
# first and the services after it, and a service never goes away under the
# load. A plain command, not a function, so that $! is the program's own
# id (the script runs without job control: setsid does not fork).
detached=()
if command -v setsid >/dev/null 2>&1; then
	detached=(setsid)
fi

echo "duet: base $base_rev ($ref), candidate $head_rev ($head_what)"
git worktree add --detach "$work/base-src" "$base_rev" >/dev/null 2>&1 ||
	die "git worktree add $base_rev failed"
(cd "$work/base-src" && CGO_ENABLED=0 "$GO" build -o "$work/orders-base" ./cmd/orders) ||
	die "building cmd/orders at the base $base_rev failed"
CGO_ENABLED=0 "$GO" build -o "$work/orders-head" ./cmd/orders ||
	die "building cmd/orders in the working tree failed"
"$GO" test -c -tags loadtest -o "$work/duet.test" . ||
	die "building the scenarios' test failed"

# A free loopback port: the kernel's pick, released for the service.
free_port() {
	python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()'
}

# start NAME BINARY PORT [VAR=VALUE...]: runs the service on 127.0.0.1:PORT
# and waits until /healthz answers (30 s at most).
start() {
	local name=$1 bin=$2 port=$3
	shift 3
	"${detached[@]}" env "$@" "$bin" -addr "127.0.0.1:$port" >"$work/$name.log" 2>&1 &
	pids+=("$!")
	for _ in $(seq 1 300); do
		if curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1; then
			return 0
		fi
		sleep 0.1
	done
	echo "duet: $name did not answer on port $port:" >&2
	cat "$work/$name.log" >&2
	exit 2
}

base_port=$(free_port)
start base "$work/orders-base" "$base_port"
head_port=$(free_port)
start head "$work/orders-head" "$head_port" ${CAND_ORDERS_LATENCY_SCALE:+ORDERS_LATENCY_SCALE=$CAND_ORDERS_LATENCY_SCALE}

mkdir -p "$OUT"
if [ -n "${GITHUB_STEP_SUMMARY:-}" ]; then
	# shellcheck disable=SC2016 # the backquotes are Markdown's
	printf '### Duet of cmd/orders\n\nBase (A) `%s` (%s), candidate (B) `%s` (%s), %s starts/s for %s.\n\n' \
		"$base_rev" "$ref" "$head_rev" "$head_what" "$RATE" "$DURATION" >>"$GITHUB_STEP_SUMMARY"
fi
"${detached[@]}" "$work/duet.test" -test.v -test.count=1 -test.timeout=10m -test.run '^TestOrdersSteadyRate$' \
	-loadtest.host="http://127.0.0.1:$head_port" -loadtest.duet="http://127.0.0.1:$base_port" \
	-loadtest.rate="$RATE" -loadtest.duration="$DURATION" -loadtest.out="$OUT" &
test_pid=$!
# wait returns early when a signal is trapped: wait again while the test
# is still there, for its status.
status=0
while :; do
	wait "$test_pid" && status=0 || status=$?
	kill -0 "$test_pid" 2>/dev/null || break
done
test_pid=
if [ -n "$interrupted" ]; then
	echo "duet: interrupted; partial results in $OUT" >&2
	exit "$interrupted"
fi
case $status in
0) echo "duet: PASS; results in $OUT" ;;
1) echo "duet: FAIL (see the table and the lines above); results in $OUT" >&2 ;;
*) echo "duet: the test exited with status $status; results in $OUT" >&2 ;;
esac
exit "$status"
