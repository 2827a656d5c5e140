package main

import (
	"bytes"
	"flag"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the golden file:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
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
		{"locust", 26, 72},
		{"steadyload", 1.341, 26.271},
	} {
		p50, p99, err := latencyFile(tc.tool, filepath.Join("testdata", "latency", tc.tool))
		if err != nil || math.Abs(p50-tc.p50) > 1e-9 || math.Abs(p99-tc.p99) > 1e-9 {
			t.Errorf("latencyFile(%q) = (%g, %g, %v); want (%g, %g, nil)", tc.tool, p50, p99, err, tc.p50, tc.p99)
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
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("parseLatency(%q, %q) error = %v; want one containing %q", tc.tool, tc.report, err, tc.want)
		}
	}
}

func TestTable(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "results.tsv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := readResults(f, "results.tsv")
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	if err := writeTable(&b, recs); err != nil {
		t.Fatal(err)
	}
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
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("readResults(%q) error = %v; want one containing %q", tc.in, err, tc.want)
		}
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
			if err := writeRSS(&b, tc.series); err != nil {
				t.Fatal(err)
			}
			golden(t, "rss_"+tc.name+".txt", b.Bytes())
			// Round trip through the series file format.
			back, err := readSeries(bytes.NewReader(formatSeries(tc.series)), "s")
			if err != nil || len(back) != len(tc.series) {
				t.Fatalf("readSeries(formatSeries) = %d samples, %v; want %d", len(back), err, len(tc.series))
			}
		})
	}
	if err := writeRSS(&bytes.Buffer{}, nil); err == nil {
		t.Errorf("writeRSS(no samples) = nil; want an error")
	}
}

func TestParseVmRSS(t *testing.T) {
	status := "Name:\tx\nVmPeak:\t  9000 kB\nVmRSS:\t    2048 kB\nThreads:\t3\n"
	if mb, ok := parseVmRSS([]byte(status)); !ok || mb != 2 {
		t.Errorf("parseVmRSS = (%g, %v); want (2, true)", mb, ok)
	}
	if _, ok := parseVmRSS([]byte("Name:\tx\n")); ok {
		t.Errorf("parseVmRSS(no VmRSS line) ok = true; want false")
	}
}

// TestMeasure measures a real child process: a shell that allocates and
// burns a little CPU.
func TestMeasure(t *testing.T) {
	m, err := measure([]string{"sh", "-c", "i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done"}, 5*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if m.cpu <= 0 || m.peakMB <= 0 {
		t.Errorf("measure(sh loop) = cpu %s, peak %.1f MB; want both positive", m.cpu, m.peakMB)
	}
	if _, err := measure([]string{"sh", "-c", "exit 3"}, time.Millisecond); err == nil {
		t.Errorf("measure(exit 3) error = nil; want the exit status")
	}
	if m, err := measure([]string{"/nonexistent/cmd"}, time.Millisecond); m != nil || err == nil {
		t.Errorf("measure(/nonexistent/cmd) = %v, %v; want nil and an error", m, err)
	}
}
