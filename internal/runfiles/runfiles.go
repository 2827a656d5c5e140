// Package runfiles reads a results folder back into the run it holds,
// and writes the file that makes that exact: each task's whole-run latency
// histogram, <name>_histograms.csv, in the format of a baseline run's
// histograms.csv. With it a run read back has the histograms it was
// measured with, so its percentiles, its gate and the merge of the shards
// of one run are exact, not rebuilt from rounded quantiles.
//
//	res, err := runfiles.Read("loadtest-results", "TestCheckout")
//	paths, err := runfiles.Write(dir, "TestCheckout", res)
package runfiles

import (
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/baseline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// HistogramsFile names the histograms file of run name in dir.
func HistogramsFile(dir, name string) string {
	return filepath.Join(dir, name+"_histograms.csv")
}

// SetupName is the name of the per-user OnStart step in a run's tasks.
const SetupName = "OnStart"

// WriteHistograms writes the whole-run latency histogram of each task of
// res that had a successful request to <dir>/<name>_histograms.csv,
// atomically, and returns its path.
func WriteHistograms(dir, name string, res *result.Run) (string, error) {
	path := HistogramsFile(dir, name)
	var hs []baseline.Histogram
	for _, t := range res.Tasks {
		if t.Latency != nil && t.Latency.TotalCount() > 0 {
			hs = append(hs, baseline.Histogram{Type: t.Type, Name: t.Name, Latency: t.Latency})
		}
	}
	return path, atomicfile.Write(path, func(w io.Writer) error { return baseline.WriteHistograms(w, hs) })
}

// Write writes res as a run writes it: the stats, history, failures and
// meta files (result.Run.WriteCSV), then the histograms; it returns the
// paths written.
func Write(dir, name string, res *result.Run) ([]string, error) {
	paths, err := res.WriteCSV(dir, name)
	if err != nil {
		return paths, err
	}
	path, err := WriteHistograms(dir, name, res)
	if err != nil {
		return paths, err
	}
	return append(paths, path), nil
}

// Names lists the runs in dir: the name of every <name>_meta.csv, sorted.
func Names(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("results folder: %w", err)
	}
	var names []string
	for _, e := range entries {
		if n, ok := strings.CutSuffix(e.Name(), "_meta.csv"); ok && !e.IsDir() && n != "" {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names, nil
}

// Read reads run name from results folder dir: its meta, stats, history
// (the windows), failures and histograms files. Every file must be there
// and well-formed; errors read "file:line: what is wrong". The
// histograms must agree with the stats: a task's successes are its
// histogram's count. What the files do not keep is not read back: the
// windows' exemplars, the findings.
func Read(dir, name string) (*result.Run, error) {
	stats, history, failures := result.Files(dir, name)
	res := &result.Run{}
	var statRows []result.StatsRow
	var winRows []result.HistoryRow
	var failRows []result.FailureRow
	var hs []baseline.Histogram
	err := errors.Join(
		read(result.MetaFile(dir, name), func(n string, r io.Reader) (err error) { res.Meta, err = result.ReadMeta(n, r); return }),
		read(stats, func(n string, r io.Reader) (err error) {
			statRows, err = result.ReadRows[result.StatsRow](n, r)
			return
		}),
		read(history, func(n string, r io.Reader) (err error) {
			winRows, err = result.ReadRows[result.HistoryRow](n, r)
			return
		}),
		read(failures, func(n string, r io.Reader) (err error) {
			failRows, err = result.ReadRows[result.FailureRow](n, r)
			return
		}),
		read(HistogramsFile(dir, name), func(n string, r io.Reader) (err error) { hs, err = baseline.ReadHistograms(n, r); return }),
	)
	if err != nil {
		return nil, err
	}
	byTask := map[[2]string]*baseline.Histogram{}
	for i := range hs {
		byTask[[2]string{hs[i].Type, hs[i].Name}] = &hs[i]
	}
	used := 0
	for _, s := range statRows {
		t := &result.Task{
			Type: s.Type, Name: s.Name, Requests: int64(s.Requests), Failures: int64(s.Failures),
			ContentBytes: int64(math.Round(float64(s.AvgContent) * float64(s.Requests))),
			Latency:      result.NewHistogram(),
		}
		if s.Successes+s.Failures != s.Requests {
			return nil, fmt.Errorf("%s: task %q: %d successes and %d failures do not add up to %d requests", stats, t.Key(), s.Successes, s.Failures, s.Requests)
		}
		if s.Type == "" && s.Name == result.AggregateName {
			if res.Total != nil {
				return nil, fmt.Errorf("%s: two %s rows", stats, result.AggregateName)
			}
			res.Total = t
			continue
		}
		if h := byTask[[2]string{s.Type, s.Name}]; h != nil {
			t.Latency = h.Latency
			used++
		}
		if got := t.Latency.TotalCount(); got != int64(s.Successes) {
			return nil, fmt.Errorf("%s: task %q: Success Count %d, but %s holds %d requests", stats, t.Key(), s.Successes, HistogramsFile(dir, name), got)
		}
		t.Setup = s.Type == "" && s.Name == SetupName
		res.Tasks = append(res.Tasks, t)
	}
	switch {
	case res.Total == nil:
		return nil, fmt.Errorf("%s: no %s row", stats, result.AggregateName)
	case used != len(hs):
		return nil, fmt.Errorf("%s: %d task(s) have a histogram but no row in %s", HistogramsFile(dir, name), len(hs)-used, stats)
	}
	for _, t := range res.Tasks {
		res.Total.Latency.Merge(t.Latency)
	}
	if got := res.Total.Latency.TotalCount(); got != res.Total.Requests-res.Total.Failures {
		return nil, fmt.Errorf("%s: %s: %d successes, but the tasks' histograms hold %d requests", stats, result.AggregateName, res.Total.Requests-res.Total.Failures, got)
	}
	res.Windows = windows(res.Meta, winRows)
	for _, f := range failRows {
		res.Failures = append(res.Failures, result.Failure{Type: f.Method, Name: f.Name, Class: f.Class, Error: f.Error, Occurrences: int64(f.Occurrences)})
	}
	return res, nil
}

// read opens path and parses it with parse.
func read(path string, parse func(name string, r io.Reader) error) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("read results: %w", err)
	}
	defer f.Close()
	return parse(path, f)
}

// windows turns the history file's rows back into windows. A window's
// start is the run's start plus its offset from the first window's: the
// file keeps only the whole second.
func windows(m result.Meta, rows []result.HistoryRow) []result.Window {
	if len(rows) == 0 {
		return nil
	}
	first := seconds(rows[0].Offset)
	ws := make([]result.Window, 0, len(rows))
	for _, r := range rows {
		off := seconds(r.Offset)
		w := result.Window{
			Start: m.Start.Add(off - first), Offset: off, Length: seconds(r.Length), Users: int(r.Users),
			Type: r.Type, Name: r.Name, Requests: int64(r.WindowRequests), Failures: int64(r.WindowFailures),
			Quantiles: []int64{int64(r.P50), int64(r.P66), int64(r.P75), int64(r.P80), int64(r.P90),
				int64(r.P95), int64(r.P98), int64(r.P99), int64(r.P999), int64(r.P9999), int64(r.P100)},
			MeanUS:        float64(r.WindowMean) * 1000,
			TotalRequests: int64(r.TotalRequests), TotalFailures: int64(r.TotalFailures),
			TotalMedianUS: int64(r.TotalMedian), TotalMeanUS: float64(r.TotalMean) * 1000,
			TotalMinUS: int64(r.TotalMin), TotalMaxUS: int64(r.TotalMax),
			TotalContentBytes: int64(math.Round(float64(r.TotalAvgContent) * float64(r.TotalRequests))),
		}
		ws = append(ws, w)
	}
	return ws
}

// seconds is a file's seconds (three decimals) as a duration, to the
// millisecond.
func seconds(s result.Seconds) time.Duration {
	return time.Duration(math.Round(float64(s)*1000)) * time.Millisecond
}
