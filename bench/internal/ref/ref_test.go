package ref

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func TestHandler(t *testing.T) {
	for _, tc := range []struct {
		cfg      Config
		wantSize int
	}{
		{Config{}, DefaultBodySize},
		{Config{BodySize: 1}, 1},
		{Config{BodySize: 1000, Delay: 20 * time.Millisecond}, 1000},
		{Config{Delay: 5 * time.Millisecond, GoTimer: true}, DefaultBodySize},
	} {
		h := New(tc.cfg)
		srv := httptest.NewServer(h)
		for i := range 3 {
			start := time.Now()
			code, body := get(t, srv.URL+"/x?i="+strconv.Itoa(i))
			if took := time.Since(start); took < tc.cfg.Delay {
				t.Errorf("%+v: answered after %s; want at least the delay", tc.cfg, took)
			}
			if code != 200 || len(body) != tc.wantSize || body[len(body)-1] != '\n' {
				t.Errorf("%+v: GET = %d, %d bytes; want 200, %d bytes ending in a newline", tc.cfg, code, len(body), tc.wantSize)
			}
		}
		if code, body := get(t, srv.URL+CountPath); code != 200 || body != "3" {
			t.Errorf("%+v: GET %s = %d %q; want 200 \"3\"", tc.cfg, CountPath, code, body)
		}
		if got := h.Count(); got != 3 {
			t.Errorf("%+v: Count() = %d; want 3 (the count request is not counted)", tc.cfg, got)
		}
		srv.Close()
	}
}

func TestPreciseWait(t *testing.T) {
	for _, d := range []time.Duration{time.Microsecond, time.Millisecond, 15 * time.Millisecond} {
		start := time.Now()
		preciseWait(d)
		if took := time.Since(start); took < d {
			t.Errorf("preciseWait(%s) returned after %s", d, took)
		}
	}
}
