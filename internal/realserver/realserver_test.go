package realserver

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// do sends one request on tr with the headers the harness sends and
// returns the status and body.
func do(t *testing.T, tr *http.Transport, method, url, runID, tp string, header http.Header) (int, string) {
	t.Helper()
	var body io.Reader
	if method == http.MethodPost {
		body = strings.NewReader(`{"n":1}`)
	}
	req, err := http.NewRequestWithContext(t.Context(), method, url, body)
	require.NoError(t, err)
	req.Header.Set("X-Loadtest-Run", runID)
	req.Header.Set("Traceparent", tp)
	for k, vs := range header {
		req.Header[k] = vs
	}
	resp, err := tr.RoundTrip(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(b)
}

func tp(n byte) string {
	return "00-" + strings.Repeat(string('a'+n), 32) + "-00f067aa0ba902b7-01"
}

// TestServers: each server starts with a short keep-alive limit, serves
// the static file and the slow endpoint (GET and POST, the slow one no
// sooner than SlowDelay), logs each request once with its headers, its
// client port and its number on the connection, closes a connection after
// MaxKeepAliveRequests, survives a graceful restart and stops.
func TestServers(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := Start(t, name, Config{KeepAliveTimeout: time.Second, MaxKeepAliveRequests: 2})
			tr := &http.Transport{}
			defer tr.CloseIdleConnections()

			code, body := do(t, tr, http.MethodGet, srv.URL+StaticPath, "run1", tp(0), nil)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "static\n", body)
			start := time.Now()
			code, body = do(t, tr, http.MethodGet, srv.URL+SlowPath, "run1", tp(1), nil)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "slow\n", body)
			assert.GreaterOrEqual(t, time.Since(start), SlowDelay, "GET %s answered sooner than SlowDelay", SlowPath)
			code, body = do(t, tr, http.MethodPost, srv.URL+SlowPath, "run1", tp(2), nil)
			assert.Equal(t, http.StatusOK, code)
			assert.Equal(t, "slow\n", body)
			code, _ = do(t, tr, http.MethodGet, srv.URL+StaticPath, "run1", tp(3), http.Header{"Connection": {"close"}})
			assert.Equal(t, http.StatusOK, code)

			require.NoError(t, srv.Restart())
			time.Sleep(500 * time.Millisecond)
			code, _ = do(t, tr, http.MethodGet, srv.URL+StaticPath, "run1", tp(4), nil)
			assert.Equal(t, http.StatusOK, code)

			entries, err := srv.Entries()
			require.NoError(t, err)
			got := OfRun(entries, "run1")
			require.Len(t, got, 5, "entries of run1 in %+v", entries)
			for i, e := range got {
				assert.Equal(t, strings.Repeat(string(rune('a'+i)), 32), e.TraceID(), "entry %d: %+v", i, e)
				assert.Equal(t, http.StatusOK, e.Status, "entry %d: %+v", i, e)
				assert.NotEmpty(t, e.RemotePort, "entry %d: %+v", i, e)
			}
			assert.True(t, strings.HasPrefix(got[2].Request, "POST "+SlowPath+" "), "entry 2: %+v", got[2])
			// Two requests a connection: the first two share one, the
			// next two another.
			assert.Equal(t, got[0].RemotePort, got[1].RemotePort, "requests 1 and 2: one connection")
			assert.NotEqual(t, got[1].RemotePort, got[2].RemotePort, "requests 2 and 3: the server closed the connection after 2: %+v", got)
			if name != Lighttpd {
				assert.Equal(t, []int{1, 2, 1, 2}, []int{got[0].ConnRequest, got[1].ConnRequest, got[2].ConnRequest, got[3].ConnRequest})
			}
			srv.Stop()
			srv.Stop()
		})
	}
}

func TestParseEntry(t *testing.T) {
	for _, tc := range []struct {
		line string
		want Entry
		err  bool
	}{
		{"40512 200 3 ab12 00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01 GET /x?a=b HTTP/1.1",
			Entry{RemotePort: "40512", Status: 200, ConnRequest: 3, RunID: "ab12",
				Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01", Request: "GET /x?a=b HTTP/1.1"}, false},
		{"40512 404 - - - GET / HTTP/1.1", Entry{RemotePort: "40512", Status: 404, Request: "GET / HTTP/1.1"}, false},
		{"40512 200 1 - -", Entry{}, true},
		{"40512 ok 1 - - GET / HTTP/1.1", Entry{}, true},
		{"40512 200 x - - GET / HTTP/1.1", Entry{}, true},
	} {
		got, err := parseEntry(tc.line)
		if tc.err {
			assert.Error(t, err, "parseEntry(%q)", tc.line)
			continue
		}
		require.NoError(t, err, "parseEntry(%q)", tc.line)
		assert.Equal(t, tc.want, got, "parseEntry(%q)", tc.line)
	}
	assert.Equal(t, "0af7651916cd43dd8448eb211c80319c",
		Entry{Traceparent: "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"}.TraceID())
	assert.Equal(t, "", Entry{Traceparent: "junk"}.TraceID())
}

func TestIdleClose(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want time.Duration
	}{
		{Apache, Config{}, 5 * time.Second},
		{Apache, Config{KeepAliveTimeout: time.Second}, time.Second},
		{Nginx, Config{}, 75 * time.Second},
		{Nginx, Config{KeepAliveTimeout: 1500 * time.Millisecond}, 1500 * time.Millisecond},
		{Lighttpd, Config{}, 6 * time.Second},
		{Lighttpd, Config{KeepAliveTimeout: time.Second}, 2 * time.Second},
		{Lighttpd, Config{KeepAliveTimeout: 1500 * time.Millisecond}, 3 * time.Second},
		{"httpd", Config{}, 0},
	} {
		assert.Equal(t, tc.want, IdleClose(tc.name, tc.cfg), "IdleClose(%q, %+v)", tc.name, tc.cfg)
	}
}

// TestIdleCloseMeasured: each server with a 1 s keep-alive timeout closes
// an idle connection no later than IdleClose says, and not before the
// timeout.
func TestIdleCloseMeasured(t *testing.T) {
	for _, name := range Names() {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			cfg := Config{KeepAliveTimeout: time.Second}
			srv := Start(t, name, cfg)
			c, err := net.Dial("tcp", strings.TrimPrefix(srv.URL, "http://"))
			require.NoError(t, err)
			defer c.Close()
			_, err = c.Write([]byte("GET " + StaticPath + " HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"))
			require.NoError(t, err)
			resp, err := http.ReadResponse(bufio.NewReader(c), nil)
			require.NoError(t, err)
			_, err = io.Copy(io.Discard, resp.Body)
			require.NoError(t, err)
			start := time.Now()
			require.NoError(t, c.SetReadDeadline(start.Add(IdleClose(name, cfg)+time.Second)))
			_, err = c.Read(make([]byte, 1))
			took := time.Since(start)
			assert.ErrorIs(t, err, io.EOF, "read of the idle connection")
			assert.GreaterOrEqual(t, took, cfg.KeepAliveTimeout-50*time.Millisecond, "closed sooner than the timeout")
			assert.LessOrEqual(t, took, IdleClose(name, cfg)+time.Second, "closed later than IdleClose")
		})
	}
}

// TestShutdownTimeout: nginx with ShutdownTimeout drops a request in
// progress when it restarts, after the upstream has received it, and
// logs it; the other servers refuse the setting.
func TestShutdownTimeout(t *testing.T) {
	srv := Start(t, Nginx, Config{ShutdownTimeout: 10 * time.Millisecond})
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	errc := make(chan error, 1)
	go func() {
		req, err := http.NewRequest(http.MethodPost, srv.URL+SlowPath, strings.NewReader("x"))
		if err == nil {
			req.Header.Set("X-Loadtest-Run", "drop")
			var resp *http.Response
			if resp, err = tr.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		}
		errc <- err
	}()
	// Restart once nginx has handed the POST to its upstream.
	for deadline := time.Now().Add(5 * time.Second); srv.UpstreamRequests() == 0 && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
	require.EqualValues(t, 1, srv.UpstreamRequests(), "POSTs at the upstream before the restart")
	require.NoError(t, srv.Restart())
	assert.Error(t, <-errc, "POST in progress at a restart")
	entries, err := srv.Entries()
	require.NoError(t, err)
	dropped := OfRun(entries, "drop")
	assert.Len(t, dropped, 1, "the dropped POST in %+v", entries)

	for _, name := range []string{Apache, Lighttpd} {
		ft := &fatalTB{TB: t}
		assert.Nil(t, Start(ft, name, Config{ShutdownTimeout: time.Second}), "Start(%s, ShutdownTimeout)", name)
		assert.Contains(t, ft.msg, "nginx only", "Start(%s, ShutdownTimeout)", name)
	}
}

// fatalTB records a Fatalf instead of failing the test; Start returns
// right after it.
type fatalTB struct {
	testing.TB
	msg string
}

func (f *fatalTB) Helper()                           {}
func (f *fatalTB) Fatalf(format string, args ...any) { f.msg = fmt.Sprintf(format, args...) }
