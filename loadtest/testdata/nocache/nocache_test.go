// Package nocache is a load test run twice by TestNeverCached, with no
// flags, as `go test -run TestTwice .` would be run by hand: the second run
// must send its load again, not replay the first from go test's cache.
package nocache

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/steadyload/steadyload/loadtest"
)

var served atomic.Int64

func TestTwice(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { served.Add(1) }))
	defer srv.Close()
	loadtest.Run(t, loadtest.Scenario{
		Host: srv.URL, Rate: 30, Duration: time.Second, Window: 500 * time.Millisecond, Grace: time.Second,
		MaxLateRatio: 0.5, // the generator's timing is not under test
		Tasks: []loadtest.Task{{Name: "GET /", Do: func(ctx context.Context, u *loadtest.User) error {
			_, err := u.Get(ctx, "/")
			return err
		}}},
	})
	t.Logf("served %d requests", served.Load())
	// What a scenario does after its run — stopping a container stand-in,
	// say — can take longer than the two seconds within which go test
	// would see the result files as too new to cache.
	time.Sleep(2500 * time.Millisecond)
}
