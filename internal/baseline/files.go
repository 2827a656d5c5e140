package baseline

import (
	"encoding/csv"
	"fmt"
	"io"
	"slices"
	"sort"
	"strconv"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/internal/strictcsv"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The files of one baseline run.
const (
	MetaFile       = "meta.csv"       // result.WriteMeta: Key,Value
	GateFile       = "gate.csv"       // the gate parameters in force (WriteParams): Key,Value
	StatsFile      = "stats.csv"      // result.StatsRow rows, as <Test>_stats.csv
	HistogramsFile = "histograms.csv" // whole-run latency histogram per task (WriteHistograms)
	WindowsFile    = "windows.csv"    // result.HistoryRow rows, as <Test>_stats_history.csv
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

func taskLess(t1, n1, t2, n2 string) bool {
	if n1 != n2 {
		return n1 < n2
	}
	return t1 < t2
}
