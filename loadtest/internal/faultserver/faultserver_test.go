package faultserver

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

func start(t *testing.T, cfg Config) *Server {
	t.Helper()
	s, err := Start(cfg)
	if err != nil {
		t.Fatal(err)
	}
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
			status, body, err := get(t, s.URL(), 300*time.Millisecond)
			if status != tt.status {
				t.Errorf("status = %d; want %d", status, tt.status)
			}
			if tt.body != "" && !strings.Contains(body, tt.body) {
				t.Errorf("body = %q; want %q", body, tt.body)
			}
			if (err == nil) != (tt.err == "") || err != nil && !strings.Contains(err.Error(), tt.err) {
				t.Errorf("error = %v; want %q", err, tt.err)
			}
			if got := s.Count(tt.cfg.Fault); got != 1 && !tt.cfg.TLS {
				t.Errorf("Count(%s) = %d; want 1", tt.cfg.Fault, got)
			}
			waitNoConns(t, s)
		})
	}
}

func waitNoConns(t *testing.T, s *Server) {
	t.Helper()
	for deadline := time.Now().Add(5 * time.Second); s.OpenConns() > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still open", s.OpenConns())
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestKill: after Kill, connections are refused.
func TestKill(t *testing.T) {
	s := start(t, Config{})
	if status, _, err := get(t, s.URL(), time.Second); status != 200 || err != nil {
		t.Fatalf("before Kill: %d, %v", status, err)
	}
	s.Kill()
	if _, _, err := get(t, s.URL(), time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("after Kill: %v; want connection refused", err)
	}
}

// TestSetAndCount: the fault changes between requests and each is counted
// under the fault it met.
func TestSetAndCount(t *testing.T) {
	s := start(t, Config{})
	get(t, s.URL(), time.Second)
	s.Set(Status500)
	get(t, s.URL(), time.Second)
	get(t, s.URL(), time.Second)
	if s.Count(None) != 1 || s.Count(Status500) != 2 || s.Requests() != 3 {
		t.Errorf("counts: none %d, 500 %d, total %d; want 1, 2, 3", s.Count(None), s.Count(Status500), s.Requests())
	}
}

func TestClosedURL(t *testing.T) {
	u, err := ClosedURL()
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := get(t, u, time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("GET %s: %v; want connection refused", u, err)
	}
}

func TestParseFault(t *testing.T) {
	for f := None; f < numFaults; f++ {
		if got, err := ParseFault(f.String()); got != f || err != nil {
			t.Errorf("ParseFault(%q) = %v, %v; want %v", f.String(), got, err, f)
		}
	}
	if _, err := ParseFault("nope"); err == nil {
		t.Errorf("ParseFault(nope) succeeded")
	}
}
