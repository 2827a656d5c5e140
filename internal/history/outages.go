package history

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/steadyload/steadyload/internal/strictcsv"
)

// OutagesFileName is the history of the outages a run without end rode
// out, beside the history file: one row per segment whose load was
// paused. Such a segment's figures stay out of the history, so that
// drift is not confused by them; this file says where they went.
const OutagesFileName = "outages.csv"

// OutagesHeader is the outages history's header line, in its fixed order.
var OutagesHeader = []string{"time", "commit", "shape", "segment_s", "paused_s", "outages", "run_id"}

// OutageRow is one segment whose load was paused by an outage.
type OutageRow struct {
	Time    time.Time // the segment's start
	Commit  string
	Shape   string        // load shape (result.Shape.Key)
	Segment time.Duration // the segment's length
	Paused  time.Duration // how long its load was paused
	Outages int           // outages that began in it
	RunID   string
}

// OutagesPath returns the outages history beside the history file of
// test.
func OutagesPath(root, env, test string) string {
	return filepath.Join(filepath.Dir(Path(root, env, test)), OutagesFileName)
}

func (r OutageRow) record() []string {
	secs := func(d time.Duration) string { return strconv.FormatFloat(d.Seconds(), 'f', 3, 64) }
	return []string{
		r.Time.UTC().Format(time.RFC3339Nano), r.Commit, r.Shape,
		secs(r.Segment), secs(r.Paused), strconv.Itoa(r.Outages), r.RunID,
	}
}

// WriteOutages writes rows, with the header, in the given order.
func WriteOutages(w io.Writer, rows []OutageRow) error {
	return writeRows(w, OutagesHeader, rows, OutageRow.record)
}

// ReadOutages parses an outages history. Errors have the form
// "name:line: what is wrong".
func ReadOutages(name string, r io.Reader) ([]OutageRow, error) {
	return readRows(name, r, OutagesHeader, parseOutageRow, func(r OutageRow) time.Time { return r.Time })
}

func parseOutageRow(rec []string) (OutageRow, error) {
	var r OutageRow
	var err error
	if r.Time, err = time.Parse(time.RFC3339Nano, rec[0]); err != nil {
		return r, fmt.Errorf("time: bad value %q", rec[0])
	}
	r.Commit, r.Shape, r.RunID = rec[1], rec[2], rec[6]
	for i, dst := range []*time.Duration{&r.Segment, &r.Paused} {
		v, err := strictcsv.Float(rec[3+i], 0, 1e9)
		if err != nil {
			return r, fmt.Errorf("%s: bad value %q: %v", OutagesHeader[3+i], rec[3+i], err)
		}
		*dst = time.Duration(v * float64(time.Second))
	}
	if r.Paused > r.Segment {
		return r, fmt.Errorf("paused_s: %s is longer than the segment, %s", r.Paused, r.Segment)
	}
	n, err := strictcsv.Int(rec[5], 0, 1<<20)
	if err != nil {
		return r, fmt.Errorf("outages: bad value %q: %v", rec[5], err)
	}
	r.Outages = int(n)
	return r, nil
}

// ReadOutagesFile reads the outages history at path; a missing file is
// an empty history.
func ReadOutagesFile(path string) ([]OutageRow, error) { return readFile(path, ReadOutages) }

// AppendOutages adds rows to the outages history at path, as Append does
// for the history: under its lock, read back whole and rewritten
// atomically.
func AppendOutages(path string, rows []OutageRow) error {
	return appendRows(path, rows, outagesFile, nil)
}

var outagesFile = fileFormat[OutageRow]{read: ReadOutages, write: WriteOutages,
	at: func(r OutageRow) time.Time { return r.Time }, runID: func(r OutageRow) string { return r.RunID }}
