package result

import (
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gocarina/gocsv"

	"github.com/steadyload/steadyload/loadtest/internal/atomicfile"
)

// Millis is a latency in microseconds written as milliseconds with three
// decimals (exact to the microsecond), e.g. 20143 → "20.143".
type Millis int64

// MarshalCSV implements gocsv.TypeMarshaller.
func (m Millis) MarshalCSV() (string, error) { return FormatMillis(int64(m)), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (m *Millis) UnmarshalCSV(s string) error {
	us, err := ParseMillis(s)
	*m = Millis(us)
	return err
}

// FormatMillis formats microseconds as milliseconds with three decimals.
func FormatMillis(us int64) string {
	return strconv.FormatFloat(float64(us)/1000, 'f', 3, 64)
}

// MaxReadLatency is the highest latency, in microseconds, that a file read
// back may hold: MaxLatency (1 h), above which the histograms record no
// more, plus their rounding (1 % for the windows') with room to spare. A
// higher one is taken for a damaged file.
const MaxReadLatency = MaxLatency + MaxLatency/50

// ParseMillis parses milliseconds written by FormatMillis into
// microseconds, from 0 to MaxReadLatency.
func ParseMillis(s string) (int64, error) {
	f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	switch {
	case err != nil || math.IsNaN(f):
		return 0, fmt.Errorf("bad milliseconds %q", s)
	case f < 0:
		return 0, fmt.Errorf("negative milliseconds %q", s)
	case f*1000 > float64(MaxReadLatency):
		return 0, fmt.Errorf("milliseconds %q out of range: above the %s a latency can reach", s, FormatMillis(MaxReadLatency))
	}
	return int64(f*1000 + 0.5), nil
}

// Fixed is a float written with a fixed number of decimals, so output is
// stable and diff-friendly.
type Fixed float64

// MarshalCSV implements gocsv.TypeMarshaller.
func (f Fixed) MarshalCSV() (string, error) { return strconv.FormatFloat(float64(f), 'f', 3, 64), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (f *Fixed) UnmarshalCSV(s string) error {
	v, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
	if err != nil {
		return fmt.Errorf("bad number %q", s)
	}
	*f = Fixed(v)
	return nil
}

// StatsRow is one row of <Test>_stats.csv: Locust's columns in Locust's
// order, then this project's.
type StatsRow struct {
	Type         string `csv:"Type"`
	Name         string `csv:"Name"`
	Requests     int64  `csv:"Request Count"`
	Failures     int64  `csv:"Failure Count"`
	Median       Millis `csv:"Median Response Time"`
	Mean         Fixed  `csv:"Average Response Time"`
	Min          Millis `csv:"Min Response Time"`
	Max          Millis `csv:"Max Response Time"`
	AvgContent   Fixed  `csv:"Average Content Size"`
	RPS          Fixed  `csv:"Requests/s"`
	FPS          Fixed  `csv:"Failures/s"`
	P50          Millis `csv:"50%"`
	P66          Millis `csv:"66%"`
	P75          Millis `csv:"75%"`
	P80          Millis `csv:"80%"`
	P90          Millis `csv:"90%"`
	P95          Millis `csv:"95%"`
	P98          Millis `csv:"98%"`
	P99          Millis `csv:"99%"`
	P999         Millis `csv:"99.9%"`
	P9999        Millis `csv:"99.99%"`
	P100         Millis `csv:"100%"`
	FailureRatio Fixed  `csv:"Failure Ratio"`
	Successes    int64  `csv:"Success Count"`
}

// HistoryRow is one row of <Test>_stats_history.csv: one task over one
// window. Locust's columns come first (percentiles and rates over the window,
// "Total" columns cumulative since the start), then this project's.
type HistoryRow struct {
	Timestamp       int64  `csv:"Timestamp"`
	Users           int    `csv:"User Count"`
	Type            string `csv:"Type"`
	Name            string `csv:"Name"`
	RPS             Fixed  `csv:"Requests/s"`
	FPS             Fixed  `csv:"Failures/s"`
	P50             Millis `csv:"50%"`
	P66             Millis `csv:"66%"`
	P75             Millis `csv:"75%"`
	P80             Millis `csv:"80%"`
	P90             Millis `csv:"90%"`
	P95             Millis `csv:"95%"`
	P98             Millis `csv:"98%"`
	P99             Millis `csv:"99%"`
	P999            Millis `csv:"99.9%"`
	P9999           Millis `csv:"99.99%"`
	P100            Millis `csv:"100%"`
	TotalRequests   int64  `csv:"Total Request Count"`
	TotalFailures   int64  `csv:"Total Failure Count"`
	TotalMedian     Millis `csv:"Total Median Response Time"`
	TotalMean       Fixed  `csv:"Total Average Response Time"`
	TotalMin        Millis `csv:"Total Min Response Time"`
	TotalMax        Millis `csv:"Total Max Response Time"`
	TotalAvgContent Fixed  `csv:"Total Average Content Size"`
	Offset          Fixed  `csv:"Window Offset (s)"`
	Length          Fixed  `csv:"Window Length (s)"`
	WindowRequests  int64  `csv:"Window Request Count"`
	WindowFailures  int64  `csv:"Window Failure Count"`
	WindowMean      Fixed  `csv:"Window Average Response Time"`
}

// FailureRow is one row of <Test>_failures.csv.
type FailureRow struct {
	Method      string `csv:"Method"`
	Name        string `csv:"Name"`
	Error       string `csv:"Error"`
	Occurrences int64  `csv:"Occurrences"`
	Class       string `csv:"Class"`
}

// StatsRows returns the rows of the stats file: one per task, then the
// aggregate.
func (r *Run) StatsRows() []StatsRow {
	secs := r.Meta.Elapsed.Seconds()
	rows := make([]StatsRow, 0, len(r.Tasks)+1)
	for _, t := range append(append([]*Task(nil), r.Tasks...), r.Total) {
		if t == nil {
			continue
		}
		rows = append(rows, statsRow(t, secs))
	}
	return rows
}

func statsRow(t *Task, secs float64) StatsRow {
	h := t.Latency
	q := make([]int64, len(Percentiles))
	var mean float64
	var lo, hi int64
	if h != nil && h.TotalCount() > 0 {
		q = h.ValueAtPercentilesSlice(Percentiles)
		mean = h.Mean() / 1000
		lo, hi = h.Min(), h.Max()
	}
	row := StatsRow{
		Type: t.Type, Name: t.Name,
		Requests: t.Requests, Failures: t.Failures,
		Median: Millis(q[0]), Mean: Fixed(mean), Min: Millis(lo), Max: Millis(hi),
		FailureRatio: Fixed(t.FailureRatio()),
		Successes:    t.Requests - t.Failures,
	}
	if t.Requests > 0 {
		row.AvgContent = Fixed(float64(t.ContentBytes) / float64(t.Requests))
	}
	if secs > 0 {
		row.RPS = Fixed(float64(t.Requests) / secs)
		row.FPS = Fixed(float64(t.Failures) / secs)
	}
	row.P50, row.P66, row.P75, row.P80, row.P90 = Millis(q[0]), Millis(q[1]), Millis(q[2]), Millis(q[3]), Millis(q[4])
	row.P95, row.P98, row.P99, row.P999, row.P9999, row.P100 = Millis(q[5]), Millis(q[6]), Millis(q[7]), Millis(q[8]), Millis(q[9]), Millis(q[10])
	return row
}

// HistoryRows returns the rows of the history file, in window order.
func (r *Run) HistoryRows() []HistoryRow {
	rows := make([]HistoryRow, 0, len(r.Windows))
	for _, w := range r.Windows {
		q := w.Quantiles
		if len(q) != len(Percentiles) {
			q = make([]int64, len(Percentiles))
		}
		secs := w.Length.Seconds()
		row := HistoryRow{
			Timestamp: w.Start.Unix(), Users: w.Users, Type: w.Type, Name: w.Name,
			P50: Millis(q[0]), P66: Millis(q[1]), P75: Millis(q[2]), P80: Millis(q[3]), P90: Millis(q[4]),
			P95: Millis(q[5]), P98: Millis(q[6]), P99: Millis(q[7]), P999: Millis(q[8]), P9999: Millis(q[9]), P100: Millis(q[10]),
			TotalRequests: w.TotalRequests, TotalFailures: w.TotalFailures,
			TotalMedian: Millis(w.TotalMedianUS), TotalMean: Fixed(w.TotalMeanUS / 1000),
			TotalMin: Millis(w.TotalMinUS), TotalMax: Millis(w.TotalMaxUS),
			Offset: Fixed(w.Offset.Seconds()), Length: Fixed(secs),
			WindowRequests: w.Requests, WindowFailures: w.Failures, WindowMean: Fixed(w.MeanUS / 1000),
		}
		if secs > 0 {
			row.RPS = Fixed(float64(w.Requests) / secs)
			row.FPS = Fixed(float64(w.Failures) / secs)
		}
		if w.TotalRequests > 0 {
			row.TotalAvgContent = Fixed(float64(w.TotalContentBytes) / float64(w.TotalRequests))
		}
		rows = append(rows, row)
	}
	return rows
}

// FailureRows returns the rows of the failures file.
func (r *Run) FailureRows() []FailureRow {
	rows := make([]FailureRow, 0, len(r.Failures))
	for _, f := range r.Failures {
		rows = append(rows, FailureRow{Method: f.Type, Name: f.Name, Error: f.Error, Occurrences: f.Occurrences, Class: f.Class})
	}
	return rows
}

// FileBase turns a test name into the file name prefix used for its results:
// subtest separators and other characters unsafe in file names become '_'.
func FileBase(test string) string {
	var b strings.Builder
	for _, r := range test {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	return b.String()
}

// Files names the three Locust-compatible CSV files of a test in dir.
func Files(dir, test string) (stats, history, failures string) {
	base := filepath.Join(dir, FileBase(test))
	return base + "_stats.csv", base + "_stats_history.csv", base + "_failures.csv"
}

// WriteCSV writes the stats, history and failures files of r into dir, and
// the run's metadata (<Test>_meta.csv: status, load shape, target...),
// each atomically, and returns their paths.
func (r *Run) WriteCSV(dir string) ([]string, error) {
	stats, history, failures := Files(dir, r.Meta.Test)
	writes := []struct {
		path string
		rows any
	}{
		{stats, r.StatsRows()},
		{history, r.HistoryRows()},
		{failures, r.FailureRows()},
		{MetaFile(dir, r.Meta.Test), r.Meta.Rows()},
	}
	var paths []string
	for _, w := range writes {
		if err := atomicfile.Write(w.path, func(out io.Writer) error { return MarshalCSV(w.rows, out) }); err != nil {
			return paths, err
		}
		paths = append(paths, w.path)
	}
	return paths, nil
}

// MarshalCSV writes rows (a slice of one of this package's row types) with
// a header line, even when rows is empty.
func MarshalCSV(rows any, w io.Writer) error {
	return gocsv.Marshal(rows, w)
}
