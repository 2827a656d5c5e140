package result

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/gocarina/gocsv"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/strictcsv"
)

// The column types of the Locust-format files below. Each writes its
// text and reads it back strictly: a value the harness would not have
// written, or out of the column's bounds, is an error naming the value.
// Numbers with decimals are written with three.

// Count is a whole number from 0 to strictcsv.MaxCount: requests,
// failures, users, a Unix time in seconds.
type Count int64

// MarshalCSV implements gocsv.TypeMarshaller.
func (c Count) MarshalCSV() (string, error) { return strconv.FormatInt(int64(c), 10), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (c *Count) UnmarshalCSV(s string) error {
	n, err := strictcsv.Int(s, 0, strictcsv.MaxCount)
	if err != nil {
		return fmt.Errorf("bad count %q: %v", s, err)
	}
	*c = Count(n)
	return nil
}

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

// MeanMillis is a mean latency in milliseconds, from 0 to MaxReadLatency
// (in milliseconds).
type MeanMillis float64

// MarshalCSV implements gocsv.TypeMarshaller.
func (m MeanMillis) MarshalCSV() (string, error) { return formatFixed(float64(m)), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (m *MeanMillis) UnmarshalCSV(s string) error {
	return parseFixed(s, float64(MaxReadLatency)/1000, (*float64)(m))
}

// Fixed is a non-negative number from 0 to strictcsv.MaxCount: an average
// content size in bytes.
type Fixed float64

// MarshalCSV implements gocsv.TypeMarshaller.
func (f Fixed) MarshalCSV() (string, error) { return formatFixed(float64(f)), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (f *Fixed) UnmarshalCSV(s string) error { return parseFixed(s, strictcsv.MaxCount, (*float64)(f)) }

// PerSecond is a rate, from 0 to strictcsv.MaxRate per second.
type PerSecond float64

// MarshalCSV implements gocsv.TypeMarshaller.
func (p PerSecond) MarshalCSV() (string, error) { return formatFixed(float64(p)), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (p *PerSecond) UnmarshalCSV(s string) error {
	return parseFixed(s, strictcsv.MaxRate, (*float64)(p))
}

// Ratio is a fraction from 0 to 1.
type Ratio float64

// MarshalCSV implements gocsv.TypeMarshaller.
func (r Ratio) MarshalCSV() (string, error) { return formatFixed(float64(r)), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (r *Ratio) UnmarshalCSV(s string) error { return parseFixed(s, 1, (*float64)(r)) }

// Seconds is a time into the run or a length of time, in seconds, from 0
// to strictcsv.MaxDuration.
type Seconds float64

// MarshalCSV implements gocsv.TypeMarshaller.
func (d Seconds) MarshalCSV() (string, error) { return formatFixed(float64(d)), nil }

// UnmarshalCSV implements gocsv.TypeUnmarshaller.
func (d *Seconds) UnmarshalCSV(s string) error {
	return parseFixed(s, strictcsv.MaxDuration.Seconds(), (*float64)(d))
}

func formatFixed(x float64) string { return strconv.FormatFloat(x, 'f', 3, 64) }

// parseFixed parses s, a finite number from 0 to hi, into dst.
func parseFixed(s string, hi float64, dst *float64) error {
	x, err := strictcsv.Float(strings.TrimSpace(s), 0, hi)
	if err != nil {
		return fmt.Errorf("bad number %q: %v", s, err)
	}
	*dst = x
	return nil
}

// StatsRow is one row of <Test>_stats.csv: Locust's columns in Locust's
// order, then this project's.
type StatsRow struct {
	Type         string     `csv:"Type"`
	Name         string     `csv:"Name"`
	Requests     Count      `csv:"Request Count"`
	Failures     Count      `csv:"Failure Count"`
	Median       Millis     `csv:"Median Response Time"`
	Mean         MeanMillis `csv:"Average Response Time"`
	Min          Millis     `csv:"Min Response Time"`
	Max          Millis     `csv:"Max Response Time"`
	AvgContent   Fixed      `csv:"Average Content Size"`
	RPS          PerSecond  `csv:"Requests/s"`
	FPS          PerSecond  `csv:"Failures/s"`
	P50          Millis     `csv:"50%"`
	P66          Millis     `csv:"66%"`
	P75          Millis     `csv:"75%"`
	P80          Millis     `csv:"80%"`
	P90          Millis     `csv:"90%"`
	P95          Millis     `csv:"95%"`
	P98          Millis     `csv:"98%"`
	P99          Millis     `csv:"99%"`
	P999         Millis     `csv:"99.9%"`
	P9999        Millis     `csv:"99.99%"`
	P100         Millis     `csv:"100%"`
	FailureRatio Ratio      `csv:"Failure Ratio"`
	Successes    Count      `csv:"Success Count"`
}

// HistoryRow is one row of <Test>_stats_history.csv: one task over one
// window. Locust's columns come first (percentiles and rates over the window,
// "Total" columns cumulative since the start), then this project's.
type HistoryRow struct {
	Timestamp       Count      `csv:"Timestamp"` // Unix seconds
	Users           Count      `csv:"User Count"`
	Type            string     `csv:"Type"`
	Name            string     `csv:"Name"`
	RPS             PerSecond  `csv:"Requests/s"`
	FPS             PerSecond  `csv:"Failures/s"`
	P50             Millis     `csv:"50%"`
	P66             Millis     `csv:"66%"`
	P75             Millis     `csv:"75%"`
	P80             Millis     `csv:"80%"`
	P90             Millis     `csv:"90%"`
	P95             Millis     `csv:"95%"`
	P98             Millis     `csv:"98%"`
	P99             Millis     `csv:"99%"`
	P999            Millis     `csv:"99.9%"`
	P9999           Millis     `csv:"99.99%"`
	P100            Millis     `csv:"100%"`
	TotalRequests   Count      `csv:"Total Request Count"`
	TotalFailures   Count      `csv:"Total Failure Count"`
	TotalMedian     Millis     `csv:"Total Median Response Time"`
	TotalMean       MeanMillis `csv:"Total Average Response Time"`
	TotalMin        Millis     `csv:"Total Min Response Time"`
	TotalMax        Millis     `csv:"Total Max Response Time"`
	TotalAvgContent Fixed      `csv:"Total Average Content Size"`
	Offset          Seconds    `csv:"Window Offset (s)"`
	Length          Seconds    `csv:"Window Length (s)"`
	WindowRequests  Count      `csv:"Window Request Count"`
	WindowFailures  Count      `csv:"Window Failure Count"`
	WindowMean      MeanMillis `csv:"Window Average Response Time"`
}

// FailureRow is one row of <Test>_failures.csv.
type FailureRow struct {
	Method      string `csv:"Method"`
	Name        string `csv:"Name"`
	Error       string `csv:"Error"`
	Occurrences Count  `csv:"Occurrences"`
	Class       string `csv:"Class"`
}

// Row is a row type of the Locust-format files: stats, stats history
// (a baseline's windows.csv) and failures.
type Row interface {
	StatsRow | HistoryRow | FailureRow
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
		Requests: Count(t.Requests), Failures: Count(t.Failures),
		Median: Millis(q[0]), Mean: MeanMillis(mean), Min: Millis(lo), Max: Millis(hi),
		FailureRatio: Ratio(t.FailureRatio()),
		Successes:    Count(t.Requests - t.Failures),
	}
	if t.Requests > 0 {
		row.AvgContent = Fixed(float64(t.ContentBytes) / float64(t.Requests))
	}
	if secs > 0 {
		row.RPS = PerSecond(float64(t.Requests) / secs)
		row.FPS = PerSecond(float64(t.Failures) / secs)
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
			Timestamp: Count(w.Start.Unix()), Users: Count(w.Users), Type: w.Type, Name: w.Name,
			P50: Millis(q[0]), P66: Millis(q[1]), P75: Millis(q[2]), P80: Millis(q[3]), P90: Millis(q[4]),
			P95: Millis(q[5]), P98: Millis(q[6]), P99: Millis(q[7]), P999: Millis(q[8]), P9999: Millis(q[9]), P100: Millis(q[10]),
			TotalRequests: Count(w.TotalRequests), TotalFailures: Count(w.TotalFailures),
			TotalMedian: Millis(w.TotalMedianUS), TotalMean: MeanMillis(w.TotalMeanUS / 1000),
			TotalMin: Millis(w.TotalMinUS), TotalMax: Millis(w.TotalMaxUS),
			Offset: Seconds(w.Offset.Seconds()), Length: Seconds(secs),
			WindowRequests: Count(w.Requests), WindowFailures: Count(w.Failures), WindowMean: MeanMillis(w.MeanUS / 1000),
		}
		if secs > 0 {
			row.RPS = PerSecond(float64(w.Requests) / secs)
			row.FPS = PerSecond(float64(w.Failures) / secs)
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
		rows = append(rows, FailureRow{Method: f.Type, Name: f.Name, Error: f.Error, Occurrences: Count(f.Occurrences), Class: f.Class})
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
// the run's metadata (<name>_meta.csv: status, load shape, target...),
// each atomically, and returns their paths. name is the files' prefix:
// the test's name (made safe with FileBase), or a segment's.
func (r *Run) WriteCSV(dir, name string) ([]string, error) {
	stats, history, failures := Files(dir, name)
	writes := []struct {
		path  string
		write func(io.Writer) error
	}{
		{stats, func(w io.Writer) error { return WriteRows(w, r.StatsRows()) }},
		{history, func(w io.Writer) error { return WriteRows(w, r.HistoryRows()) }},
		{failures, func(w io.Writer) error { return WriteRows(w, r.FailureRows()) }},
		{MetaFile(dir, name), func(w io.Writer) error { return WriteMeta(w, r.Meta) }},
	}
	var paths []string
	for _, w := range writes {
		if err := atomicfile.Write(w.path, w.write); err != nil {
			return paths, err
		}
		paths = append(paths, w.path)
	}
	return paths, nil
}

// WriteRows writes rows with gocsv: the header line, even when there are
// no rows, then a line per row, each column as its type writes it.
func WriteRows[R Row](w io.Writer, rows []R) error {
	return gocsv.Marshal(rows, w)
}

// ReadRows reads a file written by WriteRows. name is used in errors,
// which have the form "name:line: column: what is wrong". The text is
// checked by strictcsv (the exact header WriteRows writes, the header's
// number of fields on every line, LF line endings, UTF-8, a final line
// ending), then gocsv fills the rows, each column's type refusing a value
// it would not have written or out of its bounds.
func ReadRows[R Row](name string, r io.Reader) ([]R, error) {
	header, err := headerOf[R]()
	if err != nil {
		return nil, err
	}
	cr, err := strictcsv.NewReader(name, r, header)
	if err != nil {
		return nil, err
	}
	recs := records{header}
	lines := []int{1}
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		recs = append(recs, rec)
		lines = append(lines, line)
	}
	var rows []R
	if err := gocsv.UnmarshalDecoder(recs, &rows); err != nil {
		// gocsv counts records, not lines: a quoted field may span
		// several lines.
		var pe *csv.ParseError
		if errors.As(err, &pe) && pe.Line >= 1 && pe.Line <= len(lines) && pe.Column >= 1 && pe.Column <= len(header) {
			return nil, fmt.Errorf("%s:%d: %s: %v", name, lines[pe.Line-1], header[pe.Column-1], pe.Err)
		}
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	return rows, nil
}

// records are a file's header and records, checked, for gocsv to decode.
type records [][]string

// GetCSVRows implements gocsv.Decoder.
func (r records) GetCSVRows() ([][]string, error) { return r, nil }

// headerOf returns the header WriteRows writes for rows of type R.
func headerOf[R Row]() ([]string, error) {
	var b bytes.Buffer
	if err := WriteRows[R](&b, nil); err != nil {
		return nil, err
	}
	return csv.NewReader(&b).Read()
}
