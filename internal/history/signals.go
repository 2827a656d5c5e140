package history

import (
	"fmt"
	"io"
	"maps"
	"math"
	"path/filepath"
	"slices"
	"strconv"
	"time"

	"github.com/steadyload/steadyload/internal/signals"
	"github.com/steadyload/steadyload/internal/strictcsv"
	"github.com/steadyload/steadyload/loadtest/result"
)

// SignalsFileName is the server signals' history, beside the history
// file: one row per signal per complete run, long format so the set of
// signals can change without changing the layout.
const SignalsFileName = "signals.csv"

// SignalsHeader is the signals history's header line, in its fixed order.
var SignalsHeader = []string{
	"time", "commit", "shape", "signal",
	"samples", "first", "last", "mean", "max", "growth", "p_rise",
	"run_id",
}

// SignalRow is one server signal's summary over one complete run.
type SignalRow struct {
	Time    time.Time // start of the run
	Commit  string
	Shape   string // load shape (result.Shape.Key)
	Signal  string // e.g. process_resident_memory_bytes, rate(http_requests_total)
	Samples int
	First   float64 // the first and last samples, their mean and maximum
	Last    float64
	Mean    float64
	Max     float64
	Growth  float64 // the within-run trend's growth; NaN when not tested
	P       float64 // its one-sided Mann-Kendall p-value; NaN when not tested
	RunID   string
}

// SignalsPath returns the signals history beside the history file of test.
func SignalsPath(root, env, test string) string {
	return filepath.Join(filepath.Dir(Path(root, env, test)), SignalsFileName)
}

// SignalsFromRun summarises sig, the run's server signals, one row per signal,
// sorted by signal. A run without signals has no rows.
func SignalsFromRun(res *result.Run, sig *signals.Report) []SignalRow {
	if sig == nil {
		return nil
	}
	byName := map[string][]float64{}
	for _, s := range sig.Samples {
		if !math.IsNaN(s.Value) && !math.IsInf(s.Value, 0) {
			byName[s.Signal] = append(byName[s.Signal], s.Value)
		}
	}
	var rows []SignalRow
	for _, name := range slices.Sorted(maps.Keys(byName)) {
		vs := byName[name]
		row := SignalRow{
			Time: res.Meta.Start.UTC(), Commit: res.Meta.GitCommit, Shape: res.Meta.Shape().Key(),
			Signal: name, Samples: len(vs), First: vs[0], Last: vs[len(vs)-1], Max: slices.Max(vs),
			Growth: math.NaN(), P: math.NaN(), RunID: res.Meta.RunID,
		}
		for _, v := range vs {
			row.Mean += v / float64(len(vs))
		}
		for _, tr := range sig.Trends {
			if tr.Signal == name && !math.IsInf(tr.Growth, 0) && tr.P >= 0 && tr.P <= 1 {
				row.Growth, row.P = tr.Growth, tr.P // else not tested: ReadSignals refuses them
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func (r SignalRow) record() []string {
	f := func(x float64) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'g', 8, 64)
	}
	return []string{
		r.Time.UTC().Format(time.RFC3339), r.Commit, r.Shape, r.Signal,
		strconv.Itoa(r.Samples), f(r.First), f(r.Last), f(r.Mean), f(r.Max), f(r.Growth), f(r.P),
		r.RunID,
	}
}

// WriteSignals writes rows, with the header, in the given order.
func WriteSignals(w io.Writer, rows []SignalRow) error {
	return writeRows(w, SignalsHeader, rows, SignalRow.record)
}

// ReadSignals parses a signals history. Errors have the form
// "name:line: what is wrong".
func ReadSignals(name string, r io.Reader) ([]SignalRow, error) {
	return readRows(name, r, SignalsHeader, parseSignalRow, func(r SignalRow) time.Time { return r.Time })
}

func parseSignalRow(rec []string) (SignalRow, error) {
	var r SignalRow
	var err error
	if r.Time, err = parseTime(rec[0]); err != nil {
		return r, fmt.Errorf("time: bad value %q", rec[0])
	}
	r.Commit, r.Shape, r.Signal, r.RunID = rec[1], rec[2], rec[3], rec[11]
	if r.Signal == "" {
		return r, fmt.Errorf("signal: empty")
	}
	n, err := strictcsv.Int(rec[4], 1, strictcsv.MaxCount)
	if err != nil {
		return r, fmt.Errorf("samples: bad value %q, want a count of at least 1: %v", rec[4], err)
	}
	r.Samples = int(n)
	// A signal's values may be negative; none may be infinite. The
	// p-value is a probability.
	nums := []struct {
		name     string
		dst      *float64
		lo, hi   float64
		optional bool
	}{
		{"first", &r.First, -math.MaxFloat64, math.MaxFloat64, false}, {"last", &r.Last, -math.MaxFloat64, math.MaxFloat64, false},
		{"mean", &r.Mean, -math.MaxFloat64, math.MaxFloat64, false}, {"max", &r.Max, -math.MaxFloat64, math.MaxFloat64, false},
		{"growth", &r.Growth, -math.MaxFloat64, math.MaxFloat64, true}, {"p_rise", &r.P, 0, 1, true},
	}
	for i, n := range nums {
		s := rec[5+i]
		if s == "" && n.optional {
			*n.dst = math.NaN()
			continue
		}
		v, err := strictcsv.Float(s, n.lo, n.hi)
		if err != nil {
			return r, fmt.Errorf("%s: bad value %q: %v", n.name, s, err)
		}
		*n.dst = v
	}
	return r, nil
}

// ReadSignalsFile reads the signals history at path; a missing file is an
// empty history.
func ReadSignalsFile(path string) ([]SignalRow, error) { return readFile(path, ReadSignals) }

// AppendSignals adds rows, those of one run, to the signals history at
// path, as Append does for the history: under its lock (waiting up to
// LockWait), read back whole (a malformed file is an error and is left
// untouched) and rewritten atomically, the rows in their place by time.
func AppendSignals(path string, rows []SignalRow) error {
	return appendRows(path, rows, signalsFile, nil)
}

var signalsFile = fileFormat[SignalRow]{read: ReadSignals, write: WriteSignals,
	at: func(r SignalRow) time.Time { return r.Time }, runID: func(r SignalRow) string { return r.RunID }}

// Signals returns the names of the signals in rows, sorted.
func Signals(rows []SignalRow) []string {
	var names []string
	for _, r := range rows {
		if !slices.Contains(names, r.Signal) {
			names = append(names, r.Signal)
		}
	}
	slices.Sort(names)
	return names
}

// SignalMeans returns the per-run mean of one signal in rows of one shape,
// oldest first.
func SignalMeans(rows []SignalRow, signal, shape string) []float64 {
	var xs []float64
	for _, r := range rows {
		if r.Signal == signal && r.Shape == shape {
			xs = append(xs, r.Mean)
		}
	}
	return xs
}
