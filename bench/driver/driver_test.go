//go:build loadtest

// Package driver is the harness's side of the performance comparison
// (bench/compare.sh): one task, a GET of the target's root, in whatever
// load shape the -loadtest.* flags give. bench/compare.sh builds it once
// with `go test -c -tags loadtest` and runs the binary as it runs each
// peer:
//
//	driver.test -test.run TestDriver -loadtest.host=http://127.0.0.1:8099 \
//		-loadtest.rate=1000 -loadtest.duration=20s -loadtest.out=out/harness
//
// Without -loadtest.host it runs against the reference server in-process.
package driver

import (
	"context"
	"net/http/httptest"
	"testing"

	"github.com/steadyload/steadyload/bench/internal/ref"
	"github.com/steadyload/steadyload/loadtest"
)

func TestDriver(t *testing.T) {
	loadtest.Run(t, loadtest.Scenario{
		Rate:     50, // -loadtest.users or -loadtest.rate replace it
		Tasks:    []loadtest.Task{{Name: "GET /", Do: root}},
		StandIns: []loadtest.StandIn{inProcess},
	})
}

func root(ctx context.Context, u *loadtest.User) error {
	_, err := u.Get(ctx, "/")
	return err
}

var inProcess = loadtest.StandIn{
	Env: "local",
	Start: func(tb testing.TB) (string, error) {
		srv := httptest.NewServer(ref.New(ref.Config{}))
		tb.Cleanup(srv.Close)
		return srv.URL, nil
	},
}
