package feed_test

import (
	"context"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/steadyload/steadyload/loadtest"
	"github.com/steadyload/steadyload/loadtest/feed"
	"github.com/steadyload/steadyload/loadtest/result"
)

// outDir is where the runs of these tests write their results.
var outDir string

func TestMain(m *testing.M) {
	flag.Parse()
	// Results go to a temporary folder, not the source tree.
	dir, err := os.MkdirTemp("", "feed-results")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	outDir = dir
	if err := flag.Set("loadtest.out", dir); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutines outlived the tests:", err)
			code = 1
		}
	}
	os.Exit(code)
}

// logTB is the test, with its log lines kept for checking.
type logTB struct {
	*testing.T
	mu   sync.Mutex
	logs []string
}

func (l *logTB) Logf(format string, args ...any) {
	l.T.Helper()
	l.keep(fmt.Sprintf(format, args...))
	l.T.Logf(format, args...)
}

func (l *logTB) Log(args ...any) {
	l.T.Helper()
	l.keep(fmt.Sprint(args...))
	l.T.Log(args...)
}

func (l *logTB) keep(s string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.logs = append(l.logs, s)
}

// linesWith counts the log lines that hold s.
func (l *logTB) linesWith(s string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, line := range l.logs {
		n += strings.Count(line, s)
	}
	return n
}

// server counts the rows it is sent, by the user that sent them: a
// request is GET /rows/{id} with the user's ID in X-User.
type server struct {
	mu     sync.Mutex
	byRow  map[int]int          // requests per row
	byUser map[int]map[int]bool // the rows each user sent
}

func newServer(t *testing.T) (*server, string) {
	s := &server{byRow: map[int]int{}, byUser: map[int]map[int]bool{}}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		id, err1 := strconv.Atoi(r.PathValue("id"))
		user, err2 := strconv.Atoi(r.Header.Get("X-User"))
		if err1 != nil || err2 != nil {
			http.Error(w, "bad row or user", http.StatusBadRequest)
			return
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		s.byRow[id]++
		if s.byUser[user] == nil {
			s.byUser[user] = map[int]bool{}
		}
		s.byUser[user][id] = true
	}))
	mux := http.NewServeMux()
	mux.Handle("GET /rows/{id}", srv.Config.Handler)
	srv.Config.Handler = mux
	t.Cleanup(srv.Close)
	return s, srv.URL
}

// sendRow is a task sending each row f hands out.
func sendRow(f *feed.Feed[row]) loadtest.Task {
	return loadtest.Task{Name: "GET /rows/{id}", Do: func(ctx context.Context, u *loadtest.User) error {
		r, err := f.Next(u)
		if err != nil {
			return err
		}
		_, err = u.Do(ctx, loadtest.Request{Path: "/rows/" + strconv.Itoa(r.ID), Header: http.Header{"X-User": {strconv.Itoa(u.ID)}}})
		return err
	}}
}

// TestRun runs scenarios with feeds against a server that counts the
// rows it is sent.
func TestRun(t *testing.T) {
	// The rows consumed are the point here, not the generator's schedule
	// keeping, which a busy machine (or -race on two cores) disturbs.
	open := loadtest.Scenario{Rate: 20, LateTolerance: 100 * time.Millisecond, MaxLateRatio: 0.2}
	closed := loadtest.Scenario{Users: 3, SpawnRate: 20, Wait: loadtest.Constant(100 * time.Millisecond)}
	tests := []struct {
		name     string
		sc       loadtest.Scenario
		rows     int
		opts     feed.Options[row]
		duration time.Duration
		check    func(t *testing.T, s *server, res *result.Run, tb *logTB)
	}{{
		name: "sequential cycles", sc: open, rows: 7, duration: 2 * time.Second,
		check: func(t *testing.T, s *server, res *result.Run, _ *logTB) {
			k := int(res.Total.Requests)
			require.Greater(t, k, 7, "requests: more than a cycle")
			want := map[int]int{}
			for i := range 7 {
				want[i] = k / 7
				if i < k%7 {
					want[i]++ // the last cycle, cut short, sent the first rows
				}
			}
			assert.Equal(t, want, s.byRow, "requests per row in %d requests: each row once per cycle", k)
		},
	}, {
		name: "one row per user", sc: closed, rows: 3, opts: feed.Options[row]{Order: feed.PerUser}, duration: 2 * time.Second,
		check: func(t *testing.T, s *server, _ *result.Run, _ *logTB) {
			assert.Equal(t, map[int]map[int]bool{0: {0: true}, 1: {1: true}, 2: {2: true}}, s.byUser, "the rows each user sent: its own only")
		},
	}, {
		name: "open model stops", sc: open, rows: 10, opts: feed.Options[row]{End: feed.Stop}, duration: 20 * time.Second,
		check: stopped(10),
	}, {
		name: "closed model stops", sc: closed, rows: 6, opts: feed.Options[row]{End: feed.Stop}, duration: 20 * time.Second,
		check: stopped(6),
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, url := newServer(t)
			f, err := feed.Slice(rows(tt.rows), tt.opts)
			require.NoError(t, err)
			sc := tt.sc
			sc.Host, sc.Duration, sc.Window, sc.Seed = url, tt.duration, time.Second, 1
			sc.Tasks = []loadtest.Task{sendRow(f)}
			tb := &logTB{T: t}
			res := loadtest.Run(tb, sc)
			require.NotNil(t, res, "Run's result")
			assert.Zero(t, res.Total.Failures, "failures")
			s.mu.Lock()
			defer s.mu.Unlock()
			tt.check(t, s, res, tb)
		})
	}
}

// stopped checks a run whose feed of n rows ran out: each row sent once,
// the load ended early, once said in the log, the results written.
func stopped(n int) func(t *testing.T, s *server, res *result.Run, tb *logTB) {
	return func(t *testing.T, s *server, res *result.Run, tb *logTB) {
		want := map[int]int{}
		for i := range n {
			want[i] = 1
		}
		assert.Equal(t, want, s.byRow, "requests per row: each once")
		assert.Equal(t, int64(n), res.Total.Requests, "requests recorded: the tasks that got ErrStop are not counted")
		assert.Equal(t, result.Complete, res.Meta.Status, "status of a run whose feed ran out")
		assert.Less(t, res.Meta.Elapsed, res.Meta.Duration, "elapsed: the load ended before its duration")
		if res.Meta.Model == "open" {
			// A start due before the feed ran out is made (and its task
			// gets ErrStop, not counted); none due after it.
			assert.LessOrEqual(t, res.Meta.Scheduled, int64(n+5), "starts made")
			assert.Zero(t, res.Meta.Dropped, "starts dropped: those after the feed ran out are not")
		}
		assert.Equal(t, 1, tb.linesWith(fmt.Sprintf("feed rows ran out after %d rows", n)), "log lines saying the feed ran out:\n%s", strings.Join(tb.logs, "\n"))
		files, err := filepath.Glob(filepath.Join(outDir, result.FileBase(tb.Name())+"_*.csv"))
		require.NoError(t, err)
		assert.NotEmpty(t, files, "result files of %s in %s", tb.Name(), outDir)
	}
}
