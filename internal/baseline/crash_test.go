package baseline

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/history"
	"github.com/steadyload/steadyload/loadtest/result"
)

// The crash and concurrency tests record through the functions the
// harness's features call — Record for the gate's -loadtest.update,
// history.Append and history.AppendSignals for -loadtest.history — in
// child processes of this test binary, and read back through the readers
// the harness uses before a run: Load, history.ReadFile and
// history.ReadSignalsFile.

const (
	childEnv = "BASELINE_RECORDER"      // "loop" or "once": this process is a recorder
	dirEnv   = "BASELINE_RECORDER_DIR"  // the test's baseline directory
	fromEnv  = "BASELINE_RECORDER_FROM" // the first run's index (minutes after t0)
	crashK   = 3                        // runs kept
)

// recordAll records run i as the harness does at the end of a complete
// run with -loadtest.update and -loadtest.history: the baseline run, then
// its history rows, then its server signal rows.
func recordAll(dir string, i int) (string, error) {
	res := fakeRun(i, 10)
	rec, err := Record(dir, res, params, crashK)
	if err != nil {
		return "", err
	}
	name := rec.Name
	if err := history.Append(filepath.Join(dir, history.FileName), history.FromRun(res, nil)); err != nil {
		return name, err
	}
	return name, history.AppendSignals(filepath.Join(dir, history.SignalsFileName), signalRowsOf(res))
}

// signalRowsOf is one server signal's row for the run.
func signalRowsOf(res *result.Run) []history.SignalRow {
	return []history.SignalRow{{Time: res.Meta.Start, Commit: "abc", Shape: res.Meta.Shape().Key(), Signal: "go_goroutines",
		Samples: 3, First: 10, Last: 12, Mean: 11, Max: 12, Growth: math.NaN(), P: math.NaN(), RunID: res.Meta.RunID}}
}

// recorder is the child process: "loop" records runs from index from on
// until it is killed; "once" waits for a line on stdin, records run from
// and says what happened.
func recorder(mode, dir string, from int) {
	out := bufio.NewWriter(os.Stdout)
	switch mode {
	case "loop":
		out.WriteString("started\n")
		out.Flush()
		for i := from; ; i++ {
			if _, err := recordAll(dir, i); err != nil {
				fmt.Fprintf(os.Stderr, "run %d: %v\n", i, err)
				os.Exit(3)
			}
		}
	case "once":
		out.WriteString("ready\n")
		out.Flush()
		bufio.NewReader(os.Stdin).ReadString('\n')
		name, err := recordAll(dir, from)
		if err != nil {
			fmt.Fprintf(out, "error %v\n", err)
		} else {
			fmt.Fprintf(out, "recorded %s\n", name)
		}
		out.Flush()
		os.Exit(0)
	}
	os.Exit(2)
}

// startRecorder starts a child recorder and returns it with its first line.
func startRecorder(t *testing.T, mode, dir string, from int) (cmd *exec.Cmd, out *bufio.Reader, in io.WriteCloser, first string) {
	t.Helper()
	cmd = exec.Command(os.Args[0], "-test.run=^"+t.Name()+"$")
	cmd.Env = append(os.Environ(), childEnv+"="+mode, dirEnv+"="+dir, fromEnv+"="+strconv.Itoa(from))
	var stderr strings.Builder
	cmd.Stderr = &stderr
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if in, err = cmd.StdinPipe(); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cmd.Process.Kill()
		cmd.Wait()
	})
	out = bufio.NewReader(stdout)
	first, err = out.ReadString('\n')
	if err != nil {
		t.Fatalf("recorder said %q, %v; stderr: %s", first, err, stderr.String())
	}
	return cmd, out, in, strings.TrimSpace(first)
}

// asRecorder runs this process as a recorder when the test started it so.
func asRecorder() {
	if mode := os.Getenv(childEnv); mode != "" {
		from, _ := strconv.Atoi(os.Getenv(fromEnv))
		recorder(mode, os.Getenv(dirEnv), from)
	}
}

// checkReadable reads the baseline and the histories as a run does before
// its first request.
func checkReadable(dir string) (runs []*Run, err error) {
	if runs, err = Load(dir); err != nil {
		return nil, err
	}
	// keep+1 when killed between placing the new run and retiring the
	// oldest; the next recording prunes it.
	if len(runs) > crashK+1 {
		return runs, fmt.Errorf("%d runs kept; want at most %d", len(runs), crashK+1)
	}
	for _, r := range runs {
		if d := r.Meta.Shape().Diff(runs[0].Meta.Shape()); len(d) > 0 {
			return runs, fmt.Errorf("runs of two shapes kept: %s and %s (%v)", runs[0].Name, r.Name, d)
		}
	}
	if _, err := history.ReadFile(filepath.Join(dir, history.FileName)); err != nil {
		return runs, err
	}
	_, err = history.ReadSignalsFile(filepath.Join(dir, history.SignalsFileName))
	return runs, err
}

// leftovers lists the hidden entries under dir other than the lock files,
// which stay by design.
func leftovers(dir string) []string {
	var found []string
	filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err == nil && path != dir && strings.HasPrefix(d.Name(), ".") && !strings.HasSuffix(d.Name(), ".lock") {
			found = append(found, strings.TrimPrefix(path, dir+string(filepath.Separator)))
		}
		return nil
	})
	return found
}

// TestCrashWhileRecording kills a process that records baseline runs and
// history rows in a loop, at seeded random moments, many times: after
// every kill the baseline and the histories read back cleanly, with at
// most K runs, and the next recording succeeds and leaves no temporary or
// half-removed entries behind.
func TestCrashWhileRecording(t *testing.T) {
	asRecorder()
	if testing.Short() {
		t.Skip("kills 80 processes")
	}
	dir := filepath.Join(t.TempDir(), "local", "TestOrders")
	rng := rand.New(rand.NewPCG(4, 12))
	const kills = 80
	caught := map[string]int{} // leftovers found after the kills, by kind
	for k := range kills {
		cmd, _, _, _ := startRecorder(t, "loop", dir, 1000*k)
		time.Sleep(time.Duration(rng.IntN(40_000)) * time.Microsecond)
		cmd.Process.Kill()
		cmd.Wait()
		if code := cmd.ProcessState.ExitCode(); code != -1 {
			t.Fatalf("kill %d: the recorder had exited with code %d before the kill (see its stderr above)", k, code)
		}
		left, err := checkReadable(dir)
		if err != nil {
			t.Fatalf("kill %d: after the kill: %v", k, err)
		}
		for _, l := range leftovers(dir) {
			if kind, _, ok := strings.Cut(strings.TrimPrefix(l, "."), "-"); ok && !strings.Contains(l, "/") {
				caught[kind]++
			}
		}
		if _, err := recordAll(dir, 1000*k+999); err != nil {
			t.Fatalf("kill %d: the next recording: %v", k, err)
		}
		runs, err := checkReadable(dir)
		if err != nil {
			t.Fatalf("kill %d: after the next recording: %v", k, err)
		}
		if want := min(len(left)+1, crashK); len(runs) != want {
			t.Errorf("kill %d: %d runs kept after a clean recording over %d; want %d", k, len(runs), len(left), want)
		}
		if l := leftovers(dir); len(l) > 0 {
			t.Fatalf("kill %d: after the next recording, leftovers remain: %s", k, strings.Join(l, ", "))
		}
	}
	t.Logf("leftovers of %d kills, all removed by the next recording: %v", kills, caught)
}

// TestConcurrentRecorders starts two processes recording into one
// baseline at the same moment, several times: exactly K runs are kept,
// both new runs among them, and both runs' history rows are in the files.
func TestConcurrentRecorders(t *testing.T) {
	asRecorder()
	for round := range 6 {
		dir := filepath.Join(t.TempDir(), "local", "TestOrders")
		for i := range crashK {
			if _, err := recordAll(dir, i); err != nil {
				t.Fatal(err)
			}
		}
		var cmds []*exec.Cmd
		var outs []*bufio.Reader
		var ins []io.WriteCloser
		for _, from := range []int{100, 101} {
			cmd, out, in, first := startRecorder(t, "once", dir, from)
			if first != "ready" {
				t.Fatalf("recorder said %q; want ready", first)
			}
			cmds, outs, ins = append(cmds, cmd), append(outs, out), append(ins, in)
		}
		for _, in := range ins {
			io.WriteString(in, "go\n")
		}
		var said []string
		for i, out := range outs {
			line, _ := out.ReadString('\n')
			cmds[i].Wait()
			said = append(said, strings.TrimSpace(line))
		}
		for i, s := range said {
			if want := "recorded " + RunName(fakeRun(100+i, 10).Meta); s != want {
				t.Errorf("round %d: recorder %d said %q; want %q", round, i, s, want)
			}
		}
		checkBoth(t, fmt.Sprintf("round %d", round), dir, 100, 101)
	}
}

// TestConcurrentRecordersInProcess: the same, two goroutines of one
// process (a test binary running two scenarios in parallel).
func TestConcurrentRecordersInProcess(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "local", "TestOrders")
	for i := range crashK {
		if _, err := recordAll(dir, i); err != nil {
			t.Fatal(err)
		}
	}
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i := range 2 {
		wg.Go(func() { _, errs[i] = recordAll(dir, 100+i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Errorf("recorder %d: %v", i, err)
		}
	}
	checkBoth(t, "in process", dir, 100, 101)
}

// checkBoth checks that runs a and b were both recorded, with their rows,
// and that the baseline holds exactly K runs.
func checkBoth(t *testing.T, what, dir string, a, b int) {
	t.Helper()
	runs, err := Load(dir)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	var names []string
	for _, r := range runs {
		names = append(names, r.Name)
	}
	if len(runs) != crashK {
		t.Errorf("%s: %d runs kept (%s); want %d", what, len(runs), strings.Join(names, ", "), crashK)
	}
	rows, err := history.ReadFile(filepath.Join(dir, history.FileName))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	sigs, err := history.ReadSignalsFile(filepath.Join(dir, history.SignalsFileName))
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	for _, i := range []int{a, b} {
		m := fakeRun(i, 10).Meta
		if !slices.Contains(names, RunName(m)) {
			t.Errorf("%s: run %s is not in the baseline (%s)", what, RunName(m), strings.Join(names, ", "))
		}
		if !slices.ContainsFunc(rows, func(r history.Row) bool { return r.RunID == m.RunID && r.Task == result.AggregateName }) {
			t.Errorf("%s: the history has no row of run %s", what, m.RunID)
		}
		if !slices.ContainsFunc(sigs, func(r history.SignalRow) bool { return r.RunID == m.RunID }) {
			t.Errorf("%s: the signals history has no row of run %s", what, m.RunID)
		}
	}
}
