package result

import (
	"bytes"
	"flag"
	"maps"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata/")

// goldenDir holds the golden result files, at the top of the repository:
// they double as examples of every format.
const goldenDir = "../../testdata/csv"

// sampleRun is a run with fixed, hand-made figures: two tasks, two windows,
// failures of two classes.
func sampleRun() *Run {
	start := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	post := &Task{Type: "POST", Name: "/orders", Requests: 6, Failures: 2, ContentBytes: 600, Latency: NewHistogram()}
	for _, us := range []int64{18_000, 20_000, 22_500, 61_000} {
		post.Latency.RecordValue(us)
	}
	get := &Task{Type: "GET", Name: "/users/{id}", Requests: 3, ContentBytes: 189, Latency: NewHistogram()}
	for _, us := range []int64{4_100, 5_000, 14_900} {
		get.Latency.RecordValue(us)
	}
	total := &Task{Name: AggregateName, Requests: 9, Failures: 2, ContentBytes: 789, Latency: NewHistogram()}
	total.Latency.Merge(post.Latency)
	total.Latency.Merge(get.Latency)
	q := func(vs ...int64) []int64 {
		out := make([]int64, len(Percentiles))
		for i := range out {
			out[i] = vs[min(i, len(vs)-1)]
		}
		return out
	}
	w := func(off int, typ, name string, req, fail int64, quant []int64) Window {
		return Window{
			Start: start.Add(time.Duration(off) * 10 * time.Second), Offset: time.Duration(off) * 10 * time.Second,
			Length: 10 * time.Second, Users: 2, Type: typ, Name: name, Requests: req, Failures: fail,
			Quantiles: quant, MeanUS: float64(quant[0]), TotalRequests: req, TotalFailures: fail,
			TotalMedianUS: quant[0], TotalMeanUS: float64(quant[0]), TotalMinUS: quant[0], TotalMaxUS: quant[len(quant)-1],
			TotalContentBytes: 100 * req,
			Exemplars:         []Exemplar{{At: start, LatencyUS: quant[len(quant)-1], Status: 201, TraceID: "4bf92f3577b34da6a3ce929d0e0e4736"}},
		}
	}
	return &Run{
		Meta: Meta{
			Test: "TestSample/sub", RunID: "0123456789abcdef", Version: "0.1.0", Status: Complete,
			Model: "closed", Users: 2, SpawnRate: 1, Wait: "between(1s,5s)", MaxInFlight: 100,
			Duration: 20 * time.Second, Window: 10 * time.Second, Grace: 5 * time.Second,
			Start: start, Elapsed: 20 * time.Second, Target: "http://127.0.0.1:8080", Env: "local", StandIn: "local",
			GitCommit: "abc123", GoVersion: "go1.26.8",
		},
		Tasks: []*Task{post, get},
		Total: total,
		Windows: []Window{
			w(0, "POST", "/orders", 4, 1, q(20_000, 22_500, 61_000)),
			w(0, "", AggregateName, 4, 1, q(20_000, 22_500, 61_000)),
			w(1, "GET", "/users/{id}", 3, 0, q(5_000, 14_900)),
			w(1, "POST", "/orders", 2, 1, q(18_000)),
			w(1, "", AggregateName, 5, 1, q(5_000, 18_000)),
		},
		Failures: []Failure{
			{Type: "POST", Name: "/orders", Class: "http", Error: "HTTP 503", Occurrences: 1},
			{Type: "POST", Name: "/orders", Class: "timeout", Error: `Post "/orders": context deadline exceeded`, Occurrences: 1},
		},
	}
}

func TestWriteCSVGolden(t *testing.T) {
	dir := t.TempDir()
	paths, err := sampleRun().WriteCSV(dir, sampleRun().Meta.Test)
	require.NoError(t, err)
	require.Len(t, paths, 4, "WriteCSV wrote %d files; want 4", len(paths))
	for _, p := range paths {
		got, err := os.ReadFile(p)
		require.NoError(t, err)
		golden := filepath.Join(goldenDir, filepath.Base(p))
		if *update {
			require.NoError(t, os.WriteFile(golden, got, 0o644))
			continue
		}
		want, err := os.ReadFile(golden)
		require.NoError(t, err, "run with -update to create it")
		assert.Equal(t, string(want), string(got), "%s differs from %s", filepath.Base(p), golden)
	}
}

// TestReadRowsGolden: each golden Locust-format file reads back, and what
// it reads writes the same bytes again.
func TestReadRowsGolden(t *testing.T) {
	run := sampleRun()
	stats, history, failures := Files(goldenDir, run.Meta.Test)
	t.Run("stats", func(t *testing.T) { checkRoundTrip(t, stats, run.StatsRows()) })
	t.Run("history", func(t *testing.T) { checkRoundTrip(t, history, run.HistoryRows()) })
	t.Run("failures", func(t *testing.T) { checkRoundTrip(t, failures, run.FailureRows()) })
}

// checkRoundTrip reads the file at path, wants rows, and writes them
// back to the file's bytes.
func checkRoundTrip[R Row](t *testing.T, path string, want []R) {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	got, err := ReadRows[R](path, bytes.NewReader(b))
	require.NoError(t, err)
	assert.Len(t, got, len(want))
	var out bytes.Buffer
	require.NoError(t, WriteRows(&out, got))
	assert.Equal(t, string(b), out.String(), "ReadRows then WriteRows changed %s", path)
	// The values read are those written, to the file's three decimals.
	var again bytes.Buffer
	require.NoError(t, WriteRows(&again, want))
	assert.Equal(t, string(b), again.String())
}

// TestReadRowsErrors: a Locust-format file the harness would not have
// written is refused as "name:line: column: what", the line counted in
// the file's lines, not its records.
func TestReadRowsErrors(t *testing.T) {
	header := "Method,Name,Error,Occurrences,Class\n"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "f.csv:1: empty file"},
		{"header", "Method,Name,Error,Count,Class\n", `f.csv:1: header is "Method,Name,Error,Count,Class"`},
		{"missing column", "Method,Name,Error,Occurrences\n", `(missing column "Class")`},
		{"fields", header + "GET,/a,x,1\n", "f.csv:2: wrong number of fields: 4, want 5"},
		{"negative count", header + "GET,/a,x,-1,http\n", `f.csv:2: Occurrences: bad count "-1"`},
		{"fraction", header + "GET,/a,x,1.5,http\n", `f.csv:2: Occurrences: bad count "1.5"`},
		{"empty count", header + "GET,/a,x,,http\n", `f.csv:2: Occurrences: bad count ""`},
		{"hex count", header + "GET,/a,x,0x10,http\n", `f.csv:2: Occurrences: bad count "0x10"`},
		{"after a quoted newline", header + "GET,/a,\"two\nlines\",1,http\nGET,/b,x,y,http\n", `f.csv:4: Occurrences: bad count "y"`},
		{"CRLF", "Method,Name,Error,Occurrences,Class\r\n", "f.csv:1: line ends with CR LF"},
		{"cut short", header + "GET,/a,x,1,http", "f.csv:2: the last line has no line ending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ReadRows[FailureRow]("f.csv", strings.NewReader(tt.in))
			require.Error(t, err)
			assert.Contains(t, err.Error(), tt.want)
		})
	}
}

// TestColumnBounds: each column type refuses what it would not write.
func TestColumnBounds(t *testing.T) {
	tests := []struct {
		col  interface{ UnmarshalCSV(string) error }
		in   string
		want string // "" reads fine
	}{
		{new(Count), "0", ""}, {new(Count), "1000000000000000", ""}, {new(Count), "1000000000000001", "bad count"},
		{new(Count), " 1", "bad count"}, {new(Count), "1e3", "bad count"},
		{new(Fixed), "2.500", ""}, {new(Fixed), " 2.5", ""}, {new(Fixed), "NaN", "bad number"}, {new(Fixed), "-0.001", "out of range"}, {new(Fixed), "1e16", "out of range"},
		{new(MeanMillis), "3672000", ""}, {new(MeanMillis), "3672001", "out of range"}, {new(MeanMillis), "Inf", "not a finite number"},
		{new(PerSecond), "1000000000", ""}, {new(PerSecond), "1000000001", "out of range"},
		{new(Ratio), "1.000", ""}, {new(Ratio), "1.001", "out of range"},
		{new(Seconds), "2678400", ""}, {new(Seconds), "2678401", "out of range"},
		{new(Millis), "3672000.000", ""}, {new(Millis), "3672000.001", "out of range"}, {new(Millis), "-1", "negative"},
	}
	for _, tt := range tests {
		err := tt.col.UnmarshalCSV(tt.in)
		if tt.want == "" {
			assert.NoError(t, err, "%T.UnmarshalCSV(%q)", tt.col, tt.in)
		} else if assert.Error(t, err, "%T.UnmarshalCSV(%q)", tt.col, tt.in) {
			assert.Contains(t, err.Error(), tt.want, "%T.UnmarshalCSV(%q)", tt.col, tt.in)
		}
	}
}

// TestLocustHeaders pins the first columns of each file to Locust's --csv
// output, in Locust's order.
func TestLocustHeaders(t *testing.T) {
	locust := map[string]string{
		"_stats.csv":         "Type,Name,Request Count,Failure Count,Median Response Time,Average Response Time,Min Response Time,Max Response Time,Average Content Size,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%",
		"_stats_history.csv": "Timestamp,User Count,Type,Name,Requests/s,Failures/s,50%,66%,75%,80%,90%,95%,98%,99%,99.9%,99.99%,100%,Total Request Count,Total Failure Count,Total Median Response Time,Total Average Response Time,Total Min Response Time,Total Max Response Time,Total Average Content Size",
		"_failures.csv":      "Method,Name,Error,Occurrences",
	}
	dir := t.TempDir()
	run := &Run{Meta: Meta{Test: "TestEmpty"}} // no rows at all: headers still written
	_, err := run.WriteCSV(dir, run.Meta.Test)
	require.NoError(t, err)
	for suffix, want := range locust {
		b, err := os.ReadFile(filepath.Join(dir, "TestEmpty"+suffix))
		require.NoError(t, err)
		header, _, _ := strings.Cut(string(b), "\n")
		assert.True(t, strings.HasPrefix(header, want), "%s header = %q; want it to start with Locust's %q", suffix, header, want)
	}
}

// TestHistogramPercentiles: the histogram's percentiles agree with the
// exact order statistics of the recorded values within its precision
// (three significant digits: 0.1 %), for several shapes of data.
func TestHistogramPercentiles(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 12))
	shapes := map[string]func() int64{
		"lognormal 20ms":  func() int64 { return int64(20_000 * math.Exp(0.668*r.NormFloat64())) },
		"uniform 1-100ms": func() int64 { return 1_000 + r.Int64N(99_000) },
		"bimodal":         func() int64 { return []int64{5_000, 250_000}[r.IntN(2)] + r.Int64N(1_000) },
		"microseconds":    func() int64 { return 1 + r.Int64N(2_000) },
	}
	names := slices.Sorted(maps.Keys(shapes))
	for _, name := range names {
		draw := shapes[name]
		h := NewHistogram()
		vals := make([]int64, 50_000)
		for i := range vals {
			vals[i] = max(1, draw())
			h.RecordValue(vals[i])
		}
		slices.Sort(vals)
		for _, p := range Percentiles {
			rank := int(math.Ceil(p/100*float64(len(vals)) - 1e-9)) // type 1: the inverse ECDF
			exact := vals[max(rank, 1)-1]
			got := h.ValueAtPercentile(p)
			if diff := math.Abs(float64(got-exact)) / float64(exact); diff > 0.001 {
				t.Errorf("%s: p%g = %d; exact %d (off by %.3f%%)", name, p, got, exact, 100*diff)
			}
		}
	}
}

func TestMillis(t *testing.T) {
	for _, tt := range []struct {
		us   int64
		text string
	}{
		{0, "0.000"}, {1, "0.001"}, {20_143, "20.143"}, {1_500_000, "1500.000"},
	} {
		assert.Equal(t, tt.text, FormatMillis(tt.us), "FormatMillis(%d)", tt.us)
		got, err := ParseMillis(tt.text)
		if assert.NoError(t, err, "ParseMillis(%q)", tt.text) {
			assert.Equal(t, tt.us, got, "ParseMillis(%q)", tt.text)
		}
	}
	for _, bad := range []string{"", "x", "-1", "NaN", "Inf", "1E20"} {
		_, err := ParseMillis(bad)
		assert.Error(t, err, "ParseMillis(%q)", bad)
	}
}

// writeMeta returns m as WriteMeta writes it.
func writeMeta(t testing.TB, m Meta) string {
	t.Helper()
	var b bytes.Buffer
	require.NoError(t, WriteMeta(&b, m))
	return b.String()
}

func TestMetaRoundTrip(t *testing.T) {
	m := sampleRun().Meta
	got, err := ReadMeta("meta.csv", strings.NewReader(writeMeta(t, m)))
	require.NoError(t, err)
	assert.True(t, got.Start.Equal(m.Start), "start = %v; want %v", got.Start, m.Start)
	got.Start = m.Start
	assert.Equal(t, m, got, "ReadMeta(WriteMeta(m))")
}

func TestReadMetaErrors(t *testing.T) {
	good := writeMeta(t, sampleRun().Meta)
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "meta.csv:1: empty file"},
		{"header", "Name,Value\n", `meta.csv:1: header is "Name,Value"`},
		{"fields", "Key,Value\ntest,a,b\n", "meta.csv:2: wrong number of fields"},
		{"unknown key", good + "colour,blue\n", `meta.csv:30: colour: unknown key`},
		{"bad number", strings.Replace(good, "users,2", "users,two", 1), `meta.csv:8: users: bad value "two"`},
		{"bad status", strings.Replace(good, "status,complete", "status,done", 1), `meta.csv:5: status: unknown status "done"`},
		{"duplicate", good + "test,again\n", `meta.csv:30: key "test" appears twice`},
		{"missing", "Key,Value\ntest,x\n", `meta.csv: key "run_id" is missing`},
	}
	for _, tt := range tests {
		_, err := ReadMeta("meta.csv", strings.NewReader(tt.in))
		if assert.Error(t, err, tt.name) {
			assert.Contains(t, err.Error(), tt.want, tt.name)
		}
	}
}

// TestMetaOptionalKeys: keys added after the first format round-trip, and
// files written before them still read, with zero values.
func TestMetaOptionalKeys(t *testing.T) {
	m := sampleRun().Meta
	m.Model, m.Rate, m.LagP50, m.LagP99, m.Coalesce = "open", 1000, 2*time.Millisecond, 5*time.Millisecond, 5*time.Millisecond
	written := writeMeta(t, m)
	got, err := ReadMeta("meta.csv", strings.NewReader(written))
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{m.LagP50, m.LagP99, m.Coalesce}, []time.Duration{got.LagP50, got.LagP99, got.Coalesce}, "lag p50, p99, coalesce")
	var old strings.Builder
	for _, line := range strings.SplitAfter(written, "\n") {
		if !strings.HasPrefix(line, "lag_p") && !strings.HasPrefix(line, "coalesce,") {
			old.WriteString(line)
		}
	}
	got, err = ReadMeta("meta.csv", strings.NewReader(old.String()))
	require.NoError(t, err, "a file without the optional keys")
	assert.Zero(t, got.LagP50, "without the optional keys: lag p50")
	assert.Zero(t, got.LagP99, "without the optional keys: lag p99")
	assert.Zero(t, got.Coalesce, "without the optional keys: coalesce")
}

// TestMetaGeneratorShares: the CPU the generator was denied round-trips
// where known (zero included), is left out where not, and a file without
// it reads as not known; a value out of 0..100 is refused with its line.
func TestMetaGeneratorShares(t *testing.T) {
	m := sampleRun().Meta
	m.CPUWait, m.CPUPressure, m.Steal = ShareOf(0.9), ShareOf(0.38123), ShareOf(0)
	written := writeMeta(t, m)
	assert.Contains(t, written, "generator_cpu_wait_pct,90\ngenerator_cpu_pressure_pct,38.12\ngenerator_steal_pct,0\n", "WriteMeta")
	assert.NotContains(t, written, "generator_throttled_pct", "WriteMeta of an unknown share")
	got, err := ReadMeta("meta.csv", strings.NewReader(written))
	require.NoError(t, err)
	assert.Equal(t, []Share{{90, true}, {38.12, true}, {0, true}, {}}, []Share{got.CPUWait, got.CPUPressure, got.Steal, got.Throttled}, "ReadMeta(WriteMeta(m)) shares")

	old := writeMeta(t, sampleRun().Meta)
	assert.NotContains(t, old, "generator_", "WriteMeta without shares; want the file as before")
	got, err = ReadMeta("meta.csv", strings.NewReader(old))
	require.NoError(t, err, "a file without the shares")
	assert.Equal(t, []Share{{}, {}, {}, {}}, []Share{got.CPUWait, got.CPUPressure, got.Steal, got.Throttled}, "shares of a file without them")

	for _, bad := range []string{"101", "-1", "NaN", "x", ""} {
		_, err := ReadMeta("meta.csv", strings.NewReader(strings.Replace(written, "generator_steal_pct,0\n", "generator_steal_pct,"+bad+"\n", 1)))
		if assert.Error(t, err, "generator_steal_pct %q", bad) {
			assert.Contains(t, err.Error(), "meta.csv:", "generator_steal_pct %q", bad)
			assert.Contains(t, err.Error(), ": generator_steal_pct: bad value", "generator_steal_pct %q", bad)
		}
	}
}

func TestShareOf(t *testing.T) {
	tests := []struct {
		in   float64
		want Share
	}{
		{0.38123, Share{38.12, true}},
		{0, Share{0, true}},
		{1.2, Share{100, true}},
		{-0.1, Share{0, true}},
		{math.NaN(), Share{}},
		{math.Inf(1), Share{}},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, ShareOf(tt.in), "ShareOf(%v)", tt.in)
	}
	assert.Equal(t, "-", Share{}.String(), "Share{}.String()")
	assert.Equal(t, "38.12", Share{38.12, true}.String(), "Share{38.12}.String()")
}

// TestMetaStagesGolden: a run in stages writes them in a stages row,
// which reads back; the files of runs without stages have no such row
// and read as they always have.
func TestMetaStagesGolden(t *testing.T) {
	m := sampleRun().Meta
	m.Test, m.Model, m.Rate, m.Users, m.SpawnRate, m.Wait = "TestStaged", "open", 10, 0, 0, ""
	m.Stages, m.Duration, m.Elapsed = "30s:10,2m0s:10,30s:0", 3*time.Minute, 3*time.Minute
	m.Scheduled = 1500
	got := writeMeta(t, m)
	golden := filepath.Join(goldenDir, "TestStaged_meta.csv")
	if *update {
		require.NoError(t, os.WriteFile(golden, []byte(got), 0o644))
	}
	want, err := os.ReadFile(golden)
	require.NoError(t, err, "run with -update to create it")
	assert.Equal(t, string(want), got, "WriteMeta differs from %s", golden)
	back, err := ReadMeta(golden, strings.NewReader(string(want)))
	require.NoError(t, err)
	assert.Equal(t, m.Stages, back.Stages, "stages read back")
	assert.Equal(t, m.Shape(), back.Shape(), "shape read back")

	old, err := os.ReadFile(filepath.Join(goldenDir, "TestSample_sub_meta.csv"))
	require.NoError(t, err)
	assert.NotContains(t, string(old), "stages", "a run without stages: no stages row")
	back, err = ReadMeta("TestSample_sub_meta.csv", strings.NewReader(string(old)))
	require.NoError(t, err, "a file without stages")
	assert.Empty(t, back.Stages, "a file without stages: stages")
}
