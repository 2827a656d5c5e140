package loadtest

import (
	"context"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHTTP2WhereOffered: the run's own transport speaks HTTP/2 to a server
// that offers it over TLS, and HTTP/1.1 otherwise.
func TestHTTP2WhereOffered(t *testing.T) {
	for _, offer := range []bool{true, false} {
		t.Run(fmt.Sprintf("h2=%t", offer), func(t *testing.T) {
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprint(w, r.Proto)
			}))
			srv.EnableHTTP2 = offer
			srv.StartTLS()
			defer srv.Close()
			tr := newTransport(4)
			defer tr.CloseIdleConnections()
			roots := x509.NewCertPool()
			roots.AddCert(srv.Certificate())
			tr.TLSClientConfig.RootCAs = roots
			resp, err := (&http.Client{Transport: tr}).Get(srv.URL)
			require.NoError(t, err, "GET over TLS")
			resp.Body.Close()
			assert.Equal(t, map[bool]int{true: 2, false: 1}[offer], resp.ProtoMajor, "GET over TLS from a server offering h2=%t: major version of %s", offer, resp.Proto)
		})
	}
}

// TestProxyFromEnvironment: with HTTP_PROXY set, the run's requests to a
// target that is not loopback go through the proxy (here a loopback server
// answering for the target itself, so nothing leaves the machine). The run
// is a child process: net/http reads the proxy environment once per
// process.
func TestProxyFromEnvironment(t *testing.T) {
	if os.Getenv("LOADTEST_PROXY_CHILD") == "1" {
		sc := Scenario{Host: "http://orders.invalid", Rate: 10, Duration: time.Second, Window: 500 * time.Millisecond,
			MaxLateRatio: 0.5, // the generator's timing is not under test
			Tasks:        []Task{getTask("GET /orders", "/orders", 1)}}
		res, tb, _ := runReal(t, sc)
		require.Empty(t, tb.messages(), "run through the proxy failed")
		fmt.Printf("requests=%d failures=%d\n", res.Total.Requests, res.Total.Failures)
		return
	}
	var seen atomic.Int64
	var bad atomic.Value
	proxy := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Host != "orders.invalid" || r.URL.Path != "/orders" || r.Header.Get(RunHeader) == "" {
			bad.Store(r.URL.String())
		}
		seen.Add(1)
		w.Write([]byte("ok"))
	}))
	defer proxy.Close()
	cmd := exec.CommandContext(t.Context(), os.Args[0], "-test.run=^TestProxyFromEnvironment$", "-test.v")
	cmd.Env = append(os.Environ(), "LOADTEST_PROXY_CHILD=1", "HTTP_PROXY="+proxy.URL, "http_proxy="+proxy.URL, "NO_PROXY=", "no_proxy=")
	// Plain checks: they print the child's output as it ran.
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child run: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "requests=10 failures=0") {
		t.Errorf("child run: want 10 requests, no failure:\n%s", out)
	}
	assert.Equal(t, int64(10), seen.Load(), "requests the proxy saw")
	assert.Nil(t, bad.Load(), "request the proxy saw; want http://orders.invalid/orders with the run's header")
}

// TestConnectionCloseHonoured: a request carrying Connection: close is
// sent on a connection of its own, which is then closed; without it the
// run keeps its connections alive.
func TestConnectionCloseHonoured(t *testing.T) {
	for _, closeConn := range []bool{true, false} {
		t.Run(fmt.Sprintf("close=%t", closeConn), func(t *testing.T) {
			var conns, reqs atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				reqs.Add(1)
				w.Write([]byte("ok"))
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			do := func(ctx context.Context, u *User) error {
				req := Request{Path: "/x"}
				if closeConn {
					req.Header = http.Header{"Connection": {"close"}}
				}
				_, err := u.Do(ctx, req)
				return err
			}
			sc := Scenario{Host: srv.URL, Rate: 20, Duration: time.Second, Window: 500 * time.Millisecond,
				MaxLateRatio: 0.5, // the generator's timing is not under test
				Tasks:        []Task{{Name: "GET /x", Do: do}}}
			res, tb, _ := runReal(t, sc)
			require.Empty(t, tb.messages(), "run failed")
			n, c := reqs.Load(), conns.Load()
			require.Equal(t, int64(20), n, "requests the server saw")
			require.Zero(t, res.Total.Failures, "requests failed")
			if closeConn {
				assert.Equal(t, n, c, "connections that %d requests with Connection: close came on; want one each", n)
			} else {
				assert.LessOrEqual(t, c, int64(3), "connections that %d requests came on; want them kept alive", n)
			}
		})
	}
}
