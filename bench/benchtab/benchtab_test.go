package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644), "update %s", path)
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "read the golden file (run with -update to create it)")
	assert.Equal(t, string(want), string(got), "%s differs from the golden file (run with -update to accept)", path)
}

// testResults reads testdata/<name>, a results file.
func testResults(t *testing.T, name string) []record {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	require.NoError(t, err)
	defer f.Close()
	recs, err := readResults(f, name)
	require.NoError(t, err, "readResults")
	return recs
}

func TestParseLatency(t *testing.T) {
	// Reports each tool wrote against the reference server with a 20 ms
	// delay; the figures are the tools' own.
	for _, tc := range []struct {
		tool     string
		p50, p99 float64
	}{
		{"wrk", 20.41, 44.27},
		{"hey", 20.9, 59.7},
		{"fortio", 22.238733373737374, 24.240248747474748},
		{"vegeta", 21.033482, 25.548638},
		{"k6", 21.012486, 25.989917},
		{"k6-iteration", 21.231, 26.402},
		{"locust", 26, 72},
		{"steadyload", 1.341, 26.271},
	} {
		p50, p99, err := latencyFile(tc.tool, filepath.Join("testdata", "latency", tc.tool))
		if assert.NoError(t, err, "latencyFile(%q)", tc.tool) {
			assert.InDelta(t, tc.p50, p50, 1e-9, "latencyFile(%q) p50", tc.tool)
			assert.InDelta(t, tc.p99, p99, 1e-9, "latencyFile(%q) p99", tc.tool)
		}
	}
}

func TestParseLatencyErrors(t *testing.T) {
	for _, tc := range []struct {
		tool, report, want string
	}{
		{"wrk", "Running 2s test\n  Latency    21.21ms\n", "no 50th and 99th"},
		{"hey", "Summary:\n  Total: 2 secs\n", "no 50th and 99th"},
		{"fortio", "{", "unexpected end"},
		{"vegeta", `{"latencies":{"50th":1}}`, "no 50th and 99th"},
		{"k6", `{"metrics":{}}`, "no http_req_duration"},
		{"locust", "Type,Name,50%,99%\nGET,/,1,2\n", "no Aggregated row"},
		{"locust", "Type,Name,50%\n,Aggregated,1\n", `no "99%" column`},
		{"steadyload", "Type,Name,50%,99%\n,Aggregated,1,x\n", "line 2: 99%"},
		{"ab", "", "unknown tool"},
	} {
		_, _, err := parseLatency(tc.tool, []byte(tc.report))
		assert.ErrorContains(t, err, tc.want, "parseLatency(%q, %q)", tc.tool, tc.report)
	}
}

func TestTable(t *testing.T) {
	recs := testResults(t, "results.tsv")
	var b bytes.Buffer
	require.NoError(t, writeTable(&b, recs), "writeTable")
	golden(t, "table.md", b.Bytes())
}

func TestReadResultsErrors(t *testing.T) {
	hdr := strings.Join(Columns, "\t") + "\n"
	for _, tc := range []struct {
		in, want string
	}{
		{"", "r.tsv: empty"},
		{"workload\ttool\n", "r.tsv:1: header is"},
		{hdr + "fixed\tx\twrk\t1\n", "r.tsv:2: 4 fields; want 12"},
		{hdr + "fixed\tx\twrk\tone\t0\t0\t1\t1\t1\t-\t-\t-\n", `r.tsv:2: rep "one"`},
		{hdr + "fixed\tx\twrk\t1\t0\t0\t1\tabc\t1\t-\t-\t-\n", `r.tsv:2: cpu_s "abc"`},
	} {
		_, err := readResults(strings.NewReader(tc.in), "r.tsv")
		assert.ErrorContains(t, err, tc.want, "readResults(%q)", tc.in)
	}
}

func TestRSS(t *testing.T) {
	for _, tc := range []struct {
		name   string
		series []sample
	}{
		{"flat", []sample{{10 * time.Second, 15}, {70 * time.Second, 15.5}, {130 * time.Second, 16.2}, {190 * time.Second, 15.9}}},
		{"grows", []sample{{10 * time.Second, 15}, {70 * time.Second, 17}, {130 * time.Second, 19}, {250 * time.Second, 21}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b bytes.Buffer
			require.NoError(t, writeRSS(&b, tc.series), "writeRSS")
			golden(t, "rss_"+tc.name+".txt", b.Bytes())
			// Round trip through the series file format.
			back, err := readSeries(bytes.NewReader(formatSeries(tc.series)), "s")
			require.NoError(t, err, "readSeries(formatSeries)")
			require.Len(t, back, len(tc.series), "readSeries(formatSeries) samples")
		})
	}
	assert.Error(t, writeRSS(&bytes.Buffer{}, nil), "writeRSS(no samples)")
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n"
	mb, ok := parseVmRSS([]byte(status))
	assert.True(t, ok, "parseVmRSS ok")
	assert.Equal(t, 2.0, mb, "parseVmRSS MB")
	_, ok = parseVmRSS([]byte("Name:\tx\n"))
	assert.False(t, ok, "parseVmRSS(no VmRSS line) ok")
}

// TestMeasure measures a real child process: a shell that allocates and
// burns a little CPU.
func TestMeasure(t *testing.T) {
	m, err := measure([]string{"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}, 5*time.Millisecond)
	require.NoError(t, err, "measure(sh loop)")
	assert.Positive(t, m.cpu, "measure(sh loop) cpu")
	assert.Positive(t, m.peakMB, "measure(sh loop) peak MB")
	_, err = measure([]string{"sh", "-c", "exit 3"}, time.Millisecond)
	assert.Error(t, err, "measure(exit 3): want the exit status")
	m, err = measure([]string{"/nonexistent/cmd"}, time.Millisecond)
	assert.Nil(t, m, "measure(/nonexistent/cmd)")
	assert.Error(t, err, "measure(/nonexistent/cmd)")
}

func TestPaired(t *testing.T) {
	// Four repetitions; hey's fourth has no latency and pairs with nothing.
	recs := testResults(t, "paired.tsv")
	var b bytes.Buffer
	require.NoError(t, writePaired(&b, recs), "writePaired")
	golden(t, "paired.md", b.Bytes())

	b.Reset()
	require.NoError(t, writePaired(&b, recs[:0]), "writePaired without a delay workload")
	assert.Empty(t, b.String(), "no delay workload, no paired table")

	// A file of together runs alone has the paired table alone.
	raw, err := os.ReadFile(filepath.Join("testdata", "paired.tsv"))
	require.NoError(t, err)
	var f strings.Builder
	for i, line := range strings.SplitAfter(string(raw), "\n") {
		if i == 0 || strings.HasPrefix(line, togetherPrefix) {
			f.WriteString(line)
		}
	}
	path := filepath.Join(t.TempDir(), "results.tsv")
	require.NoError(t, os.WriteFile(path, []byte(f.String()), 0o644))
	b.Reset()
	require.NoError(t, tableCmd(path, &b), "table of together runs alone")
	golden(t, "together.md", b.Bytes())
}

func TestMedianCI(t *testing.T) {
	seq := func(n int) []float64 { // n..1: the order must not matter
		xs := make([]float64, n)
		for i := range xs {
			xs[i] = float64(n - i)
		}
		return xs
	}
	for _, tc := range []struct {
		n      int
		lo, hi float64 // the order statistics, counted from 1
		ok     bool
	}{
		{0, 0, 0, false},
		{5, 0, 0, false}, // 2/32 > 5 %: no 95 % interval
		{6, 1, 6, true},  // 1 - 2/64
		{9, 2, 8, true},  // 1 - 2·10/512
		{20, 6, 15, true},
	} {
		lo, hi, ok := medianCI(seq(tc.n), 0.95)
		assert.Equal(t, tc.ok, ok, "medianCI(1..%d) ok", tc.n)
		assert.Equal(t, []float64{tc.lo, tc.hi}, []float64{lo, hi}, "medianCI(1..%d)", tc.n)
	}
}

func TestPValue(t *testing.T) {
	for p, want := range map[float64]string{1: "1.00", 0.34: "0.34", 0.01: "0.01", 0.002: "0.002", 0: "0.000"} {
		assert.Equal(t, want, pValue(p), "pValue(%v)", p)
	}
}

func TestSignTest(t *testing.T) {
	for _, tc := range []struct {
		lower, higher int
		want          float64
	}{
		{0, 0, 1},
		{3, 3, 1},
		{5, 0, 2.0 / 32},
		{0, 5, 2.0 / 32},
		{4, 1, 2 * 6.0 / 32},
		{9, 0, 2.0 / 512},
		{8, 1, 2 * 10.0 / 512},
		{2, 1, 1},
	} {
		assert.InDelta(t, tc.want, signTest(tc.lower, tc.higher), 1e-12, "signTest(%d, %d)", tc.lower, tc.higher)
	}
}
