#!/usr/bin/env bash
# Runs the harness at a fixed rate for a long time against the reference
# server and prints its resident memory per minute, and whether it stayed
# flat (every minute within 10% of the first). See README.md, "Performance".
#
#   bench/rss.sh                       # 2000 req/s for 30 minutes
#   RATE=500 MINUTES=5 bench/rss.sh
#
# Settings (environment): RATE (2000), MINUTES (30), OUT (bench/out/rss-<UTC
# time>), PORT (18097), SERVER_CPU (0), GEN_CPU (1).
set -euo pipefail
cd "$(dirname "$0")/.."

RATE=${RATE:-2000}
MINUTES=${MINUTES:-30}
OUT=${OUT:-bench/out/rss-$(date -u +%Y%m%dT%H%M%SZ)}
PORT=${PORT:-18097}
SERVER_CPU=${SERVER_CPU:-0}
GEN_CPU=${GEN_CPU:-1}
BASE="http://127.0.0.1:$PORT"

die() { echo "rss: $*" >&2; exit 1; }
command -v taskset >/dev/null || die "taskset not found (Debian package util-linux)"
command -v curl >/dev/null || die "curl not found"

mkdir -p "$OUT/bin"
OUT=$(cd "$OUT" && pwd)
BIN="$OUT/bin"
go build -o "$BIN/refserver" ./bench/refserver
go build -o "$BIN/benchtab" ./bench/benchtab
go test -c -tags loadtest -o "$BIN/driver.test" ./bench/driver

taskset -c "$SERVER_CPU" "$BIN/refserver" -addr "127.0.0.1:$PORT" >"$OUT/refserver.log" 2>&1 &
SERVER_PID=$!
trap 'kill $SERVER_PID 2>/dev/null || true; wait $SERVER_PID 2>/dev/null || true' EXIT
for _ in $(seq 50); do
	curl -sf "$BASE/__count" >/dev/null && break
	sleep 0.1
done
curl -sf "$BASE/__count" >/dev/null || die "reference server did not start; see $OUT/refserver.log"

echo "rss: $RATE req/s for $MINUTES min against the reference server; results in $OUT" >&2
before=$(curl -sf "$BASE/__count")
taskset -c "$GEN_CPU" "$BIN/benchtab" measure -o "$OUT/measure.tsv" -series "$OUT/rss.tsv" -every 5s -- \
	"$BIN/driver.test" -test.run '^TestDriver$' -test.v -test.timeout "$((MINUTES + 10))m" \
	-loadtest.host="$BASE" -loadtest.allow-high-load -loadtest.rate="$RATE" \
	-loadtest.duration="${MINUTES}m" -loadtest.window=1m -loadtest.out="$OUT" >"$OUT/stdout" 2>"$OUT/stderr" ||
	die "the run failed; see $OUT/stdout"
sleep 0.5
after=$(curl -sf "$BASE/__count")
expected=$((RATE * MINUTES * 60))
{
	echo "Measured $(date -u +%F) on $(nproc) cores ($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | xargs)): $RATE req/s for $MINUTES min."
	"$BIN/benchtab" rss "$OUT/rss.tsv"
	read -r cpu peak _ <"$OUT/measure.tsv"
	echo "generator CPU ${cpu} s (${cpu}/$((MINUTES * 60)) s of one core), peak RSS ${peak} MB (kernel high-water mark)"
	awk -v e="$expected" -v n="$((after - before))" 'BEGIN { printf "server counted %d requests; rate × duration = %d (%+.3f%%)\n", n, e, (n - e) / e * 100 }'
	awk -F, '$1 ~ /^(scheduled|late|waited|dropped|lag_p50|lag_p99|max_lag)$/ { printf "%s %s; ", $1, $2 } END { print "" }' "$OUT/TestDriver_meta.csv"
} | tee "$OUT/report.txt"
