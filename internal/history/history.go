package history

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/strictcsv"
	"github.com/steadyload/steadyload/loadtest/result"
)

// FileName is the name of the history file in a test's directory.
const FileName = "history.csv"

// Header is the history file's header line, in its fixed order.
var Header = []string{
	"time", "commit", "shape", "task",
	"requests", "failures", "failure_ratio", "rate",
	"p50_ms", "p90_ms", "p95_ms", "p99_ms", "se_ln_p95",
	"run_id",
}

// Row is one task's figures in one complete run.
type Row struct {
	Time     time.Time // start of the run
	Commit   string    // git commit under test
	Shape    string    // load shape (result.Shape.Key): only runs of one shape compare
	Task     string    // task key, e.g. "POST /orders", or result.AggregateName
	Requests int64
	Failures int64
	Rate     float64 // achieved requests per second
	// Latency percentiles of successful requests, in microseconds.
	P50, P90, P95, P99 int64
	SELnP95            float64 // bootstrap standard error of ln(p95); NaN when unknown
	RunID              string
}

// FailureRatio is Failures/Requests, 0 without requests.
func (r Row) FailureRatio() float64 {
	if r.Requests == 0 {
		return 0
	}
	return float64(r.Failures) / float64(r.Requests)
}

// Path returns the history file of test in environment env under root:
// root/<env>/<Test>/history.csv, with names made safe for file systems.
func Path(root, env, test string) string { return PathAt(root, env, "", test) }

// PathAt returns the history file of test in environment env seen from
// location: root/<env>@<location>/<Test>/history.csv, or Path's when
// location is empty (result.EnvFolder).
func PathAt(root, env, location, test string) string {
	return filepath.Join(root, result.EnvFolder(env, location), result.FileBase(test), FileName)
}

// FromRun returns the rows of a run: one per task that had requests (the
// per-user OnStart step excluded), then the aggregate. seLnP95 gives the
// standard error of ln(p95) of a task's latency histogram; nil leaves it
// unknown (NaN).
func FromRun(res *result.Run, seLnP95 func(*result.Task) float64) []Row {
	secs := res.Meta.Elapsed.Seconds()
	var rows []Row
	tasks := append(slices.Clone(res.Tasks), res.Total)
	for _, t := range tasks {
		if t == nil || t.Setup || t.Requests == 0 {
			continue
		}
		row := Row{
			Time: res.Meta.Start.UTC(), Commit: res.Meta.GitCommit, Shape: res.Meta.Shape().Key(),
			Task: t.Key(), Requests: t.Requests, Failures: t.Failures,
			SELnP95: math.NaN(), RunID: res.Meta.RunID,
		}
		if secs > 0 {
			row.Rate = float64(t.Requests) / secs
		}
		if h := t.Latency; h != nil && h.TotalCount() > 0 {
			q := h.ValueAtPercentiles([]float64{50, 90, 95, 99})
			row.P50, row.P90, row.P95, row.P99 = q[50], q[90], q[95], q[99]
			if seLnP95 != nil {
				if se := seLnP95(t); se >= 0 && se <= maxSE {
					row.SELnP95 = se // else unknown: Read refuses it
				}
			}
		}
		rows = append(rows, row)
	}
	return rows
}

func (r Row) record() []string {
	f := func(x float64, prec int) string {
		if math.IsNaN(x) {
			return ""
		}
		return strconv.FormatFloat(x, 'f', prec, 64)
	}
	return []string{
		r.Time.UTC().Format(time.RFC3339), r.Commit, r.Shape, r.Task,
		strconv.FormatInt(r.Requests, 10), strconv.FormatInt(r.Failures, 10),
		f(r.FailureRatio(), 6), f(r.Rate, 3),
		result.FormatMillis(r.P50), result.FormatMillis(r.P90), result.FormatMillis(r.P95), result.FormatMillis(r.P99),
		f(r.SELnP95, 6),
		r.RunID,
	}
}

// Write writes rows, with the header, in the given order.
func Write(w io.Writer, rows []Row) error { return writeRows(w, Header, rows, Row.record) }

// writeRows writes header, then each row as record gives it.
func writeRows[R any](w io.Writer, header []string, rows []R, record func(R) []string) error {
	cw := csv.NewWriter(w)
	cw.Write(header)
	for _, r := range rows {
		cw.Write(record(r))
	}
	cw.Flush()
	return cw.Error()
}

// Read parses a history file. name is used in errors, which have the form
// "name:line: column: what is wrong": a header other than Header, a row
// with the wrong number of fields, a value that does not parse or is out
// of range, rows out of time order, or text the harness does not write
// (CR LF line endings, invalid UTF-8, a last line without its line
// ending).
func Read(name string, r io.Reader) ([]Row, error) {
	return readRows(name, r, Header, parseRow, func(r Row) time.Time { return r.Time })
}

// readRows parses a CSV file whose first line is header and whose rows,
// parsed by parse, are in time order (at). Errors have the form
// "name:line: what is wrong".
func readRows[R any](name string, r io.Reader, header []string, parse func([]string) (R, error), at func(R) time.Time) ([]R, error) {
	cr, err := strictcsv.NewReader(name, r, header)
	if err != nil {
		return nil, err
	}
	var rows []R
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		row, err := parse(rec)
		if err != nil {
			return nil, fmt.Errorf("%s:%d: %v", name, line, err)
		}
		if n := len(rows); n > 0 && at(row).Before(at(rows[n-1])) {
			return nil, fmt.Errorf("%s:%d: time %s is before the previous row's %s: rows must be oldest first",
				name, line, at(row).Format(time.RFC3339), at(rows[n-1]).Format(time.RFC3339))
		}
		rows = append(rows, row)
	}
}

// maxSE bounds se_ln_p95: a standard error of ln(p95) above 10 (a factor
// of e¹⁰) is no measurement.
const maxSE = 10

func parseRow(rec []string) (Row, error) {
	var r Row
	var err error
	col := func(i int) string { return strings.TrimSpace(rec[i]) }
	bad := func(i int, what string) error { return fmt.Errorf("%s: %s %q", Header[i], what, rec[i]) }
	if r.Time, err = parseTime(col(0)); err != nil {
		return r, bad(0, "not an RFC 3339 time:")
	}
	r.Commit, r.Shape, r.Task, r.RunID = col(1), col(2), col(3), col(13)
	if r.Shape == "" {
		return r, fmt.Errorf("shape is empty")
	}
	if r.Task == "" {
		return r, fmt.Errorf("task is empty")
	}
	ints := []*int64{&r.Requests, &r.Failures}
	for k, p := range ints {
		v, err := strictcsv.Int(col(4+k), 0, strictcsv.MaxCount)
		if err != nil {
			return r, fmt.Errorf("%s: not a count: %q: %v", Header[4+k], rec[4+k], err)
		}
		*p = v
	}
	if r.Failures > r.Requests {
		return r, fmt.Errorf("failures %d exceed requests %d", r.Failures, r.Requests)
	}
	num := func(i int, hi float64, allowEmpty bool) (float64, error) {
		s := col(i)
		if s == "" && allowEmpty {
			return math.NaN(), nil
		}
		v, err := strictcsv.Float(s, 0, hi)
		if err != nil {
			return 0, fmt.Errorf("%s: not a non-negative number: %q: %v", Header[i], rec[i], err)
		}
		return v, nil
	}
	if _, err := num(6, 1, false); err != nil { // failure_ratio: derived, checked only
		return r, err
	}
	if r.Rate, err = num(7, strictcsv.MaxRate, false); err != nil {
		return r, err
	}
	qs := []*int64{&r.P50, &r.P90, &r.P95, &r.P99}
	for k, p := range qs {
		us, err := result.ParseMillis(col(8 + k))
		if err != nil {
			return r, fmt.Errorf("%s: %v", Header[8+k], err)
		}
		*p = us
	}
	if r.SELnP95, err = num(12, maxSE, true); err != nil {
		return r, err
	}
	return r, nil
}

// parseTime parses an RFC 3339 time into UTC, to the second the files
// keep, refusing one whose UTC year has no RFC 3339 form
// (0000-01-01T00:00:00+00:10 is in year -1).
func parseTime(s string) (time.Time, error) {
	t, err := time.Parse(time.RFC3339, s)
	if err != nil {
		return t, err
	}
	if t = t.UTC().Truncate(time.Second); t.Year() < 1 || t.Year() > 9999 {
		return t, fmt.Errorf("year %d out of range", t.Year())
	}
	return t, nil
}

// ReadFile reads the history file at path. A file that does not exist is
// an empty history, not an error.
func ReadFile(path string) ([]Row, error) { return readFile(path, Read) }

// LockWait is how long Append and AppendSignals wait for another run
// appending to the same file before they give up.
const LockWait = 30 * time.Second

// Append adds rows, those of one run, to the history file at path
// (creating it), and rewrites the Otava views beside it (OtavaFile). The
// file is locked against other runs (LockFile, left in place: ignore it
// in version control; Append waits up to LockWait for another run to
// finish), read back whole — a malformed file is an error and is left
// untouched — and rewritten atomically, with the rows put in their place
// by time: two runs appending at once both land, in order, whichever
// finishes first. Rows of a run already in the file are refused.
// Temporary files left by a process killed while writing are removed.
func Append(path string, rows []Row) error {
	return appendRows(path, rows, historyFile, func(all []Row) error {
		if err := atomicfile.RemoveTemps(filepath.Join(filepath.Dir(path), "otava-*.csv")); err != nil {
			return err
		}
		if err := WriteOtava(filepath.Dir(path), all); err != nil {
			return fmt.Errorf("append %s: %w", path, err)
		}
		return nil
	})
}

// fileFormat is how one kind of history file is read and written.
type fileFormat[R any] struct {
	read  func(string, io.Reader) ([]R, error)
	write func(io.Writer, []R) error
	at    func(R) time.Time // rows are in time order
	runID func(R) string
}

var historyFile = fileFormat[Row]{read: Read, write: Write,
	at: func(r Row) time.Time { return r.Time }, runID: func(r Row) string { return r.RunID }}

// readFile reads the file at path with read; a missing file has no rows.
func readFile[R any](path string, read func(string, io.Reader) ([]R, error)) ([]R, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read %s: %w", path, err)
	}
	defer f.Close()
	return read(path, f)
}

// appendRows adds rows (one run's, in time order) to the file at path
// under its lock: the file is read back whole — a malformed file is an
// error and is left untouched — and rewritten atomically with the rows
// in their place by time; then after, when not nil, is called with all
// the rows, still under the lock.
func appendRows[R any](path string, rows []R, ff fileFormat[R], after func(all []R) error) error {
	if len(rows) == 0 {
		return nil
	}
	for i := 1; i < len(rows); i++ {
		if ff.at(rows[i]).Before(ff.at(rows[i-1])) {
			return fmt.Errorf("append %s: new rows out of time order", path)
		}
	}
	unlock, err := atomicfile.LockWait(LockFile(path), LockWait)
	if err != nil {
		return fmt.Errorf("append %s: %w", path, err)
	}
	defer unlock()
	if err := atomicfile.RemoveTemps(path); err != nil {
		return fmt.Errorf("append %s: %w", path, err)
	}
	old, err := readFile(path, ff.read)
	if err != nil {
		return fmt.Errorf("append: %w", err)
	}
	// What is written must read back, or it would stop every later run.
	var buf bytes.Buffer
	if err := ff.write(&buf, rows); err != nil {
		return fmt.Errorf("append %s: %w", path, err)
	}
	if _, err := ff.read("new rows", &buf); err != nil {
		return fmt.Errorf("append %s: the new rows would not read back: %w", path, err)
	}
	// A run's rows are known by its id and their time: each segment of a
	// run without end appends its own.
	type key struct {
		id string
		at time.Time
	}
	ids := map[key]bool{}
	for _, r := range rows {
		ids[key{ff.runID(r), ff.at(r)}] = true
	}
	for _, r := range old {
		if id := ff.runID(r); id != "" && ids[key{id, ff.at(r)}] {
			return fmt.Errorf("append %s: run %s at %s is already in the file", path, id, ff.at(r).UTC().Format(time.RFC3339Nano))
		}
	}
	// Merged by time, the file's rows first among equals: usually the
	// new rows go at the end.
	all := make([]R, 0, len(old)+len(rows))
	i, j := 0, 0
	for i < len(old) || j < len(rows) {
		if j == len(rows) || i < len(old) && !ff.at(rows[j]).Before(ff.at(old[i])) {
			all = append(all, old[i])
			i++
		} else {
			all = append(all, rows[j])
			j++
		}
	}
	if err := atomicfile.Write(path, func(w io.Writer) error { return ff.write(w, all) }); err != nil {
		return fmt.Errorf("append: %w", err)
	}
	if after != nil {
		return after(all)
	}
	return nil
}

// LockFile names the lock file of the history file at path: hidden beside
// it, ".history.csv.lock".
func LockFile(path string) string {
	return filepath.Join(filepath.Dir(path), "."+filepath.Base(path)+".lock")
}

// Task returns the rows of one task, in order.
func Task(rows []Row, task string) []Row {
	var out []Row
	for _, r := range rows {
		if r.Task == task {
			out = append(out, r)
		}
	}
	return out
}

// Tasks returns the task keys present in rows, sorted, the aggregate last.
func Tasks(rows []Row) []string {
	var keys []string
	agg := false
	for _, r := range rows {
		if r.Task == result.AggregateName {
			agg = true
		} else if !slices.Contains(keys, r.Task) {
			keys = append(keys, r.Task)
		}
	}
	slices.Sort(keys)
	if agg {
		keys = append(keys, result.AggregateName)
	}
	return keys
}

// SameShape returns the rows whose Shape is shape (a result.Shape's Key),
// in order.
func SameShape(rows []Row, shape string) []Row {
	var out []Row
	for _, r := range rows {
		if r.Shape == shape {
			out = append(out, r)
		}
	}
	return out
}

// A Metric picks one latency percentile of a row, in microseconds.
type Metric struct {
	Name string // "p50", "p90", "p95", "p99"
	Of   func(Row) int64
}

// The metrics a history holds.
var (
	P50 = Metric{"p50", func(r Row) int64 { return r.P50 }}
	P90 = Metric{"p90", func(r Row) int64 { return r.P90 }}
	P95 = Metric{"p95", func(r Row) int64 { return r.P95 }}
	P99 = Metric{"p99", func(r Row) int64 { return r.P99 }}
)

// Values returns m of each row, in microseconds, NaN where the run had no
// successful request.
func Values(rows []Row, m Metric) []float64 {
	out := make([]float64, len(rows))
	for i, r := range rows {
		out[i] = math.NaN()
		if v := m.Of(r); v > 0 {
			out[i] = float64(v)
		}
	}
	return out
}
