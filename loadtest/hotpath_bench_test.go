package loadtest

import (
	"context"
	"errors"
	"flag"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"testing"
	"time"

	"github.com/steadyload/steadyload/internal/record"
	"github.com/stretchr/testify/require"
)

// The benchmarks of the hot path: what the harness does for every start,
// apart from the target's own work. Run them with
//
//	go test -run '^$' -bench . -benchmem ./loadtest/
//
// Recording, picking and pacing allocate nothing; a round trip allocates
// what net/http needs for a request and its response.
//
// Checks inside a timed loop are plain ifs: an assertion there (its
// t.Helper, its boxed arguments) would be part of what is measured.

// benchPlan resolves a scenario for the benchmarks, failing b on error.
func benchPlan(b *testing.B, sc Scenario) *plan {
	b.Helper()
	if sc.Host == "" {
		sc.Host = "http://127.0.0.1:1"
	}
	p, err := resolve(sc, newFlags(flag.NewFlagSet("bench", flag.ContinueOnError)))
	require.NoError(b, err, "resolve")
	return p
}

// benchRunner returns a runner for p against target, as Run would make it,
// without starting any load.
func benchRunner(b *testing.B, p *plan, target string) *runner {
	b.Helper()
	u, err := url.Parse(target)
	require.NoError(b, err)
	r := &runner{tb: b, plan: p, target: u, base: target, runID: "0123456789abcdef", headers: newOwnHeaders("0123456789abcdef"), seed: 1}
	r.client = newClient(p, u)
	b.Cleanup(r.client.CloseIdleConnections)
	r.backoff, r.scrub = noPacer{}, noScrub
	names := make([]string, len(p.Tasks))
	for i, t := range p.Tasks {
		names[i] = t.Name
	}
	r.rec = record.New(names)
	return r
}

func nop(context.Context, *User) error { return nil }

var benchMix = []Task{
	{Name: "POST /orders", Weight: 3, Do: nop},
	{Name: "GET /orders/{id}", Weight: 2, Do: nop},
	{Name: "GET /users/{id}", Weight: 1, Do: nop},
}

func BenchmarkPick(b *testing.B) {
	r := benchRunner(b, benchPlan(b, Scenario{Rate: 1, Tasks: benchMix}), "http://127.0.0.1:1")
	u := r.NewUser(0)
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n += r.pick(u)
	}
	require.NotZero(b, n, "sum of the picks: pick always returned the first task")
}

// BenchmarkBeginTask is the per-task trace id and the traceparent header.
func BenchmarkBeginTask(b *testing.B) {
	r := benchRunner(b, benchPlan(b, Scenario{Rate: 1, Tasks: benchMix}), "http://127.0.0.1:1")
	u := r.NewUser(0)
	b.ReportAllocs()
	for b.Loop() {
		u.beginTask()
		_ = u.traceparent()
	}
}

// BenchmarkRoundTrip is one task of one GET through User.Get against a
// loopback server that answers at once, recorded: the harness's whole cost
// per request (exec, the request, reading the body, recording) plus the
// server's and the kernel's.
func BenchmarkRoundTrip(b *testing.B) {
	body := []byte(`{"ok":true}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		w.Write(body)
	}))
	defer srv.Close()
	get := func(ctx context.Context, u *User) error {
		_, err := u.Get(ctx, "/items/42")
		return err
	}
	post := func(ctx context.Context, u *User) error {
		_, err := u.PostJSON(ctx, "/items", map[string]any{"id": 42, "name": "x"})
		return err
	}
	// The floor: the same GET with a bare net/http client, nothing else.
	b.Run("floor-net-http", func(b *testing.B) {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		defer tr.CloseIdleConnections()
		c := &http.Client{Transport: tr}
		b.ReportAllocs()
		for b.Loop() {
			resp, err := c.Get(srv.URL + "/items/42")
			if err != nil {
				b.Fatal(err)
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
		}
	})
	for _, bc := range []struct {
		name      string
		do        func(context.Context, *User) error
		noCookies bool // the user's cookie jar off: what the jar costs
	}{{"get", get, false}, {"get-no-cookies", get, true}, {"post-json", post, false}} {
		b.Run(bc.name, func(b *testing.B) {
			r := benchRunner(b, benchPlan(b, Scenario{Rate: 1, Tasks: []Task{{Name: "T", Do: bc.do}}, NoCookies: bc.noCookies}), srv.URL)
			u := r.NewUser(0)
			ctx := b.Context()
			b.ReportAllocs()
			for b.Loop() {
				r.exec(ctx, u, 0, time.Time{})
			}
			b.StopTimer()
			tasks, _, fails := r.rec.TasksResult()
			require.Zero(b, tasks[0].Failures, "failed requests of %d: %v", tasks[0].Requests, fails)
		})
	}
}

// BenchmarkClassify is the cost of a failure's class and message.
func BenchmarkClassify(b *testing.B) {
	err := &StatusError{Code: 503}
	b.ReportAllocs()
	for b.Loop() {
		if Classify(err) != ClassHTTP || describe(err) == "" {
			b.Fatal("misclassified")
		}
	}
	_ = errors.New
}
