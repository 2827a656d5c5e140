package history

import (
	"bytes"
	"cmp"
	"errors"
	"flag"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"
	"unicode/utf8"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/result"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata")

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func golden(t *testing.T, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", strings.ReplaceAll(t.Name(), "/", "_")+".golden")
	if *update {
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs:\ngot:\n%s\nwant:\n%s", path, got, want)
	}
}

func day(d int) time.Time { return time.Date(2026, 3, 1+d, 2, 0, 0, 0, time.UTC) }

func sample() []Row {
	return []Row{
		{Time: day(0), Commit: "a1b2c3d", Shape: "open 10/s 5m0s", Task: "POST /orders", Requests: 2000, Failures: 3, Rate: 6.667,
			P50: 20143, P90: 35000, P95: 42001, P99: 80000, SELnP95: 0.0265, RunID: "0011223344556677"},
		{Time: day(0), Commit: "a1b2c3d", Shape: "open 10/s 5m0s", Task: "Aggregated", Requests: 3000, Failures: 3, Rate: 10,
			P50: 18000, P90: 33000, P95: 40000, P99: 79000, SELnP95: 0.02, RunID: "0011223344556677"},
		{Time: day(1), Commit: "b2c3d4e", Shape: "closed 5 users between(1s,5s) 5m0s", Task: "GET /orders/{id}", Requests: 10, Failures: 0, Rate: 0.033,
			P50: 1000, P90: 2000, P95: 3000, P99: 4000, SELnP95: math.NaN(), RunID: "8899aabbccddeeff"},
	}
}

func TestWrite(t *testing.T) {
	var b bytes.Buffer
	if err := Write(&b, sample()); err != nil {
		t.Fatal(err)
	}
	golden(t, b.Bytes())
}

func TestReadRoundTrip(t *testing.T) {
	var b bytes.Buffer
	Write(&b, sample())
	rows, err := Read("h.csv", &b)
	if err != nil {
		t.Fatalf("Read = %v", err)
	}
	want := sample()
	if len(rows) != len(want) {
		t.Fatalf("Read gave %d rows; want %d", len(rows), len(want))
	}
	for i := range rows {
		if !sameRow(rows[i], want[i]) {
			t.Errorf("row %d = %+v; want %+v", i, rows[i], want[i])
		}
	}
}

func sameRow(a, b Row) bool {
	se := a.SELnP95 == b.SELnP95 || (math.IsNaN(a.SELnP95) && math.IsNaN(b.SELnP95)) || math.Abs(a.SELnP95-b.SELnP95) < 5e-7
	rate := math.Abs(a.Rate-b.Rate) < 5e-4
	a.SELnP95, b.SELnP95, a.Rate, b.Rate = 0, 0, 0, 0
	return se && rate && a.Time.Equal(b.Time) && a.Commit == b.Commit && a.Shape == b.Shape && a.Task == b.Task &&
		a.Requests == b.Requests && a.Failures == b.Failures && a.P50 == b.P50 && a.P90 == b.P90 && a.P95 == b.P95 && a.P99 == b.P99 && a.RunID == b.RunID
}

func TestReadErrors(t *testing.T) {
	head := strings.Join(Header, ",") + "\n"
	good := "2026-03-01T02:00:00Z,abc,open 10/s 5m0s,POST /orders,10,1,0.100000,1.000,1.000,2.000,3.000,4.000,0.01,r1\n"
	tests := []struct {
		name, in, want string
	}{
		{"empty", "", "h.csv:1: empty file"},
		{"wrong header", "time,commit\n", "h.csv:1: header is"},
		{"short row", head + good + "2026-03-02T02:00:00Z,abc\n", "h.csv:3: wrong number of fields"},
		{"bad time", head + strings.Replace(good, "2026-03-01T02:00:00Z", "yesterday", 1), `h.csv:2: time: not an RFC 3339 time: "yesterday"`},
		{"bad count", head + strings.Replace(good, ",10,1,", ",ten,1,", 1), `h.csv:2: requests: not a count: "ten"`},
		{"negative failures", head + strings.Replace(good, ",10,1,", ",10,-1,", 1), `h.csv:2: failures: not a count: "-1"`},
		{"failures over requests", head + strings.Replace(good, ",10,1,", ",10,11,", 1), "h.csv:2: failures 11 exceed requests 10"},
		{"bad latency", head + strings.Replace(good, ",3.000,", ",fast,", 1), `h.csv:2: p95_ms: bad milliseconds "fast"`},
		{"bad se", head + strings.Replace(good, ",0.01,", ",-0.01,", 1), `h.csv:2: se_ln_p95: not a non-negative number: "-0.01"`},
		{"empty task", head + strings.Replace(good, ",POST /orders,", ",,", 1), "h.csv:2: task is empty"},
		{"out of order", head + strings.Replace(good, "03-01", "03-05", 1) + good, "h.csv:3: time 2026-03-01T02:00:00Z is before the previous row's 2026-03-05T02:00:00Z"},
		{"bare quote", head + good + `2026-03-02T02:00:00Z,a"bc` + "\n", "h.csv:3:"},
	}
	for _, tt := range tests {
		_, err := Read("h.csv", strings.NewReader(tt.in))
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: Read = %v; want an error containing %q", tt.name, err, tt.want)
		}
	}
	if rows, err := Read("h.csv", strings.NewReader(head+good)); err != nil || len(rows) != 1 || rows[0].SELnP95 != 0.01 {
		t.Errorf("Read(good) = %v, %v; want one row", rows, err)
	}
}

func TestAppend(t *testing.T) {
	dir := t.TempDir()
	path := Path(dir, "orders.example.com:443", "TestOrders/steady")
	if want := filepath.Join(dir, "orders.example.com_443", "TestOrders_steady", "history.csv"); path != want {
		t.Errorf("Path = %q; want %q", path, want)
	}
	rows := sample()
	if err := Append(path, rows[:2]); err != nil {
		t.Fatalf("Append to a new file: %v", err)
	}
	if err := Append(path, rows[2:]); err != nil {
		t.Fatalf("Append: %v", err)
	}
	got, err := ReadFile(path)
	if err != nil || len(got) != 3 {
		t.Fatalf("ReadFile = %d rows, %v; want 3", len(got), err)
	}
	// A run already in the file: refused, file unchanged.
	before, _ := os.ReadFile(path)
	if err := Append(path, rows[:1]); err == nil || !strings.Contains(err.Error(), "run 0011223344556677 at 2026-03-01T02:00:00Z is already in the file") {
		t.Errorf("Append(a run already there) = %v; want an error", err)
	}
	after, _ := os.ReadFile(path)
	if !bytes.Equal(before, after) {
		t.Error("a refused append changed the file")
	}
	// The Otava views: one file per task, the time column first.
	for task, n := range map[string]int{"POST /orders": 1, "Aggregated": 1, "GET /orders/{id}": 1} {
		b, err := os.ReadFile(OtavaFile(filepath.Dir(path), task))
		if err != nil {
			t.Errorf("otava view of %q: %v", task, err)
			continue
		}
		lines := strings.Split(strings.TrimSpace(string(b)), "\n")
		if lines[0] != strings.Join(OtavaHeader, ",") || len(lines) != 1+n {
			t.Errorf("otava view of %q = %q; want the header and %d rows", task, b, n)
		}
	}
	// A malformed file: reported with its line, left untouched.
	bad := []byte(strings.Join(Header, ",") + "\n2026-03-01T02:00:00Z,x\n")
	os.WriteFile(path, bad, 0o644)
	if err := Append(path, rows[2:]); err == nil || !strings.Contains(err.Error(), path+":2:") {
		t.Errorf("Append to a malformed file = %v; want %s:2: ...", err, path)
	}
	if b, _ := os.ReadFile(path); !bytes.Equal(b, bad) {
		t.Error("Append changed a malformed file")
	}
	if rows, err := ReadFile(filepath.Join(dir, "absent.csv")); rows != nil || err != nil {
		t.Errorf("ReadFile(absent) = %v, %v; want an empty history", rows, err)
	}
}

func TestFromRun(t *testing.T) {
	h := result.NewHistogram()
	for i := 1; i <= 100; i++ {
		h.RecordValue(int64(i * 1000))
	}
	setup := result.NewHistogram()
	setup.RecordValue(5)
	res := &result.Run{
		Meta: result.Meta{Start: day(3).In(time.FixedZone("x", 3600)), Elapsed: 50 * time.Second, GitCommit: "c0ffee", RunID: "r",
			Model: "closed", Users: 5, Wait: "between(1s,5s)", Duration: time.Minute},
		Tasks: []*result.Task{
			{Type: "GET", Name: "/orders/{id}", Requests: 102, Failures: 2, Latency: h},
			{Name: "OnStart", Setup: true, Requests: 5, Latency: setup},
			{Type: "DELETE", Name: "/orders", Requests: 0, Latency: result.NewHistogram()},
		},
		Total: &result.Task{Name: result.AggregateName, Requests: 107, Failures: 2, Latency: h},
	}
	rows := FromRun(res, func(t *result.Task) float64 { return 0.05 })
	require.Len(t, rows, 2, "FromRun rows; want the task and the aggregate: %+v", rows)
	want := Row{Time: day(3), Commit: "c0ffee", Shape: "closed 5 users between(1s,5s) 1m0s", Task: "GET /orders/{id}",
		Requests: 102, Failures: 2, Rate: 102.0 / 50, SELnP95: 0.05, RunID: "r",
		P50: h.ValueAtPercentile(50), P90: h.ValueAtPercentile(90), P95: h.ValueAtPercentile(95), P99: h.ValueAtPercentile(99)}
	assert.True(t, sameRow(rows[0], want), "FromRun row = %+v; want %+v", rows[0], want)
	assert.Equal(t, result.AggregateName, rows[1].Task, "last row; want the aggregate")
	// The shape column is result.Shape's Key: the closed model's spawn
	// rate and the open model's in-flight cap are not part of it, so rows
	// recorded before keep matching.
	open := result.Meta{Model: "open", Rate: 0.5, MaxInFlight: 100, Duration: 5 * time.Minute}
	assert.Equal(t, "open 0.5/s 5m0s", open.Shape().Key(), "Shape(open).Key()")
	res.Meta.SpawnRate = 3
	assert.Equal(t, want.Shape, FromRun(res, nil)[0].Shape, "shape with a spawn rate")
}

func TestSelect(t *testing.T) {
	rows := sample()
	assert.Equal(t, []string{"GET /orders/{id}", "POST /orders", "Aggregated"}, Tasks(rows), "Tasks")
	assert.Len(t, SameShape(rows, "open 10/s 5m0s"), 2, "SameShape")
	v := Values(append(Task(rows, "POST /orders"), Row{}), P95)
	require.Len(t, v, 2, "Values = %v; want [42001 NaN]", v)
	assert.Equal(t, 42001.0, v[0], "Values[0]")
	assert.True(t, math.IsNaN(v[1]), "Values[1] = %v; want NaN", v[1])
}

// FuzzRead: Read never panics, and what it accepts survives a write and
// a second read unchanged.
func FuzzRead(f *testing.F) {
	var b bytes.Buffer
	Write(&b, sample())
	for _, bad := range []func([]byte) []byte{
		setField(2, 8, "NaN"), setField(3, 8, "Inf"), setField(2, 8, "-20"), setField(2, 11, "1e14"), setField(3, 7, "2"),
		setField(3, 4, "Aggr\xe9gated"), func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) },
		func(b []byte) []byte { return b[:len(b)-6] },
	} {
		f.Add(bad(bytes.Clone(b.Bytes())))
	}
	fuzzRoundTrip(f, b.Bytes(), Header, Read, Write, sameRow, func(r Row) bool {
		ok := func(x float64) bool { return x >= 0 && !math.IsInf(x, 0) }
		return ok(r.Rate) && (math.IsNaN(r.SELnP95) || ok(r.SELnP95)) && r.FailureRatio() <= 1 &&
			max(r.P50, r.P90, r.P95, r.P99) <= result.MaxReadLatency && min(r.P50, r.P90, r.P95, r.P99) >= 0
	})
}

// fuzzRoundTrip is the body of a reader's fuzz test: read never panics,
// its errors carry a position, and what it accepts survives write and a
// second read unchanged. seed is a good file; a bare header is the other
// seed.
func fuzzRoundTrip[R any](f *testing.F, seed []byte, header []string,
	read func(string, io.Reader) ([]R, error), write func(io.Writer, []R) error, same func(a, b R) bool, inRange func(R) bool) {
	f.Add(seed)
	f.Add([]byte(strings.Join(header, ",") + "\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := read("f.csv", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "f.csv:") {
				t.Errorf("error without position: %v", err)
			}
			return
		}
		if bytes.ContainsRune(data, '\r') || !utf8.Valid(data) || data[len(data)-1] != '\n' {
			t.Fatalf("accepted text the harness never writes: %q", data)
		}
		for _, r := range rows {
			if !inRange(r) {
				t.Fatalf("accepted a row out of range: %+v", r)
			}
		}
		var out bytes.Buffer
		if err := write(&out, rows); err != nil {
			t.Fatal(err)
		}
		again, err := read("f.csv", &out)
		if err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, out.Bytes())
		}
		if len(again) != len(rows) {
			t.Fatalf("round trip: %d rows, then %d", len(rows), len(again))
		}
		for i := range rows {
			if !same(rows[i], again[i]) {
				t.Errorf("round trip changed row %d: %+v → %+v", i, rows[i], again[i])
			}
		}
	})
}

// TestReadKeepsSeconds: a time with a fraction of a second is read to the
// second the file keeps, so that writing it back changes nothing.
func TestReadKeepsSeconds(t *testing.T) {
	in := strings.Join(Header, ",") + "\n" + "2026-03-01T02:00:00.5+01:00,abc,open 10/s 5m0s,POST /orders,10,1,0.100000,1.000,1.000,2.000,3.000,4.000,0.01,r1\n"
	rows, err := Read("h.csv", strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	if want := time.Date(2026, 3, 1, 1, 0, 0, 0, time.UTC); !rows[0].Time.Equal(want) {
		t.Errorf("time %v, want %v", rows[0].Time, want)
	}
	var b bytes.Buffer
	if err := Write(&b, rows); err != nil {
		t.Fatal(err)
	}
	again, err := Read("h.csv", &b)
	if err != nil {
		t.Fatal(err)
	}
	if !sameRow(rows[0], again[0]) {
		t.Errorf("round trip changed the row: %+v → %+v", rows[0], again[0])
	}
}

// TestAppendInTimeOrder: a run that started before the file's last one
// (two runs appending at once, the shorter one first) is put in its
// place, not refused; the file stays in time order.
func TestAppendInTimeOrder(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	run := func(d int, tasks ...string) []Row {
		var rows []Row
		for _, task := range tasks {
			r := sample()[0]
			r.Time, r.Task, r.RunID = day(d), task, fmt.Sprintf("run%d", d)
			rows = append(rows, r)
		}
		return rows
	}
	for _, rows := range [][]Row{run(5, "A"), run(1, "A", "B"), run(3, "A", "B", "C"), run(5, "X")[:0], run(7, "A")} {
		if err := Append(path, rows); err != nil {
			t.Fatalf("Append(%d rows) = %v", len(rows), err)
		}
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var order []string
	for _, r := range got {
		order = append(order, r.RunID+" "+r.Task)
	}
	want := []string{"run1 A", "run1 B", "run3 A", "run3 B", "run3 C", "run5 A", "run7 A"}
	if !slices.Equal(order, want) {
		t.Errorf("rows after appending runs of days 5, 1, 3, 7 = %q; want %q", order, want)
	}
}

// TestAppendWaitsForLock: another run holding the lock is waited for, up
// to LockWait, then the append fails naming the lock; the file is left
// as it was.
func TestAppendWaitsForLock(t *testing.T) {
	for _, tt := range []struct {
		name    string
		release time.Duration // when the other holder lets go; 0: never
		want    error
	}{
		{"released after 2s", 2 * time.Second, nil},
		{"held", 0, atomicfile.ErrLocked},
	} {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), FileName)
			synctest.Test(t, func(t *testing.T) {
				unlock, err := atomicfile.Lock(LockFile(path))
				if err != nil {
					t.Fatal(err)
				}
				defer unlock()
				if tt.release > 0 {
					go func() {
						time.Sleep(tt.release)
						unlock()
					}()
				}
				start := time.Now()
				err = Append(path, sample()[:2])
				waited := time.Since(start)
				if !errors.Is(err, tt.want) && !(err == nil && tt.want == nil) {
					t.Fatalf("Append while another holds the lock = %v; want %v", err, tt.want)
				}
				if want := cmp.Or(tt.release, LockWait); waited < want || waited > want+time.Second {
					t.Errorf("Append returned after %s; want about %s", waited, want)
				}
				if err != nil && !strings.Contains(err.Error(), "waited 30s") {
					t.Errorf("Append error %q does not say how long it waited", err)
				}
			})
			rows, err := ReadFile(path)
			if want := map[bool]int{true: 2, false: 0}[tt.want == nil]; err != nil || len(rows) != want {
				t.Errorf("ReadFile after the append = %d rows, %v; want %d", len(rows), err, want)
			}
		})
	}
}

// TestAppendSegments: the segments of one run without end share its id;
// each appends its own rows, and none twice.
func TestAppendSegments(t *testing.T) {
	path := filepath.Join(t.TempDir(), FileName)
	start := time.Date(2026, 12, 3, 14, 0, 0, 0, time.UTC)
	seg := func(i int) []Row {
		return []Row{{Time: start.Add(time.Duration(i) * time.Hour), Shape: "open 10/s 1h0m0s", Task: "GET /", Requests: 36000, Rate: 10,
			P50: 20000, P90: 30000, P95: 40000, P99: 60000, SELnP95: 0.01, RunID: "run1"}}
	}
	for i := range 3 {
		require.NoError(t, Append(path, seg(i)), "segment %d", i)
	}
	err := Append(path, seg(1))
	require.Error(t, err, "segment 1 again")
	assert.Contains(t, err.Error(), "run run1 at 2026-12-03T15:00:00Z is already in the file")
	got, err := ReadFile(path)
	require.NoError(t, err)
	assert.Len(t, got, 3, "rows")
}

// TestOutagesFile: the outages history reads back what it wrote, and
// refuses a pause longer than its segment and a negative count.
func TestOutagesFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), OutagesFileName)
	row := OutageRow{Time: time.Date(2026, 12, 3, 15, 0, 0, 0, time.UTC), Commit: "abc", Shape: "open 10/s 1m0s",
		Segment: time.Minute, Paused: 42500 * time.Millisecond, Outages: 1, RunID: "run1"}
	require.NoError(t, AppendOutages(path, []OutageRow{row}))
	got, err := ReadOutagesFile(path)
	require.NoError(t, err)
	assert.Equal(t, []OutageRow{row}, got)
	for _, tt := range []struct{ line, want string }{
		{"2026-12-03T15:00:00Z,abc,s,60.000,61.000,1,r", "paused_s: 1m1s is longer than the segment, 1m0s"},
		{"2026-12-03T15:00:00Z,abc,s,60.000,1.000,-1,r", "outages: bad value"},
		{"yesterday,abc,s,60.000,1.000,1,r", "time: bad value"},
	} {
		_, err := ReadOutages("outages.csv", strings.NewReader(strings.Join(OutagesHeader, ",")+"\n"+tt.line+"\n"))
		if assert.Error(t, err, tt.line) {
			assert.Contains(t, err.Error(), "outages.csv:2: "+tt.want, tt.line)
		}
	}
}
