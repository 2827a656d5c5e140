package alert

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"slices"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/strictcsv"
)

// stateHeader is the header of the state file: a row per alert announced
// (or still to be), sorted by test, env, kind, task and metric. Started
// and Resolved are RFC 3339 times, Resolved empty while the alert fires;
// Sent says its firing message was delivered. Several tests may share one
// file: each reads and rewrites only its own rows, under a lock.
var stateHeader = []string{"Test", "Env", "Kind", "Task", "Metric", "Severity", "Segment", "Started", "Sent", "Resolved", "Details"}

// stateRow is one row of the state file.
type stateRow struct {
	test, env string
	*entry
}

// readState reads every row of the state file at path; a missing file
// has none.
func readState(path string) ([]stateRow, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	defer f.Close()
	rd, err := strictcsv.NewReader(path, f, stateHeader)
	if err != nil {
		return nil, err
	}
	var rows []stateRow
	for {
		rec, line, err := rd.Read()
		if err == io.EOF {
			return rows, nil
		}
		if err != nil {
			return nil, err
		}
		e := &entry{Kind: rec[2], Task: rec[3], Metric: rec[4], Severity: rec[5], Segment: rec[6], Details: rec[10]}
		bad := func(col int, what string) error {
			return fmt.Errorf("%s:%d: %s: %q: %s", path, line, stateHeader[col], rec[col], what)
		}
		if e.Kind == "" {
			return nil, bad(2, "empty")
		}
		if e.Severity != Fail && e.Severity != Warn {
			return nil, bad(5, fmt.Sprintf("want %q or %q", Fail, Warn))
		}
		if e.Started, err = time.Parse(time.RFC3339Nano, rec[7]); err != nil {
			return nil, bad(7, "not an RFC 3339 time")
		}
		switch rec[8] {
		case "true":
			e.Sent = true
		case "false":
		default:
			return nil, bad(8, "want true or false")
		}
		if rec[9] != "" {
			if e.Resolved, err = time.Parse(time.RFC3339Nano, rec[9]); err != nil {
				return nil, bad(9, "not an RFC 3339 time")
			}
		}
		rows = append(rows, stateRow{test: rec[0], env: rec[1], entry: e})
	}
}

// loadState returns the entries of test in env kept in the state file.
func loadState(path, test, env string) (map[string]*entry, error) {
	rows, err := readState(path)
	if err != nil {
		return nil, err
	}
	out := map[string]*entry{}
	for _, r := range rows {
		if r.test == test && r.env == env {
			out[key(r.Kind, r.Task, r.Metric)] = r.entry
		}
	}
	return out, nil
}

// saveState replaces the rows of test in env in the state file with
// entries, under the file's lock, atomically.
func saveState(path, test, env string, entries map[string]*entry) error {
	unlock, err := lockWait(path+".lock", 5*time.Second)
	if err != nil {
		return err
	}
	defer unlock()
	rows, err := readState(path)
	if err != nil {
		return err
	}
	rows = slices.DeleteFunc(rows, func(r stateRow) bool { return r.test == test && r.env == env })
	for _, k := range slices.Sorted(maps.Keys(entries)) {
		rows = append(rows, stateRow{test: test, env: env, entry: entries[k]})
	}
	slices.SortStableFunc(rows, func(a, b stateRow) int {
		return slices.Compare([]string{a.test, a.env, a.Kind, a.Task, a.Metric}, []string{b.test, b.env, b.Kind, b.Task, b.Metric})
	})
	return atomicfile.Write(path, func(w io.Writer) error {
		cw := csv.NewWriter(w)
		cw.Write(stateHeader)
		for _, r := range rows {
			cw.Write([]string{r.test, r.env, r.Kind, r.Task, r.Metric, r.Severity, r.Segment,
				r.Started.UTC().Format(time.RFC3339Nano), fmt.Sprint(r.Sent), stampNano(r.Resolved), r.Details})
		}
		cw.Flush()
		return cw.Error()
	})
}

func stampNano(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339Nano)
}

// lockWait takes the lock at path, waiting for another holder (another
// test sharing the file) for at most wait.
func lockWait(path string, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	for {
		unlock, err = atomicfile.Lock(path)
		if !errors.Is(err, atomicfile.ErrLocked) || time.Now().After(deadline) {
			return unlock, err
		}
		time.Sleep(20 * time.Millisecond)
	}
}
