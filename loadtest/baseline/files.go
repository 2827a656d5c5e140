package baseline

import (
	"encoding/csv"
	"fmt"
	"io"
	"reflect"
	"slices"
	"sort"
	"strconv"
	"strings"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/loadtest/internal/strictcsv"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The files of one baseline run.
const (
	MetaFile       = "meta.csv"       // result.Meta rows: Key,Value
	GateFile       = "gate.csv"       // the gate parameters in force: Key,Value
	StatsFile      = "stats.csv"      // Locust-compatible stats, as <Test>_stats.csv
	HistogramsFile = "histograms.csv" // whole-run latency histogram per task
	WindowsFile    = "windows.csv"    // per-window rows, as <Test>_stats_history.csv
)

// HistogramsHeader is the header of histograms.csv: one row per task and
// non-empty bucket of its whole-run histogram of successful requests,
// sorted by task (Name, then Type) and then by value. Microseconds is the
// highest value of the bucket (what the percentiles report), Count the
// number of requests in it.
var HistogramsHeader = []string{"Type", "Name", "Microseconds", "Count"}

// Histogram is one task's whole-run latency histogram.
type Histogram struct {
	Type, Name string
	Latency    *hdrhistogram.Histogram
}

// Key is the task's display name, as result.Task.Key.
func (h Histogram) Key() string {
	if h.Type == "" {
		return h.Name
	}
	return h.Type + " " + h.Name
}

// WriteHistograms writes hs (sorted as the file requires) to w.
func WriteHistograms(w io.Writer, hs []Histogram) error {
	hs = slices.Clone(hs)
	sort.SliceStable(hs, func(i, j int) bool { return taskLess(hs[i].Type, hs[i].Name, hs[j].Type, hs[j].Name) })
	cw := csv.NewWriter(w)
	cw.Write(HistogramsHeader)
	for _, h := range hs {
		for _, b := range h.Latency.Distribution() {
			if b.Count == 0 {
				continue
			}
			cw.Write([]string{h.Type, h.Name, strconv.FormatInt(b.To, 10), strconv.FormatInt(b.Count, 10)})
		}
	}
	cw.Flush()
	return cw.Error()
}

// ReadHistograms parses a histograms file. name is used in errors, which
// have the form "name:line: what is wrong".
func ReadHistograms(name string, r io.Reader) ([]Histogram, error) {
	cr, err := strictcsv.NewReader(name, r, HistogramsHeader)
	if err != nil {
		return nil, err
	}
	var hs []Histogram
	var last int64
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			return hs, nil
		}
		if err != nil {
			return nil, err
		}
		typ, task := rec[0], rec[1]
		if task == "" {
			return nil, fmt.Errorf("%s:%d: empty task name", name, line)
		}
		v, err := strconv.ParseInt(rec[2], 10, 64)
		if err != nil || v < result.MinLatency || v > result.MaxReadLatency {
			return nil, fmt.Errorf("%s:%d: Microseconds %q: want a whole number from %d to %d", name, line, rec[2], result.MinLatency, result.MaxReadLatency)
		}
		n, err := strictcsv.Int(rec[3], 1, strictcsv.MaxCount)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: Count %q: want a positive whole number: %v", name, line, rec[3], err)
		}
		if len(hs) == 0 || hs[len(hs)-1].Type != typ || hs[len(hs)-1].Name != task {
			if len(hs) > 0 {
				p := hs[len(hs)-1]
				if !taskLess(p.Type, p.Name, typ, task) {
					return nil, fmt.Errorf("%s:%d: task %q comes after %q: rows must be sorted by task, each task's rows together", name, line, Histogram{Type: typ, Name: task}.Key(), p.Key())
				}
			}
			hs = append(hs, Histogram{Type: typ, Name: task, Latency: result.NewHistogram()})
		} else if v <= last {
			return nil, fmt.Errorf("%s:%d: Microseconds %d after %d: values must increase within a task", name, line, v, last)
		}
		last = v
		h := hs[len(hs)-1].Latency
		before := h.TotalCount()
		if err := h.RecordValues(v, n); err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if h.TotalCount() != before+n {
			return nil, fmt.Errorf("%s:%d: count %d overflows the histogram", name, line, n)
		}
	}
}

// ReadStats parses a stats file (<Test>_stats.csv's format) with the exact
// header result writes.
func ReadStats(name string, r io.Reader) ([]result.StatsRow, error) {
	return readRows[result.StatsRow](name, r)
}

// ReadWindows parses a per-window file (<Test>_stats_history.csv's
// format) with the exact header result writes.
func ReadWindows(name string, r io.Reader) ([]result.HistoryRow, error) {
	return readRows[result.HistoryRow](name, r)
}

// readRows parses a CSV file of one of result's row types: the header must
// be the type's, every field must parse.
func readRows[T any](name string, r io.Reader) ([]T, error) {
	typ := reflect.TypeFor[T]()
	header := make([]string, typ.NumField())
	for i := range header {
		header[i] = typ.Field(i).Tag.Get("csv")
	}
	cr, err := strictcsv.NewReader(name, r, header)
	if err != nil {
		return nil, err
	}
	var rows []T
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		var row T
		v := reflect.ValueOf(&row).Elem()
		for i, s := range rec {
			if err := setField(v.Field(i), header[i], s); err != nil {
				return nil, fmt.Errorf("%s:%d: %s: %v", name, line, header[i], err)
			}
		}
		rows = append(rows, row)
	}
}

// The bounds of the number columns of the stats and window files, by
// column: latencies (Millis columns, and the means in milliseconds) up to
// result.MaxReadLatency, ratios up to 1, rates up to strictcsv.MaxRate,
// seconds up to strictcsv.MaxDuration; any other number is finite,
// non-negative and at most strictcsv.MaxCount.
var (
	maxReadMillis = float64(result.MaxReadLatency) / 1000
	columnMax     = map[string]float64{
		"Average Response Time":        maxReadMillis,
		"Total Average Response Time":  maxReadMillis,
		"Window Average Response Time": maxReadMillis,
		"Failure Ratio":                1,
		"Requests/s":                   strictcsv.MaxRate,
		"Failures/s":                   strictcsv.MaxRate,
		"Window Offset (s)":            strictcsv.MaxDuration.Seconds(),
		"Window Length (s)":            strictcsv.MaxDuration.Seconds(),
	}
)

// setField parses s into the field f of column col, within the column's
// bounds.
func setField(f reflect.Value, col, s string) error {
	if u, ok := f.Addr().Interface().(interface{ UnmarshalCSV(string) error }); ok {
		hi, ok := columnMax[col]
		if !ok {
			hi = strictcsv.MaxCount
		}
		if _, err := strictcsv.Float(strings.TrimSpace(s), 0, hi); err != nil {
			return fmt.Errorf("bad number %q: %v", s, err)
		}
		return u.UnmarshalCSV(s) // Millis: up to result.MaxReadLatency
	}
	switch f.Kind() {
	case reflect.String:
		f.SetString(s)
	case reflect.Int, reflect.Int64:
		n, err := strictcsv.Int(s, 0, strictcsv.MaxCount)
		if err != nil {
			return fmt.Errorf("bad count %q: %v", s, err)
		}
		f.SetInt(n)
	default:
		return fmt.Errorf("unsupported field kind %s", f.Kind())
	}
	return nil
}

func taskLess(t1, n1, t2, n2 string) bool {
	if n1 != n2 {
		return n1 < n2
	}
	return t1 < t2
}
