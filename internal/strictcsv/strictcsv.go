// Package strictcsv reads the CSV files the harness writes and reads back
// — baselines, histories — refusing anything it would not have written,
// so that a damaged or hand-edited file is reported, never misread.
//
// Beyond encoding/csv it requires: a header equal to the expected one,
// the header's number of fields on every line, LF line endings (a
// carriage return anywhere is an error: encoding/csv would silently drop
// it at a line's end), valid UTF-8 in every field, and a final line
// ending (a file cut short ends without one). Every error has the form
// "name:line: what", naming the column when one is at fault.
package strictcsv

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Reader reads the records of one CSV file after its header.
type Reader struct {
	name   string
	header []string
	cr     *csv.Reader
}

// NewReader reads all of r (the files are small), checks its text and
// its header, and returns a reader of its records. name is the file's
// name in errors.
func NewReader(name string, r io.Reader, header []string) (*Reader, error) {
	data, err := io.ReadAll(r)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	if err := checkText(name, data, header); err != nil {
		return nil, err
	}
	cr := csv.NewReader(bytes.NewReader(data))
	cr.FieldsPerRecord = -1 // checked here, with the expected count in the message
	rd := &Reader{name: name, header: header, cr: cr}
	got, _, err := rd.record()
	if err == io.EOF { // blank lines only
		return nil, fmt.Errorf("%s:1: no header, want %s", name, strings.Join(header, ","))
	}
	if err != nil {
		return nil, err
	}
	if !slices.Equal(got, header) {
		return nil, fmt.Errorf("%s:1: header is %q, want %q%s", name, strings.Join(got, ","), strings.Join(header, ","), headerDiff(got, header))
	}
	return rd, nil
}

// Read returns the next record and its line, io.EOF after the last. The
// record is the reader's own: it is not reused.
func (r *Reader) Read() (rec []string, line int, err error) {
	rec, line, err = r.record()
	if err != nil {
		return nil, line, err
	}
	if len(rec) != len(r.header) {
		return nil, line, fmt.Errorf("%s:%d: wrong number of fields: %d, want %d (%s)", r.name, line, len(rec), len(r.header), strings.Join(r.header, ","))
	}
	for i, f := range rec {
		if !utf8.ValidString(f) {
			l, _ := r.cr.FieldPos(i)
			return nil, l, fmt.Errorf("%s:%d: %s: %q is not valid UTF-8", r.name, l, r.header[i], f)
		}
	}
	return rec, line, nil
}

// record reads one record, with the line it starts on.
func (r *Reader) record() ([]string, int, error) {
	rec, err := r.cr.Read()
	if err == io.EOF {
		return nil, 0, io.EOF
	}
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			if pe.StartLine != 0 && pe.StartLine != pe.Line {
				return nil, pe.StartLine, fmt.Errorf("%s:%d: %v (the record starting here runs to line %d)", r.name, pe.StartLine, pe.Err, pe.Line)
			}
			return nil, pe.Line, fmt.Errorf("%s:%d: %v", r.name, pe.Line, pe.Err)
		}
		return nil, 0, fmt.Errorf("%s: %w", r.name, err)
	}
	line, _ := r.cr.FieldPos(0)
	return rec, line, nil
}

// checkText refuses an empty file, carriage returns and a missing final
// line ending, before the CSV is parsed.
func checkText(name string, data []byte, header []string) error {
	if len(data) == 0 {
		return fmt.Errorf("%s:1: empty file, want the header %s", name, strings.Join(header, ","))
	}
	if i := bytes.IndexByte(data, '\r'); i >= 0 {
		line := 1 + bytes.Count(data[:i], []byte("\n"))
		if i+1 < len(data) && data[i+1] == '\n' {
			return fmt.Errorf("%s:%d: line ends with CR LF: the harness writes LF line endings only (a checkout that converts line endings? see .gitattributes)", name, line)
		}
		return fmt.Errorf("%s:%d: carriage return in the line: the harness never writes one", name, line)
	}
	if data[len(data)-1] != '\n' {
		return fmt.Errorf("%s:%d: the last line has no line ending: the file was cut short", name, 1+bytes.Count(data, []byte("\n")))
	}
	return nil
}

// headerDiff names the first column where got and want part.
func headerDiff(got, want []string) string {
	for i := range min(len(got), len(want)) {
		if got[i] != want[i] {
			if !slices.Contains(want, got[i]) {
				return fmt.Sprintf(" (column %d: unknown column %q, want %q)", i+1, got[i], want[i])
			}
			return fmt.Sprintf(" (column %d: %q, want %q)", i+1, got[i], want[i])
		}
	}
	if len(got) < len(want) {
		return fmt.Sprintf(" (missing column %q)", want[len(got)])
	}
	return fmt.Sprintf(" (extra column %q)", got[len(want)])
}

// Bounds on the values read back: a value outside them is taken for a
// damaged file, not believed. Latencies have theirs in package result
// (MaxReadLatency: 1 h and the histograms' rounding).
const (
	MaxCount    = 1e15                // requests, failures, users, starts, samples, bytes
	MaxRate     = 1e9                 // per second: requests, users spawned
	MaxDuration = 31 * 24 * time.Hour // a run's duration, window, grace, elapsed time, start lag
)

// Float parses a finite number in [lo, hi]. Its errors, like Int's and
// Duration's, say what is wrong but not the value: the caller names it.
func Float(s string, lo, hi float64) (float64, error) {
	x, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsNaN(x) || math.IsInf(x, 0) {
		return 0, errors.New("not a finite number")
	}
	if x < lo || x > hi {
		return 0, fmt.Errorf("out of range: want %g to %g", lo, hi)
	}
	return x, nil
}

// Int parses a whole number in [lo, hi].
func Int(s string, lo, hi int64) (int64, error) {
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, errors.New("not a whole number")
	}
	if n < lo || n > hi {
		return 0, fmt.Errorf("out of range: want %d to %d", lo, hi)
	}
	return n, nil
}

// Duration parses a Go duration in [0, MaxDuration].
func Duration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(s)
	if err != nil {
		return 0, errors.New("not a duration")
	}
	if d < 0 || d > MaxDuration {
		return 0, fmt.Errorf("out of range: want 0s to %s", MaxDuration)
	}
	return d, nil
}
