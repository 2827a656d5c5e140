package runfiles

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest/result"
)

// sampleRun is a run of two tasks and the per-user OnStart step, with
// failures and two windows.
func sampleRun() *result.Run {
	start := time.Date(2025, 3, 4, 5, 6, 7, 250_000_000, time.UTC)
	m := result.Meta{
		Test: "TestSample/sub", RunID: "abc123", Version: "v0", Status: result.Complete, Model: "closed", Users: 3, SpawnRate: 1,
		Wait: "constant(1s)", MaxInFlight: 100, Duration: 2 * time.Second, Window: time.Second, Grace: time.Second,
		Start: start, Elapsed: 2 * time.Second, Target: "http://x", Env: "e", Location: "eu-west", Shard: "1/2",
	}
	mk := func(typ, name string, vals ...int64) *result.Task {
		t := &result.Task{Type: typ, Name: name, Latency: result.NewHistogram(), Setup: typ == "" && name == SetupName}
		for _, v := range vals {
			t.Latency.RecordValue(v)
		}
		t.Requests = int64(len(vals)) + 1
		t.Failures = 1
		t.ContentBytes = 10 * t.Requests
		return t
	}
	a := mk("GET", "/a", 1500, 2500, 12345, 987654)
	b := mk("POST", "/b", 300)
	setup := mk("", SetupName, 777, 888)
	tasks := []*result.Task{a, b, setup}
	total := &result.Task{Name: result.AggregateName, Latency: result.NewHistogram()}
	for _, t := range tasks {
		total.Requests += t.Requests
		total.Failures += t.Failures
		total.ContentBytes += t.ContentBytes
		total.Latency.Merge(t.Latency)
	}
	q := make([]int64, len(result.Percentiles))
	for i := range q {
		q[i] = int64(1000 * (i + 1))
	}
	var ws []result.Window
	for w := range 2 {
		for _, name := range []string{"/a", result.AggregateName} {
			typ := "GET"
			if name == result.AggregateName {
				typ = ""
			}
			ws = append(ws, result.Window{Start: start.Add(time.Duration(w) * time.Second), Offset: time.Duration(w) * time.Second, Length: time.Second,
				Users: 3, Type: typ, Name: name, Requests: 4, Failures: 1, Quantiles: q, MeanUS: 2500,
				TotalRequests: int64(4 * (w + 1)), TotalFailures: int64(w + 1), TotalMedianUS: 2000, TotalMeanUS: 2500, TotalMinUS: 1000, TotalMaxUS: 9000, TotalContentBytes: int64(40 * (w + 1))})
		}
	}
	fails := []result.Failure{{Type: "GET", Name: "/a", Class: "http", Error: "HTTP 503", Occurrences: 1}, {Type: "POST", Name: "/b", Class: "timeout", Error: "deadline", Occurrences: 1}}
	return &result.Run{Meta: m, Tasks: tasks, Total: total, Windows: ws, Failures: fails}
}

// TestRoundTrip: what Write writes, Read reads back as it was: counts,
// histograms bucket for bucket, windows, failures, metadata.
func TestRoundTrip(t *testing.T) {
	dir := t.TempDir()
	in := sampleRun()
	name := result.FileBase(in.Meta.Test)
	paths, err := Write(dir, name, in)
	require.NoError(t, err)
	assert.Len(t, paths, 5)
	assert.Equal(t, HistogramsFile(dir, name), paths[4])

	names, err := Names(dir)
	require.NoError(t, err)
	assert.Equal(t, []string{name}, names)

	out, err := Read(dir, name)
	require.NoError(t, err)
	assert.Equal(t, in.Meta.Start, out.Meta.Start)
	wm, gm := in.Meta, out.Meta
	wm.Start, gm.Start = time.Time{}, time.Time{}
	assert.Equal(t, wm, gm)
	require.Len(t, out.Tasks, len(in.Tasks))
	for i, want := range append(in.Tasks, in.Total) {
		got := out.Total
		if i < len(out.Tasks) {
			got = out.Tasks[i]
		}
		assert.Equal(t, want.Key(), got.Key())
		assert.Equal(t, want.Setup, got.Setup, "%s: setup", want.Key())
		assert.Equal(t, want.Requests, got.Requests, "%s: requests", want.Key())
		assert.Equal(t, want.Failures, got.Failures, "%s: failures", want.Key())
		assert.Equal(t, want.ContentBytes, got.ContentBytes, "%s: content", want.Key())
		assert.Equal(t, want.Latency.TotalCount(), got.Latency.TotalCount(), "%s: count", want.Key())
		for _, p := range result.Percentiles {
			assert.Equal(t, want.Latency.ValueAtPercentile(p), got.Latency.ValueAtPercentile(p), "%s: p%g", want.Key(), p)
		}
	}
	assert.Equal(t, in.Failures, out.Failures)
	require.Len(t, out.Windows, len(in.Windows))
	for i := range in.Windows {
		w, g := in.Windows[i], out.Windows[i]
		assert.True(t, w.Start.Equal(g.Start), "window %d: start %s; want %s", i, g.Start, w.Start)
		w.Start, g.Start = time.Time{}, time.Time{}
		assert.Equal(t, w, g, "window %d", i)
	}

	// Written again, the files are the same bytes.
	again := t.TempDir()
	_, err = Write(again, name, out)
	require.NoError(t, err)
	for _, suffix := range []string{"_stats.csv", "_stats_history.csv", "_failures.csv", "_meta.csv", "_histograms.csv"} {
		a, _ := os.ReadFile(filepath.Join(dir, name+suffix))
		b, _ := os.ReadFile(filepath.Join(again, name+suffix))
		assert.Equal(t, string(a), string(b), "%s written again", suffix)
	}
}

// TestReadErrors: a results folder that is incomplete or disagrees with
// itself is an error naming the file.
func TestReadErrors(t *testing.T) {
	for _, tc := range []struct {
		name   string
		damage func(dir, name string)
		want   string
	}{
		{"no histograms", func(dir, name string) { os.Remove(HistogramsFile(dir, name)) }, "_histograms.csv: no such file"},
		{"histogram short of the stats", func(dir, name string) {
			b, _ := os.ReadFile(HistogramsFile(dir, name))
			s := strings.Replace(string(b), "POST,/b,300,1\n", "", 1)
			os.WriteFile(HistogramsFile(dir, name), []byte(s), 0o644)
		}, `task "POST /b": Success Count 1, but`},
		{"bad line", func(dir, name string) {
			f, _ := os.OpenFile(HistogramsFile(dir, name), os.O_APPEND|os.O_WRONLY, 0)
			f.WriteString("GET,/z,x,1\n")
			f.Close()
		}, "_histograms.csv:"},
		{"no meta", func(dir, name string) { os.Remove(result.MetaFile(dir, name)) }, "_meta.csv: no such file"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			_, err := Write(dir, "TestX", sampleRun())
			require.NoError(t, err)
			tc.damage(dir, "TestX")
			_, err = Read(dir, "TestX")
			assert.ErrorContains(t, err, tc.want)
		})
	}
}
