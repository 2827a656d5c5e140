// Package findings writes a segment's findings — leaks, drift, steps,
// rising server signals — to <Test>_findings.csv beside the other result
// files, and reads them back, so that what a run found can be acted on
// after it (the nightly workflow turns failing findings into issues).
//
// The file has one row per finding, in the columns of Header, sorted by
// Kind, Task, Metric, then Text; it is written even when there is nothing
// to say, so that a header alone means "checked, nothing found" and a
// missing file "not checked":
//
//	Kind,Task,Metric,Severity,P,From,To,Change,N,Text
//	leak,GET /orders/{id},window p50,fail,0.0004,41200,55620,0.35,28,latency of GET /orders/{id} grew +35% …
//
// Severity is "fail" (the finding failed the test) or "warn". P is the
// test's p-value; From and To the fitted start and end (a step: the levels
// before and after), in microseconds for latencies and in the signal's
// unit for a server signal; Change is To/From − 1; N the values tested.
// Numbers are written in their shortest exact form; a number that is not
// finite is an empty cell.
//
//	f := findings.New(info)
//	// in the pipeline: f.Write(seg) with the sinks
package findings

import (
	"cmp"
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/strictcsv"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Header is the header of the findings file, in its column order.
var Header = []string{"Kind", "Task", "Metric", "Severity", "P", "From", "To", "Change", "N", "Text"}

// The severities of the Severity column.
const (
	Fail = "fail" // the finding failed the test
	Warn = "warn" // a warning
)

// Suffix ends the name of a findings file: <Test>_findings.csv.
const Suffix = "_findings.csv"

// Severity returns the Severity column's value for f.
func Severity(f result.Finding) string {
	if f.Fail {
		return Fail
	}
	return Warn
}

// Sort sorts findings in the file's order: by Kind, Task, Metric, then Text.
func Sort(fs []result.Finding) {
	slices.SortStableFunc(fs, func(a, b result.Finding) int {
		return cmp.Or(cmp.Compare(a.Kind, b.Kind), cmp.Compare(a.Task, b.Task), cmp.Compare(a.Metric, b.Metric), cmp.Compare(a.Text, b.Text))
	})
}

// WriteCSV writes fs as a findings file, sorted, leaving fs as it is.
func WriteCSV(w io.Writer, fs []result.Finding) error {
	rows := slices.Clone(fs)
	Sort(rows)
	cw := csv.NewWriter(w)
	cw.Write(Header)
	for _, f := range rows {
		cw.Write([]string{f.Kind, f.Task, f.Metric, Severity(f), number(f.P), number(f.From), number(f.To), number(f.Change), strconv.Itoa(f.N), f.Text})
	}
	cw.Flush()
	return cw.Error()
}

// number formats x in its shortest exact form, or as an empty cell when
// it is not finite.
func number(x float64) string {
	if math.IsNaN(x) || math.IsInf(x, 0) {
		return ""
	}
	return strconv.FormatFloat(x, 'g', -1, 64)
}

// ReadCSV reads a findings file written by WriteCSV; name is the file's
// name in errors, which have the form "name:line: column: what is wrong".
// An empty number cell reads as NaN. A step's At and Commit are not in the
// file and read as zero.
func ReadCSV(name string, r io.Reader) ([]result.Finding, error) {
	rd, err := strictcsv.NewReader(name, r, Header)
	if err != nil {
		return nil, err
	}
	var out []result.Finding
	for {
		rec, line, err := rd.Read()
		if err == io.EOF {
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		f := result.Finding{Kind: rec[0], Task: rec[1], Metric: rec[2], Text: rec[9]}
		bad := func(col int, err error) error {
			return fmt.Errorf("%s:%d: %s: %q: %v", name, line, Header[col], rec[col], err)
		}
		if f.Kind == "" {
			return nil, fmt.Errorf("%s:%d: Kind: empty", name, line)
		}
		switch rec[3] {
		case Fail:
			f.Fail = true
		case Warn:
		default:
			return nil, fmt.Errorf("%s:%d: Severity: %q: want %q or %q", name, line, rec[3], Fail, Warn)
		}
		for i, dst := range []*float64{&f.P, &f.From, &f.To, &f.Change} {
			col := 4 + i
			if rec[col] == "" {
				*dst = math.NaN()
				continue
			}
			if *dst, err = strictcsv.Float(rec[col], -math.MaxFloat64, math.MaxFloat64); err != nil {
				return nil, bad(col, err)
			}
		}
		n, err := strictcsv.Int(rec[8], 0, strictcsv.MaxCount)
		if err != nil {
			return nil, bad(8, err)
		}
		f.N = int(n)
		out = append(out, f)
	}
}

// Part writes each segment's findings to the results folder.
type Part struct {
	info pipeline.Info
}

var _ pipeline.Sink = (*Part)(nil)

// New makes the findings file's writer for the run info describes.
func New(info pipeline.Info) *Part {
	return &Part{info: info}
}

// Path is the findings file of a segment whose files are named base
// (pipeline.Segment.Name; the test's FileBase for a run of one segment).
func Path(dir, base string) string {
	return filepath.Join(dir, base+Suffix)
}

// Write writes the segment's findings to <Test>_findings.csv, atomically;
// a file that cannot be written fails the segment.
func (p *Part) Write(seg *pipeline.Segment) {
	base := seg.Name
	if base == "" {
		base = result.FileBase(seg.Meta.Test)
	}
	if err := atomicfile.Write(Path(p.info.Out, base), func(w io.Writer) error {
		return WriteCSV(w, seg.Findings)
	}); err != nil {
		seg.Failf("findings not written: %v", err)
	}
}
