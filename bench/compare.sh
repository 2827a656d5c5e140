#!/usr/bin/env bash
# Compares the harness with the load generators users would pick instead
# (wrk, fortio, hey, vegeta, k6, Locust) on the same workloads, on this
# machine, in one batch, and prints the tables: the harness's ratio to
# the best peer, and its latency overhead against each peer's pair by
# pair. See docs/performance.md.
#
#   bench/compare.sh                 # everything, 3 repetitions (about 35 minutes)
#   REPS=1 WORKLOADS=delay bench/compare.sh
#   TOGETHER_REPS=15 TOOLS="vegeta k6 steadyload" WORKLOADS=together bench/compare.sh
#
# The reference server (bench/refserver) is pinned to core $SERVER_CPU and
# every generator to core $GEN_CPU. Each generator's CPU time and peak
# resident memory are measured from outside (bench/benchtab measure); the
# server counts the requests it answered. Repetitions interleave the tools,
# so a noisy moment hits them all. The together workload is the delay
# workload with each peer run at the same moment as the harness, both on
# the generator's core, so that every noisy moment hits both sides of the
# pair; the harness runs one start more than the peer over the run, so
# that the two schedules slide through every phase of each other.
# Results go to $OUT: results.tsv (one line per run), table.md, and each
# run's own output.
#
# Settings (environment): REPS (3), DELAY_REPS (the delay workload's
# repetitions, REPS unless set: its tools' p50s differ by less than one
# run's spread), TOGETHER_REPS (the together workload's, DELAY_REPS
# unless set), TOOLS ("wrk fortio hey vegeta k6 locust steadyload"),
# WORKLOADS ("saturation fixed delay together rss"), OUT
# (bench/out/<UTC time>), PORT (18099), SERVER_CPU (0), GEN_CPU (1),
# SKIP_INSTALL (set to skip installing the peers), SAT_SECS, FIXED_SECS,
# DELAY_SECS, RSS_SECS (the workloads' lengths: 10, 20, 20, 30), DELAY_MS
# and DELAY_RATE (the delay workload's server delay and rate: 20, 50),
# SERVER_TIMER (precise: the server waits its delay on a timerfd; go: with
# time.Sleep, which can end up to 1 ms late and adds that to every tool's
# latency).
set -euo pipefail
cd "$(dirname "$0")/.."

REPS=${REPS:-3}
DELAY_REPS=${DELAY_REPS:-$REPS}
TOGETHER_REPS=${TOGETHER_REPS:-$DELAY_REPS}
subject=steadyload # the harness: bench/driver
TOOLS=${TOOLS:-"wrk fortio hey vegeta k6 locust steadyload"}
WORKLOADS=${WORKLOADS:-"saturation fixed delay together rss"}
OUT=${OUT:-bench/out/$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PORT:-18099}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
SERVER_TIMER=${SERVER_TIMER:-precise}

# The workloads (the rows of the comparison); the lengths may be shortened
# for a trial of the script itself.
SAT_CONNS=16 SAT_SECS=${SAT_SECS:-10}
FIXED_RATE=1000 FIXED_SECS=${FIXED_SECS:-20}
DELAY_MS=${DELAY_MS:-20} DELAY_RATE=${DELAY_RATE:-50} DELAY_SECS=${DELAY_SECS:-20}
RSS_RATE=2000 RSS_SECS=${RSS_SECS:-30}

GOBIN_DIR="$(go env GOPATH)/bin"
export PATH="$GOBIN_DIR:$PATH"
BASE="http://127.0.0.1:$PORT"

die() { echo "compare: $*" >&2; exit 1; }

[ "$(nproc)" -ge 2 ] || die "needs 2 cores (server on one, generator on the other); this machine has $(nproc)"
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
command -v curl >/dev/null || die "curl not found"
[ -n "${SKIP_INSTALL:-}" ] || bash bench/install-peers.sh

mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
BIN="$OUT/bin"
go build -o "$BIN/refserver" ./bench/refserver
go build -o "$BIN/benchtab" ./bench/benchtab
go test -c -tags loadtest -o "$BIN/driver.test" ./bench/driver

RESULTS="$OUT/results.tsv"
printf 'workload\tdesc\ttool\trep\tdelay_ms\texpected\trequests\tcpu_s\tpeak_rss_mb\trss_growth\tp50_ms\tp99_ms\n' >"$RESULTS"

SERVER_PID=""
PEER_PID="" # a together run's peer, in the background
stop_server() {
	if [ -n "$SERVER_PID" ]; then
		kill "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}
stop_all() { # the EXIT trap: a background job ignores SIGINT, so it is stopped here
	if [ -n "$PEER_PID" ]; then
		kill "$PEER_PID" 2>/dev/null || true
		wait "$PEER_PID" 2>/dev/null || true
	fi
	stop_server
}
trap stop_all EXIT

start_server() { # delay
	stop_server
	taskset -c "$SERVER_CPU" "$BIN/refserver" -addr "127.0.0.1:$PORT" -delay "$1" -timer "$SERVER_TIMER" >"$OUT/refserver.log" 2>&1 &
	SERVER_PID=$!
	for _ in $(seq 50); do
		curl -sf "$BASE/__count" >/dev/null && return 0
		sleep 0.1
	done
	die "reference server did not start; see $OUT/refserver.log"
}

count() { curl -sf "$BASE/__count"; }

# cmd_for TOOL WORKLOAD DIR: prints nothing, sets CMD (an array), ENV_VARS
# and REPORT (the file benchtab latency reads), or CMD=() when the tool has
# no such mode.
cmd_for() {
	local tool=$1 wl=$2 dir=$3 conns rate secs
	CMD=() ENV_VARS=() REPORT="" EXPECTED=""
	case $wl in
	saturation) conns=$SAT_CONNS rate=0 secs=$SAT_SECS ;;
	fixed) rate=$FIXED_RATE secs=$FIXED_SECS conns=16 ;;
	delay | together) rate=$DELAY_RATE secs=$DELAY_SECS conns=2 ;;
	rss) rate=$RSS_RATE secs=$RSS_SECS conns=20 ;;
	esac
	case $tool in
	wrk)
		# wrk has no fixed-rate mode; at the server's 20 ms delay one
		# connection sends about 48 req/s, the nearest it comes to 50.
		case $wl in
		saturation) CMD=(wrk -t1 -c"$conns" -d"${secs}s" --latency "$BASE/") ;;
		delay) CMD=(wrk -t1 -c1 -d"${secs}s" --latency "$BASE/") REPORT=$dir/stdout ;;
		esac ;;
	fortio)
		CMD=(fortio load -loglevel Warning -qps "$rate" -c "$conns" -t "${secs}s" -p 50,99 -json "$dir/report.json" "$BASE/")
		REPORT=$dir/report.json ;;
	hey)
		if [ "$rate" = 0 ]; then
			CMD=(hey -z "${secs}s" -c "$conns" "$BASE/")
		else # -q is per worker
			CMD=(hey -z "${secs}s" -c "$conns" -q "$(awk "BEGIN{print $rate/$conns}")" "$BASE/")
		fi
		REPORT=$dir/stdout ;;
	vegeta)
		echo "GET $BASE/" >"$dir/targets"
		if [ "$rate" = 0 ]; then
			CMD=(vegeta attack -targets "$dir/targets" -rate 0 -workers "$conns" -max-workers "$conns" -duration "${secs}s" -output "$dir/results.bin")
		else
			CMD=(vegeta attack -targets "$dir/targets" -rate "$rate" -duration "${secs}s" -output "$dir/results.bin")
		fi
		REPORT=$dir/report.json ;;
	k6)
		local shape=rate vus=$((rate / 20 + 5))
		[ "$rate" = 0 ] && shape=vus vus=$conns
		CMD=(k6 run -q --no-usage-report -e SHAPE=$shape -e VUS=$vus -e RATE=$rate -e DURATION="${secs}s"
			-e TARGET="$BASE/" -e SUMMARY="$dir/report.json" bench/k6.js)
		REPORT=$dir/report.json ;;
	locust)
		local users=$conns
		if [ "$rate" != 0 ]; then # 10 req/s per user
			users=$((rate / 10))
			ENV_VARS=(LOCUST_RATE_PER_USER=10)
		fi
		CMD=(/usr/bin/locust -f bench/locustfile.py --headless -u "$users" -r "$users" -t "${secs}s"
			-H "$BASE" --csv "$dir/locust" --only-summary --loglevel WARNING)
		REPORT=$dir/locust_stats.csv ;;
	steadyload)
		local shape=(-loadtest.rate="$rate")
		if [ "$wl" = together ]; then
			# One start more over the run than the peer: the two schedules
			# slide once through every phase of each other (see
			# run_together).
			shape=(-loadtest.rate="$(awk "BEGIN{printf \"%.17g\", ($rate * $secs + 1) / $secs}")")
			EXPECTED=$((rate * secs + 1))
		fi
		[ "$rate" = 0 ] && shape=(-loadtest.users="$conns" -loadtest.wait=none -loadtest.spawn-rate=1000)
		CMD=("$BIN/driver.test" -test.run '^TestDriver$' -test.v -test.timeout 10m
			-loadtest.host="$BASE" -loadtest.allow-high-load "${shape[@]}" -loadtest.duration="${secs}s" -loadtest.out="$dir")
		REPORT=$dir/TestDriver_stats.csv ;;
	*) die "unknown tool $tool" ;;
	esac
	[ -n "$EXPECTED" ] || EXPECTED=$((rate * secs))
}

# vegeta_report DIR WHAT: vegeta's JSON report of DIR's results.bin; a
# failure is said and the batch goes on (the run's row then has no latency).
vegeta_report() {
	vegeta report -type=json "$1/results.bin" >"$1/report.json" ||
		echo "compare: vegeta report ($2) failed" >&2
}

run_one() { # workload desc delay_ms tool rep
	local wl=$1 desc=$2 delay_ms=$3 tool=$4 rep=$5
	local dir="$OUT/$wl/$tool/$rep"
	mkdir -p "$dir"
	cmd_for "$tool" "$wl" "$dir"
	if [ ${#CMD[@]} -eq 0 ]; then
		printf '%s\t%s\t%s\t%d\t%s\t-\t-\t-\t-\t-\t-\t-\n' "$wl" "$desc" "$tool" "$rep" "$delay_ms" >>"$RESULTS"
		return
	fi
	local series=() before after
	[ "$wl" = rss ] && series=(-series "$dir/rss.tsv" -every 1s)
	before=$(count)
	if ! env "${ENV_VARS[@]}" taskset -c "$GEN_CPU" "$BIN/benchtab" measure -o "$dir/measure.tsv" "${series[@]}" -- "${CMD[@]}" \
		>"$dir/stdout" 2>"$dir/stderr"; then
		echo "compare: $tool ($wl, rep $rep) exited with an error; see $dir/stderr" >&2
	fi
	sleep 0.5 # let the last answers be counted
	after=$(count)
	[ "$tool" = vegeta ] && vegeta_report "$dir" "$wl, rep $rep"
	write_rows "$wl" "$desc" "$tool" "$rep" "$delay_ms" "$EXPECTED" $((after - before)) "$dir" "$REPORT"
	sleep 1
}

# write_rows WORKLOAD DESC TOOL REP DELAY_MS EXPECTED REQUESTS DIR REPORT:
# the run's line of results.tsv, its latency read from REPORT for the delay
# and together workloads; for k6 a second line, k6-iteration.
write_rows() {
	local wl=$1 desc=$2 tool=$3 rep=$4 delay_ms=$5 expected=$6 requests=$7 dir=$8 report=$9
	local lat="-	-"
	if [ "$delay_ms" != 0 ] && [ -n "$report" ]; then
		lat=$("$BIN/benchtab" latency "$tool" "$report" 2>>"$dir/stderr") || lat="-	-"
	fi
	local m="-	-	-"
	[ -s "$dir/measure.tsv" ] && m=$(cat "$dir/measure.tsv")
	[ "$expected" = 0 ] && expected=-
	printf '%s\t%s\t%s\t%d\t%s\t%s\t%s\t%s\t%s\n' "$wl" "$desc" "$tool" "$rep" "$delay_ms" "$expected" "$requests" "$m" "$lat" >>"$RESULTS"
	printf 'compare: %-10s %-10s rep %d: %s requests, cpu_s/peak_mb/growth %s, p50/p99 ms %s\n' \
		"$wl" "$tool" "$rep" "$requests" "$(echo "$m" | tr '\t' ' ')" "$(echo "$lat" | tr '\t' ' ')" >&2
	if [ "$delay_ms" != 0 ] && [ "$tool" = k6 ] && [ -n "$report" ]; then
		# The same run read from the iteration's start (k6-iteration), as
		# the harness's task latency counts: building the request and
		# taking a connection, which http_req_duration leaves out,
		# included. Its cost figures are k6's own, so none here.
		lat=$("$BIN/benchtab" latency k6-iteration "$report" 2>>"$dir/stderr") || lat="-	-"
		printf '%s\t%s\t%s\t%d\t%s\t-\t-\t-\t-\t-\t%s\n' "$wl" "$desc" k6-iteration "$rep" "$delay_ms" "$lat" >>"$RESULTS"
	fi
}

# run_together DESC DELAY_MS PEER REP: PEER and the harness started at the
# same moment, both pinned to the generator's core, against the same
# server. The server's count is the pair's, so neither line has one.
#
# Two schedules of one rate keep one phase to each other all run long,
# and the phase decides the pair: whichever sends soon after the other
# finds both cores awake, the other finds them cold. Started a few ms
# apart, two copies of the harness differed by 0.08-0.4 ms at p50, in
# favour of the one whose load started later, in 8 pairs of 8. So the harness runs one start more than
# the peer over the run (50.05 req/s against 50 for 20 s): its schedule
# slides once through every phase of the peer's, and each side meets
# every phase of the other as often.
run_together() {
	local desc=$1 delay_ms=$2 peer=$3 rep=$4
	local wl="together:$peer" dir="$OUT/together/$peer/$rep"
	mkdir -p "$dir/$peer" "$dir/$subject"
	cmd_for "$peer" together "$dir/$peer"
	if [ ${#CMD[@]} -eq 0 ]; then # no fixed-rate mode
		rm -rf "$OUT/together/$peer"
		return
	fi
	local peer_cmd=("${CMD[@]}") peer_env=("${ENV_VARS[@]}") peer_report=$REPORT peer_expected=$EXPECTED
	cmd_for "$subject" together "$dir/$subject"
	env "${peer_env[@]}" taskset -c "$GEN_CPU" "$BIN/benchtab" measure -o "$dir/$peer/measure.tsv" -- "${peer_cmd[@]}" \
		>"$dir/$peer/stdout" 2>"$dir/$peer/stderr" &
	PEER_PID=$!
	if ! taskset -c "$GEN_CPU" "$BIN/benchtab" measure -o "$dir/$subject/measure.tsv" -- "${CMD[@]}" \
		>"$dir/$subject/stdout" 2>"$dir/$subject/stderr"; then
		echo "compare: $subject (together with $peer, rep $rep) exited with an error; see $dir/$subject/stderr" >&2
	fi
	if ! wait "$PEER_PID"; then
		echo "compare: $peer (together with $subject, rep $rep) exited with an error; see $dir/$peer/stderr" >&2
	fi
	PEER_PID=""
	sleep 0.5
	[ "$peer" = vegeta ] && vegeta_report "$dir/$peer" "together, rep $rep"
	write_rows "$wl" "$desc" "$peer" "$rep" "$delay_ms" "$peer_expected" - "$dir/$peer" "$peer_report"
	write_rows "$wl" "$desc" "$subject" "$rep" "$delay_ms" "$EXPECTED" - "$dir/$subject" "$REPORT"
	sleep 1
}

echo "compare: $(date -u +%FT%TZ) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), results in $OUT" >&2
for wl in $WORKLOADS; do
	case $wl in
	saturation) desc="saturation, $SAT_CONNS conns, $SAT_SECS s" delay=0 ;;
	fixed) desc="fixed $FIXED_RATE req/s × $FIXED_SECS s" delay=0 ;;
	delay | together) desc="$DELAY_MS ms server delay at $DELAY_RATE req/s × $DELAY_SECS s" delay=$DELAY_MS ;;
	rss) desc="$RSS_RATE req/s × $RSS_SECS s" delay=0 ;;
	*) die "unknown workload $wl (want saturation, fixed, delay, together, rss)" ;;
	esac
	start_server "${delay}ms"
	reps=$REPS
	[ "$wl" = delay ] && reps=$DELAY_REPS
	[ "$wl" = together ] && reps=$TOGETHER_REPS
	for rep in $(seq "$reps"); do
		for tool in $TOOLS; do
			if [ "$wl" != together ]; then
				run_one "$wl" "$desc" "$delay" "$tool" "$rep"
			elif [ "$tool" != "$subject" ]; then
				run_together "$desc" "$delay" "$tool" "$rep"
			fi
		done
	done
done
stop_server

{
	echo "Measured $(date -u +%F) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)), $(go version | cut -d' ' -f3);"
	echo "server pinned to core $SERVER_CPU ($SERVER_TIMER timer), generator to core $GEN_CPU; loopback; medians of $REPS (the delay workload: $DELAY_REPS, together: $TOGETHER_REPS)."
	echo
	"$BIN/benchtab" table "$RESULTS"
	if echo "$TOOLS" | grep -qw "$subject"; then
		echo
		echo "steadyload's schedule keeping (open-model runs): scheduled, late (> 10 ms + the coalescing), waited for a slot, dropped, start lag p50 / p99 / max"
		for meta in "$OUT"/*/steadyload/*/TestDriver_meta.csv "$OUT"/together/*/*/steadyload/TestDriver_meta.csv; do
			[ -f "$meta" ] || continue
			awk -F, -v run="${meta#"$OUT"/}" '
				{ v[$1] = $2 }
				END { if (v["model"] == "open") printf "  %s: %s, %s, %s, %s, %s / %s / %s\n", run, v["scheduled"], v["late"], v["waited"] + 0, v["dropped"], v["lag_p50"], v["lag_p99"], v["max_lag"] }
			' "$meta"
		done
	fi
} | tee "$OUT/table.md"
