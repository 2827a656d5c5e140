package faultserver

import (
	"io"
	"net/http"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	require.NoError(t, err, "Start(%+v)", cfg)
	t.Cleanup(func() { s.Close() })
	return s
}

// get does one request with a fresh client and returns the status, the
// body and the error of the request or of reading the body.
func get(t *testing.T, url string, timeout time.Duration) (int, string, error) {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr, Timeout: timeout}
	resp, err := c.Get(url + "/x")
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestFaults(t *testing.T) {
	tests := []struct {
		cfg    Config
		status int
		body   string
		err    string // substring of the error; empty: none
		header string // Retry-After wanted
	}{
		{cfg: Config{}, status: 200, body: `{"ok":true}`},
		{cfg: Config{Fault: Status500}, status: 500, body: "internal error"},
		{cfg: Config{Fault: Throttle, RetryAfter: "3"}, status: 429, header: "3"},
		{cfg: Config{Fault: Unavailable, RetryAfter: "Wed, 21 Oct 2015 07:28:00 GMT"}, status: 503, header: "Wed, 21 Oct 2015 07:28:00 GMT"},
		{cfg: Config{Fault: Hang}, err: "Client.Timeout exceeded"},
		{cfg: Config{Fault: Reset}, err: "connection reset"},
		{cfg: Config{Fault: Close}, err: "EOF"},
		{cfg: Config{Fault: Garbage}, err: "malformed HTTP"},
		{cfg: Config{Fault: Truncated}, status: 200, err: "unexpected EOF"},
		{cfg: Config{Fault: SlowBody, SlowBody: 100 * time.Millisecond}, status: 200, body: "0123456789"},
		{cfg: Config{Fault: SlowBody, SlowBody: 5 * time.Second}, status: 200, err: "Client.Timeout"},
		{cfg: Config{TLS: true}, err: "certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.cfg.Fault.String(), func(t *testing.T) {
			s := start(t, tt.cfg)
			// A timeout long enough for a TLS handshake on a busy machine;
			// the slow body of 5 s still runs past it.
			status, body, err := get(t, s.URL(), 2*time.Second)
			assert.Equal(t, tt.status, status, "status")
			if tt.body != "" {
				assert.Contains(t, body, tt.body, "body")
			}
			if tt.err == "" {
				assert.NoError(t, err, "GET")
			} else {
				assert.ErrorContains(t, err, tt.err, "GET")
			}
			if !tt.cfg.TLS {
				assert.EqualValues(t, 1, s.Count(tt.cfg.Fault), "Count(%s)", tt.cfg.Fault)
			}
			waitNoConns(t, s)
		})
	}
}

func waitNoConns(t *testing.T, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.OpenConns() > 0; {
		if time.Now().After(deadline) {
			require.Failf(t, "connections still open", "%d connections still open after 5s", s.OpenConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKill: after Kill, connections are refused.
func TestKill(t *testing.T) {
	s := start(t, Config{})
	status, _, err := get(t, s.URL(), time.Second)
	require.NoError(t, err, "before Kill")
	require.Equal(t, 200, status, "before Kill")
	s.Kill()
	_, _, err = get(t, s.URL(), time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "after Kill")
}

// TestSetAndCount: the fault changes between requests and each is counted
// under the fault it met.
func TestSetAndCount(t *testing.T) {
	s := start(t, Config{})
	get(t, s.URL(), time.Second)
	s.Set(Status500)
	get(t, s.URL(), time.Second)
	get(t, s.URL(), time.Second)
	assert.EqualValues(t, 1, s.Count(None), "Count(None)")
	assert.EqualValues(t, 2, s.Count(Status500), "Count(Status500)")
	assert.EqualValues(t, 3, s.Requests(), "Requests()")
}

func TestClosedURL(t *testing.T) {
	u, err := ClosedURL()
	require.NoError(t, err, "ClosedURL")
	_, _, err = get(t, u, time.Second)
	assert.ErrorIs(t, err, syscall.ECONNREFUSED, "GET %s", u)
}

func TestParseFault(t *testing.T) {
	for f := None; f < numFaults; f++ {
		got, err := ParseFault(f.String())
		assert.NoError(t, err, "ParseFault(%q)", f.String())
		assert.Equal(t, f, got, "ParseFault(%q)", f.String())
	}
	_, err := ParseFault("nope")
	assert.Error(t, err, "ParseFault(nope)")
}
