package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/realserver"
	"github.com/steadyload/steadyload/loadtest/result"
)

// A realCase is a way in which a real server ends keep-alive connections
// under the harness: the server's configuration, the load, and what is
// done to the server during the load.
type realCase struct {
	name   string
	config realserver.Config
	// The load: one request a task, of method to path with header.
	sc     Scenario
	method string
	path   string
	header http.Header
	// restartEvery restarts the server gracefully this often during the
	// run; zero never.
	restartEvery time.Duration
	// freshConns: each request must come on a connection of its own
	// (Connection: close, or a connection the server closed while idle).
	freshConns bool
	// postsMayFail: the server may close a connection after a POST went
	// out on it, before answering. net/http fails such a POST rather
	// than send it again, so failures are allowed here, of class reset
	// only; what must hold is that no request reaches the server twice.
	postsMayFail bool
	// dropsInProgress: the server must be seen to drop requests it has
	// received (log lines with a status other than 200), or the case has
	// tested nothing.
	dropsInProgress bool
}

// realCases are the cases run against the named server.
func realCases(name string) []realCase {
	short := realserver.Config{KeepAliveTimeout: time.Second}
	dropping := realserver.Config{KeepAliveTimeout: time.Second, MaxKeepAliveRequests: 2}
	// A think time past the moment the server has closed an idle
	// connection: a little over 1 s (2 s for lighttpd, which closes in
	// whole seconds on a one-second tick).
	think := realserver.IdleClose(name, short) + 300*time.Millisecond
	// The stock limit: 5.5 s is past Apache's 5 s, 6.5 s past
	// lighttpd's; nginx's stock 75 s would take minutes to pass, so
	// there the case runs the stock configuration at 5.5 s, within it.
	stockThink := realserver.IdleClose(name, realserver.Config{}) + 500*time.Millisecond
	if stockThink > 10*time.Second {
		stockThink = 5500 * time.Millisecond
	}
	cases := []realCase{{
		// One request after each idle spell past the keep-alive timeout.
		// Each on a new connection: the server closed the last one, or
		// the case tested nothing.
		name: "idle-past-keepalive-1-user", config: short,
		sc:     Scenario{Users: 1, Wait: Constant(think), Duration: 4*think + think/2},
		method: http.MethodGet, path: realserver.StaticPath, freshConns: true,
	}, {
		name: "idle-past-keepalive-5-users", config: short,
		sc:     Scenario{Users: 5, SpawnRate: 100, Wait: Constant(think), Duration: 4*think + think/2},
		method: http.MethodGet, path: realserver.StaticPath,
	}, {
		name:   "stock-idle-" + stockThink.String(),
		sc:     Scenario{Users: 1, Wait: Constant(stockThink), Duration: stockThink + stockThink/2},
		method: http.MethodGet, path: realserver.StaticPath,
		freshConns: stockThink > realserver.IdleClose(name, realserver.Config{}),
	}, {
		name:   "graceful-restart-every-1.2s",
		sc:     Scenario{Rate: 10, Duration: 5 * time.Second, LateTolerance: 250 * time.Millisecond},
		method: http.MethodGet, path: realserver.StaticPath, restartEvery: 1200 * time.Millisecond,
	}, {
		// Pooled connections that died while idle, or were closed after
		// two requests, next to live ones: five users with think times
		// on both sides of the keep-alive timeout.
		name: "dropped-connections-slow-endpoint", config: dropping,
		sc:     Scenario{Users: 5, SpawnRate: 100, Wait: Between(0, 2*think), Duration: 5 * time.Second},
		method: http.MethodGet, path: realserver.SlowPath,
	}, {
		// The same with POSTs: none may be sent twice. One sent as the
		// server closes its connection fails, with net/http too.
		name: "post-on-dropped-connections", config: dropping,
		sc:     Scenario{Users: 5, SpawnRate: 100, Wait: Between(0, 2*think), Duration: 5 * time.Second},
		method: http.MethodPost, path: realserver.SlowPath, postsMayFail: true,
	}, {
		name:   "connection-close-header",
		sc:     Scenario{Users: 1, Wait: Constant(50 * time.Millisecond), Duration: time.Second},
		method: http.MethodGet, path: realserver.StaticPath,
		header: http.Header{"Connection": {"close"}}, freshConns: true,
	}}
	if name == realserver.Nginx {
		// nginx drops the requests its old workers have in progress
		// 10 ms into a graceful restart: POSTs it has received and
		// proxied fail, and must not be sent again.
		cases = append(cases, realCase{
			name:   "post-dropped-in-progress-by-restart",
			config: realserver.Config{ShutdownTimeout: 10 * time.Millisecond},
			sc:     Scenario{Users: 5, SpawnRate: 100, Wait: Between(100*time.Millisecond, 400*time.Millisecond), Duration: 5 * time.Second},
			method: http.MethodPost, path: realserver.SlowPath,
			restartEvery: 700 * time.Millisecond, postsMayFail: true, dropsInProgress: true,
		})
	}
	return cases
}

// TestRealServers runs the harness against Debian's Apache httpd, nginx
// and lighttpd on loopback, in their stock configurations and with short
// keep-alive limits, through what they do to keep-alive connections:
// idle connections closed after the keep-alive timeout (Apache and
// lighttpd keep reading them), graceful restarts, connections closed
// after two requests, requests in progress dropped by a restart (nginx),
// and a caller's Connection: close. No request may fail where a plain
// net/http client has no failure (in every case but the dropped ones),
// and the server's access log must show each request the harness counted
// received exactly once: none missing, none twice (a POST sent again,
// say), and, for Connection: close, each on a connection of its own.
//
// A server that is not installed skips its cases, unless
// STEADYLOAD_REQUIRE_REALSERVERS=1 (CI), where it fails them.
func TestRealServers(t *testing.T) {
	if testing.Short() {
		t.Skip("runs real servers for about a minute")
	}
	for _, name := range realserver.Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			for _, c := range realCases(name) {
				t.Run(c.name, func(t *testing.T) {
					t.Parallel()
					runRealCase(t, name, c)
				})
			}
		})
	}
}

// runRealCase runs c against a server of its own and checks the result
// against the server's access log.
func runRealCase(t *testing.T, name string, c realCase) {
	srv := realserver.Start(t, name, c.config)

	var body []byte
	if c.method == http.MethodPost {
		body = []byte(`{"item":1}`)
	}
	// The trace id of each task: one request a task, so it names the
	// request in the server's log (the traceparent header).
	var mu sync.Mutex
	sent := map[string]error{}
	sc := c.sc
	sc.Host = srv.URL
	sc.Seed = 1
	sc.Timeout = 3 * time.Second
	if c.postsMayFail {
		sc.MaxFailureRatio = -1 // judged below
	}
	sc.Tasks = []Task{{Name: c.method + " " + c.path, Do: func(ctx context.Context, u *User) error {
		_, err := u.Do(ctx, Request{Method: c.method, Path: c.path, Header: c.header, Body: body})
		mu.Lock()
		sent[u.TraceID()] = err
		mu.Unlock()
		return err
	}}}

	var restarts []error
	stop := make(chan struct{})
	var wg sync.WaitGroup
	if c.restartEvery > 0 {
		wg.Go(func() {
			tick := time.NewTicker(c.restartEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
					restarts = append(restarts, srv.Restart())
				}
			}
		})
	}
	res, tb, _ := runReal(t, sc)
	close(stop)
	wg.Wait()
	require.NotNil(t, res, "run did not start: %s", tb.messages())
	for i, err := range restarts {
		require.NoError(t, err, "restart %d", i+1)
	}
	entries, err := srv.Entries()
	require.NoError(t, err)

	mu.Lock()
	defer mu.Unlock()

	// No failure, as with net/http, and nothing else wrong with the run.
	if c.postsMayFail {
		for _, f := range res.Failures {
			assert.Equal(t, "reset", f.Class, "failures other than dropped POSTs: %s", failureSummary(res))
		}
	} else {
		assert.Zero(t, res.Total.Failures, "failed requests: %s", failureSummary(res))
	}
	assert.Empty(t, tb.messages(), "the harness's verdict")
	assert.Equal(t, result.Complete, res.Meta.Status, "run status (%s)", res.Meta.Reason)
	require.Positive(t, res.Total.Requests, "no request made")
	assert.Equal(t, int(res.Total.Requests), len(sent), "requests counted by the harness; made by the tasks")

	// The server's view: every request the harness counted received,
	// once.
	received := map[string][]realserver.Entry{}
	ours := realserver.OfRun(entries, res.Meta.RunID) // not the readiness probe
	for _, e := range ours {
		received[e.TraceID()] = append(received[e.TraceID()], e)
	}
	var twice, missing, unknown []string
	for id, es := range received {
		if len(es) > 1 {
			twice = append(twice, fmt.Sprintf("%s ×%d %v", id, len(es), es))
		}
		if _, ok := sent[id]; !ok {
			unknown = append(unknown, id)
		}
	}
	for id, err := range sent {
		if _, ok := received[id]; !ok && (err == nil || !c.postsMayFail) {
			missing = append(missing, fmt.Sprintf("%s (%v)", id, err))
		}
	}
	slices.Sort(twice)
	slices.Sort(missing)
	slices.Sort(unknown)
	t.Logf("%s %s: %d requests counted, %d failed (%s); the server received %d, %d more than once, missed %d; %d restarts",
		name, c.name, res.Total.Requests, res.Total.Failures, failureSummary(res),
		len(received), len(twice), len(missing), len(restarts))
	assert.Empty(t, twice, "requests the server received more than once")
	assert.Empty(t, missing, "requests counted by the harness that the server never received")
	assert.Empty(t, unknown, "requests the server received that no task made")
	if c.dropsInProgress {
		dropped := 0
		for _, e := range ours {
			if e.Status != http.StatusOK {
				dropped++
			}
		}
		assert.Positive(t, dropped, "requests the server dropped: none, the case tested nothing")
	}
	if !c.postsMayFail {
		assert.Equal(t, int(res.Total.Requests), len(received), "requests counted by the harness; received by the server")
	}

	if c.freshConns {
		// Connection: close: each request on a connection of its own,
		// which the server closed after it.
		conns := map[string]int{}
		var reused []string
		for _, e := range ours {
			conns[e.RemotePort]++
			if e.ConnRequest > 1 {
				reused = append(reused, fmt.Sprintf("%s: request %d of its connection (port %s)", e.TraceID(), e.ConnRequest, e.RemotePort))
			}
		}
		var shared []string
		for port, n := range conns {
			if n > 1 {
				shared = append(shared, fmt.Sprintf("port %s: %d requests", port, n))
			}
		}
		slices.Sort(shared)
		assert.Empty(t, reused, "requests the server saw on a connection used before, despite Connection: close")
		assert.Empty(t, shared, "connections that carried more than one request despite Connection: close")
	}
}

// failureSummary lists a run's failures by class, for messages.
func failureSummary(res *result.Run) string {
	if len(res.Failures) == 0 {
		return "no failures"
	}
	var b []string
	for _, f := range res.Failures {
		b = append(b, fmt.Sprintf("%d× %s: %s", f.Occurrences, f.Class, f.Error))
	}
	return strings.Join(b, "; ")
}
