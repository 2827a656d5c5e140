package baseline

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	hdrhistogram "github.com/HdrHistogram/hdrhistogram-go"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/result"
)

// Run is one recorded baseline run.
type Run struct {
	Name       string // directory name: start time (UTC) and run id
	Dir        string // its path
	Meta       result.Meta
	Params     Params
	Stats      []result.StatsRow   // per task, then Aggregated
	Histograms []Histogram         // per task with successful requests
	Windows    []result.HistoryRow // per task per window, then the window's Aggregated row
}

// Histogram returns the run's latency histogram of the task, nil when the
// run has none (no successful request, or no such task).
func (r *Run) Histogram(typ, name string) *hdrhistogram.Histogram {
	for _, h := range r.Histograms {
		if h.Type == typ && h.Name == name {
			return h.Latency
		}
	}
	return nil
}

// Task returns the run's stats row of the task (Aggregated for all).
func (r *Run) Task(typ, name string) (result.StatsRow, bool) {
	for _, s := range r.Stats {
		if s.Type == typ && s.Name == name {
			return s, true
		}
	}
	return result.StatsRow{}, false
}

// Dir is the baseline directory of a test in an environment:
// <root>/<env>/<Test>, names made safe for files as result.FileBase does.
func Dir(root, env, test string) string { return DirAt(root, env, "", test) }

// DirAt is the baseline directory of a test in an environment seen from
// a location: <root>/<env>@<location>/<Test>, or Dir's when location is
// empty (result.EnvFolder).
func DirAt(root, env, location, test string) string {
	return filepath.Join(root, result.EnvFolder(env, location), result.FileBase(test))
}

// RunName is the directory name of a recorded run: its start time in UTC
// and its run id, so names sort oldest first.
func RunName(m result.Meta) string {
	return m.Start.UTC().Format("20060102T150405Z") + "-" + result.FileBase(m.RunID)
}

// Load reads every run recorded in dir (a test's baseline directory),
// oldest first. A missing directory is no baseline: no runs, no error.
// Any malformed file is an error of the form "file:line: what is wrong";
// so are runs of different load shapes side by side. Entries whose names
// start with "." are ignored: Record's work in progress, the runs it is
// removing, lock files. Load takes no lock: a run that Record removes
// while Load reads it makes Load read the directory again.
func Load(dir string) ([]*Run, error) {
	for attempt := 1; ; attempt++ {
		runs, vanished, err := load(dir)
		if !vanished || attempt == 10 {
			return runs, err
		}
	}
}

// load reads the runs in dir once; vanished reports that a run went away
// while it was read, which is no fault of the run.
func load(dir string) (runs []*Run, vanished bool, err error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("read baseline: %w", err)
	}
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".") || !e.IsDir() {
			continue
		}
		r, err := readRun(filepath.Join(dir, e.Name()))
		if err != nil {
			_, serr := os.Stat(filepath.Join(dir, e.Name()))
			return nil, errors.Is(serr, fs.ErrNotExist), err
		}
		runs = append(runs, r)
	}
	sort.Slice(runs, func(i, j int) bool { return runs[i].Name < runs[j].Name })
	for _, r := range runs[min(1, len(runs)):] {
		if d := runs[0].Meta.Shape().Diff(r.Meta.Shape()); len(d) > 0 {
			return nil, false, fmt.Errorf("%s: runs %s and %s were recorded with different load shapes (%s): a baseline holds one shape; remove the stale runs or re-record",
				dir, runs[0].Name, r.Name, strings.Join(d, ", "))
		}
	}
	return runs, false, nil
}

func readRun(dir string) (*Run, error) {
	r := &Run{Name: filepath.Base(dir), Dir: dir}
	read := func(file string, parse func(name string, rd io.Reader) error) error {
		path := filepath.Join(dir, file)
		f, err := os.Open(path)
		if err != nil {
			return fmt.Errorf("read baseline: %w", err)
		}
		defer f.Close()
		return parse(path, f)
	}
	err := errors.Join(
		read(MetaFile, func(n string, rd io.Reader) (err error) { r.Meta, err = result.ReadMeta(n, rd); return }),
		read(GateFile, func(n string, rd io.Reader) (err error) { r.Params, err = ReadParams(n, rd); return }),
		read(StatsFile, func(n string, rd io.Reader) (err error) {
			r.Stats, err = result.ReadRows[result.StatsRow](n, rd)
			return
		}),
		read(HistogramsFile, func(n string, rd io.Reader) (err error) { r.Histograms, err = ReadHistograms(n, rd); return }),
		read(WindowsFile, func(n string, rd io.Reader) (err error) {
			r.Windows, err = result.ReadRows[result.HistoryRow](n, rd)
			return
		}),
	)
	if err != nil {
		return nil, err
	}
	if r.Meta.Status != result.Complete {
		return nil, fmt.Errorf("%s: status %q: only complete runs belong in a baseline", filepath.Join(dir, MetaFile), r.Meta.Status)
	}
	// The histograms must agree with the stats, so a hand edit of one
	// cannot silently change the gate's evidence.
	statsFile := filepath.Join(dir, StatsFile)
	for _, h := range r.Histograms {
		s, ok := r.Task(h.Type, h.Name)
		if !ok {
			return nil, fmt.Errorf("%s: task %q has a histogram in %s but no row here", statsFile, h.Key(), HistogramsFile)
		}
		if int64(s.Successes) != h.Latency.TotalCount() {
			return nil, fmt.Errorf("%s: task %q: Success Count %d, but %s holds %d requests", statsFile, h.Key(), s.Successes, HistogramsFile, h.Latency.TotalCount())
		}
	}
	for _, s := range r.Stats {
		if s.Successes > 0 && s.Name != result.AggregateName && r.Histogram(s.Type, s.Name) == nil {
			return nil, fmt.Errorf("%s: task %q: %d successes but no histogram in %s", statsFile, taskKey(s.Type, s.Name), s.Successes, HistogramsFile)
		}
		if s.Successes+s.Failures != s.Requests {
			return nil, fmt.Errorf("%s: task %q: %d successes and %d failures do not add up to %d requests", statsFile, taskKey(s.Type, s.Name), s.Successes, s.Failures, s.Requests)
		}
	}
	return r, nil
}

// Names Record gives to hidden entries of a baseline directory: its lock
// file, a run being written, a run being removed.
const (
	lockName     = ".baseline.lock"
	tmpPrefix    = ".tmp-"
	retirePrefix = ".trash-"
)

// LockWait is how long Record waits for another recorder of the same
// baseline to finish before it gives up.
const LockWait = 30 * time.Second

// Recorded is what Record did.
type Recorded struct {
	Name    string   // the new run's directory name
	Removed []string // the runs removed: of another load shape, or the oldest beyond keep
	Kept    int      // the runs in the baseline now, the new one included
}

// Record writes a complete run into dir as a new baseline run, then keeps
// only the newest keep runs of the run's load shape: runs of another shape
// are removed (recording under a new shape is how a baseline is
// refreshed). The existing baseline must be well-formed, or nothing is
// written or removed.
//
// Record is safe against crashes and against other recorders. It holds a
// lock file in dir (".baseline.lock", released when the process dies),
// waiting up to LockWait for another recorder. The new run is written
// into a hidden temporary directory; the runs to drop are first renamed,
// whole, to hidden names, then the new run is renamed into place, then
// the dropped runs are deleted. A process killed at any moment leaves
// whole runs of one shape, never more than keep+1 (when killed between
// placing the new run and retiring the oldest), and hidden leftovers that
// Load ignores and the next Record removes.
func Record(dir string, res *result.Run, p Params, keep int) (Recorded, error) {
	var rec Recorded
	if res.Meta.Status != result.Complete {
		return rec, fmt.Errorf("record baseline: the run is %s (%s): only a complete run is recorded", res.Meta.Status, res.Meta.Reason)
	}
	if keep < 1 {
		return rec, fmt.Errorf("record baseline: keep %d runs: want at least 1", keep)
	}
	unlock, err := atomicfile.LockWait(filepath.Join(dir, lockName), LockWait)
	if err != nil {
		return rec, fmt.Errorf("record baseline: %w", err)
	}
	defer unlock()
	if err := removeLeftovers(dir); err != nil {
		return rec, fmt.Errorf("record baseline: %w", err)
	}
	old, err := Load(dir)
	if err != nil {
		return rec, err
	}
	name := RunName(res.Meta)
	final := filepath.Join(dir, name)
	if _, err := os.Lstat(final); err == nil {
		return rec, fmt.Errorf("record baseline: %s already exists: not overwritten", final)
	}
	var otherShape, same []string
	for _, r := range old {
		if r.Meta.Shape() != res.Meta.Shape() {
			otherShape = append(otherShape, r.Name)
		} else {
			same = append(same, r.Name)
		}
	}
	same = append(same, name)
	sort.Strings(same)
	var oldest []string
	if n := len(same) - keep; n > 0 {
		if slices.Contains(same[:n], name) {
			return rec, fmt.Errorf("record baseline: run %s is older than the newest %d runs kept in %s: not recorded", name, keep, dir)
		}
		oldest = same[:n]
	}

	tmp, err := os.MkdirTemp(dir, tmpPrefix+name+"-")
	if err != nil {
		return rec, fmt.Errorf("record baseline: %w", err)
	}
	defer os.RemoveAll(tmp) // gone after the rename; cleans up after an error
	if err := writeRun(tmp, res, p); err != nil {
		return rec, fmt.Errorf("record baseline: %w", err)
	}
	// What is recorded must read back, or it would stop every later run.
	if _, err := readRun(tmp); err != nil {
		return rec, fmt.Errorf("record baseline: the run would not read back, not recorded: %w", err)
	}
	// The order keeps a usable baseline at every moment: runs of another
	// shape go first (a baseline of mixed shapes compares with nothing),
	// then the new run comes in, then the oldest beyond keep go. Killed
	// between the last two steps, the baseline holds keep+1 runs of one
	// shape, which the gate reads as they are and the next Record prunes.
	var retired []string
	retire := func(runs []string) error {
		for _, r := range runs {
			if err := os.Rename(filepath.Join(dir, r), filepath.Join(dir, retirePrefix+r)); err != nil {
				return fmt.Errorf("record baseline: remove old run: %w", err)
			}
			retired = append(retired, r)
		}
		return nil
	}
	undo := func() {
		for _, r := range retired {
			os.Rename(filepath.Join(dir, retirePrefix+r), filepath.Join(dir, r))
		}
	}
	if err := retire(otherShape); err != nil {
		undo()
		return rec, err
	}
	if err := os.Rename(tmp, final); err != nil {
		undo()
		return rec, fmt.Errorf("record baseline: %w", err)
	}
	if err := retire(oldest); err != nil {
		return rec, err // the new run is in; what could not be retired is pruned next time
	}
	atomicfile.SyncDir(dir)
	for _, r := range retired {
		os.RemoveAll(filepath.Join(dir, retirePrefix+r)) // what stays is removed by the next Record
	}
	removed := append(otherShape, oldest...)
	sort.Strings(removed)
	return Recorded{Name: name, Removed: removed, Kept: len(old) + 1 - len(removed)}, nil
}

// Prune keeps only the newest keep runs in dir, removing the older ones,
// and returns the names of the runs removed, oldest first. It holds the
// same lock as Record and removes as Record does: each run renamed whole
// to a hidden name first, then deleted, so a process killed mid-way
// leaves whole runs and hidden leftovers that the next Record removes.
func Prune(dir string, keep int) ([]string, error) {
	if keep < 1 {
		return nil, fmt.Errorf("prune baseline: keep %d runs: want at least 1", keep)
	}
	unlock, err := atomicfile.LockWait(filepath.Join(dir, lockName), LockWait)
	if err != nil {
		return nil, fmt.Errorf("prune baseline: %w", err)
	}
	defer unlock()
	if err := removeLeftovers(dir); err != nil {
		return nil, fmt.Errorf("prune baseline: %w", err)
	}
	runs, err := Load(dir)
	if err != nil {
		return nil, err
	}
	var removed []string
	for _, r := range runs[:max(0, len(runs)-keep)] {
		if err := os.Rename(filepath.Join(dir, r.Name), filepath.Join(dir, retirePrefix+r.Name)); err != nil {
			return removed, fmt.Errorf("prune baseline: %w", err)
		}
		removed = append(removed, r.Name)
	}
	atomicfile.SyncDir(dir)
	for _, r := range removed {
		os.RemoveAll(filepath.Join(dir, retirePrefix+r)) // what stays is removed by the next Record or Prune
	}
	return removed, nil
}

// writeRun writes the files of a run into dir, each synced.
func writeRun(dir string, res *result.Run, p Params) error {
	var hs []Histogram
	for _, t := range res.Tasks {
		if t.Latency != nil && t.Latency.TotalCount() > 0 {
			hs = append(hs, Histogram{Type: t.Type, Name: t.Name, Latency: t.Latency})
		}
	}
	writes := []struct {
		file string
		fill func(io.Writer) error
	}{
		{MetaFile, func(w io.Writer) error { return result.WriteMeta(w, res.Meta) }},
		{GateFile, func(w io.Writer) error { return WriteParams(w, p) }},
		{StatsFile, func(w io.Writer) error { return result.WriteRows(w, res.StatsRows()) }},
		{HistogramsFile, func(w io.Writer) error { return WriteHistograms(w, hs) }},
		{WindowsFile, func(w io.Writer) error { return result.WriteRows(w, res.HistoryRows()) }},
	}
	for _, w := range writes {
		if err := atomicfile.Write(filepath.Join(dir, w.file), w.fill); err != nil {
			return err
		}
	}
	return os.Chmod(dir, 0o755)
}

// removeLeftovers removes what a recorder killed mid-way left in dir: a
// run it was writing, runs it was removing. The caller holds the lock:
// no recorder is at work.
func removeLeftovers(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var errs []error
	for _, e := range entries {
		if n := e.Name(); strings.HasPrefix(n, tmpPrefix) || strings.HasPrefix(n, retirePrefix) {
			if err := os.RemoveAll(filepath.Join(dir, n)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove leftovers: %w", err)
	}
	return nil
}

func taskKey(typ, name string) string {
	if typ == "" {
		return name
	}
	return typ + " " + name
}
