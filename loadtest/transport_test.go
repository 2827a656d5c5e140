package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// connCounter counts the connections a test server accepted.
type connCounter struct{ n atomic.Int64 }

func (c *connCounter) hook(_ net.Conn, s http.ConnState) {
	if s == http.StateNew {
		c.n.Add(1)
	}
}

func newH1Server(t *testing.T, h http.HandlerFunc) (*httptest.Server, *connCounter) {
	t.Helper()
	cc := &connCounter{}
	srv := httptest.NewUnstartedServer(h)
	srv.Config.ConnState = cc.hook
	srv.Start()
	t.Cleanup(srv.Close)
	return srv, cc
}

func newH1Client(t *testing.T) (*http.Client, *h1Transport) {
	t.Helper()
	tr := newH1Transport(http.DefaultTransport.(*http.Transport).Clone(), 4)
	t.Cleanup(tr.CloseIdleConnections)
	return &http.Client{Transport: tr}, tr
}

func send(t *testing.T, c *http.Client, ctx context.Context, method, url string, body []byte, hdr http.Header) (*http.Response, string, error) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, url, rd)
	if err != nil {
		t.Fatal(err)
	}
	for k, vs := range hdr {
		req.Header[k] = vs
	}
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, string(b), err
}

// TestH1TransportResponses checks that the transport reads every shape of
// response as net/http does, over one kept-alive connection where HTTP
// allows it.
func TestH1TransportResponses(t *testing.T) {
	big := strings.Repeat("0123456789", 1000)
	for _, tc := range []struct {
		name      string
		method    string
		body      []byte
		handler   http.HandlerFunc
		wantCode  int
		wantBody  string
		wantConns int64 // connections used by 3 requests
	}{
		{"content-length", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "5")
			io.WriteString(w, "hello")
		}, 200, "hello", 1},
		{"chunked", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, "part1,")
			w.(http.Flusher).Flush()
			io.WriteString(w, "part2")
		}, 200, "part1,part2", 1},
		{"big body", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, big)
		}, 200, big, 1},
		{"no content", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(204)
		}, 204, "", 1},
		{"head", "HEAD", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
		}, 200, "", 1},
		{"early hints", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Link", "</style.css>; rel=preload")
			w.WriteHeader(103)
			io.WriteString(w, "final")
		}, 200, "final", 1},
		{"connection close", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			io.WriteString(w, "bye")
		}, 200, "bye", 3},
		{"error status", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "nope", 503)
		}, 503, "nope\n", 1},
		{"post echo", "POST", []byte(`{"id":42}`), func(w http.ResponseWriter, r *http.Request) {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "%s %d %s", r.Method, r.ContentLength, b)
		}, 200, `POST 9 {"id":42}`, 1},
		{"post empty", "POST", nil, func(w http.ResponseWriter, r *http.Request) {
			fmt.Fprintf(w, "%d", r.ContentLength)
		}, 200, "0", 1},
		{"gzip", "GET", nil, func(w http.ResponseWriter, r *http.Request) {
			if !strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
				io.WriteString(w, "not asked")
				return
			}
			w.Header().Set("Content-Encoding", "gzip")
			zw := gzip.NewWriter(w)
			io.WriteString(zw, big)
			zw.Close()
		}, 200, big, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv, cc := newH1Server(t, tc.handler)
			c, _ := newH1Client(t)
			for i := range 3 {
				resp, body, err := send(t, c, t.Context(), tc.method, srv.URL+"/x?i=1", tc.body, nil)
				if err != nil {
					t.Fatalf("request %d: %v", i, err)
				}
				if resp.StatusCode != tc.wantCode || body != tc.wantBody {
					t.Fatalf("request %d: %s = %d %.40q; want %d %.40q", i, tc.method, resp.StatusCode, body, tc.wantCode, tc.wantBody)
				}
				if tc.name == "gzip" && (resp.Header.Get("Content-Encoding") != "" || !resp.Uncompressed) {
					t.Errorf("gzip: Content-Encoding %q, Uncompressed %v; want it removed and true", resp.Header.Get("Content-Encoding"), resp.Uncompressed)
				}
			}
			if got := cc.n.Load(); got != tc.wantConns {
				t.Errorf("3 requests used %d connections; want %d", got, tc.wantConns)
			}
		})
	}
}

// TestH1TransportHeaders checks what goes on the wire.
func TestH1TransportHeaders(t *testing.T) {
	got := make(chan http.Header, 1)
	hosts := make(chan string, 1)
	srv, _ := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
		got <- r.Header.Clone()
		hosts <- r.Host
	})
	c, _ := newH1Client(t)
	hdr := http.Header{"X-Multi": {"a", "b"}, "X-Evil": {"v\r\nInjected: yes"}, "User-Agent": {"ua/1"}}
	if _, _, err := send(t, c, t.Context(), "GET", srv.URL+"/", nil, hdr); err != nil {
		t.Fatal(err)
	}
	h := <-got
	if v := h.Values("X-Multi"); len(v) != 2 || v[0] != "a" || v[1] != "b" {
		t.Errorf("X-Multi = %q; want [a b]", v)
	}
	if v := h.Get("X-Evil"); v != "v  Injected: yes" || h.Get("Injected") != "" {
		t.Errorf("X-Evil = %q, Injected = %q; want the newline turned into spaces and no injected header", v, h.Get("Injected"))
	}
	if v := h.Get("User-Agent"); v != "ua/1" {
		t.Errorf("User-Agent = %q; want ua/1", v)
	}
	if host := <-hosts; host != srv.Listener.Addr().String() {
		t.Errorf("Host = %q; want %q", host, srv.Listener.Addr())
	}
	_, _, err := send(t, c, t.Context(), "GET", srv.URL+"/", nil, http.Header{"Bad Name": {"x"}})
	if err == nil || !strings.Contains(err.Error(), "invalid header field name") {
		t.Errorf("header name with a space: error %v; want invalid header field name", err)
	}
}

// TestH1TransportServerClosedIdle checks the retry of a request that met a
// keep-alive connection the server had closed in the meantime.
func TestH1TransportServerClosedIdle(t *testing.T) {
	// A server that answers one request per connection, claims keep-alive,
	// and closes the connection after a moment.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var conns atomic.Int64
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			nc, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			br := bufio.NewReader(nc)
			req, err := http.ReadRequest(br)
			if err == nil {
				io.Copy(io.Discard, req.Body)
				io.WriteString(nc, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
			time.Sleep(10 * time.Millisecond)
			nc.Close()
		}
	}()
	defer func() { ln.Close(); <-done }()
	c, _ := newH1Client(t)
	for i, m := range []string{"GET", "POST", "GET"} {
		time.Sleep(30 * time.Millisecond) // the idle connection is closed by now
		_, body, err := send(t, c, t.Context(), m, "http://"+ln.Addr().String()+"/", []byte("x"), nil)
		if err != nil || body != "ok" {
			t.Fatalf("request %d (%s) = %q, %v; want ok after a retry on a new connection", i, m, body, err)
		}
	}
	if got := conns.Load(); got != 3 {
		t.Errorf("server saw %d connections; want 3", got)
	}
}

// TestH1TransportFailures checks that failures are the errors Classify
// knows, and that a connection that failed is not reused.
func TestH1TransportFailures(t *testing.T) {
	release := make(chan struct{})
	srv, cc := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		}
		if r.URL.Path == "/partial" {
			w.Header().Set("Content-Length", "100")
			io.WriteString(w, "short")
			return // the server closes a response that is shorter than promised
		}
		io.WriteString(w, "fine")
	})
	defer close(release)
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	refused := "http://" + closed.Addr().String() + "/"
	closed.Close()
	c, _ := newH1Client(t)

	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Millisecond)
	defer cancel()
	cctx, ccancel := context.WithCancel(t.Context())
	time.AfterFunc(30*time.Millisecond, ccancel)
	for _, tc := range []struct {
		name  string
		ctx   context.Context
		url   string
		class string
	}{
		{"timeout", ctx, srv.URL + "/slow", ClassTimeout},
		{"cancelled", cctx, srv.URL + "/slow", ClassStopped},
		{"refused", t.Context(), refused, ClassRefused},
		{"truncated body", t.Context(), srv.URL + "/partial", ClassReset},
	} {
		_, _, err := send(t, c, tc.ctx, "GET", tc.url, nil, nil)
		if got := Classify(unwrapURLError(err)); got != tc.class {
			t.Errorf("%s: error %v classified %q; want %q", tc.name, err, got, tc.class)
		}
	}
	before := cc.n.Load()
	if _, body, err := send(t, c, t.Context(), "GET", srv.URL+"/", nil, nil); err != nil || body != "fine" {
		t.Fatalf("after the failures: %q, %v; want fine", body, err)
	}
	if cc.n.Load() != before+1 {
		t.Errorf("the request after the failures reused a failed connection")
	}
}

// TestH1TransportAbandonedBody checks that closing a body before its end
// keeps the connection only when the rest is small.
func TestH1TransportAbandonedBody(t *testing.T) {
	big := strings.Repeat("x", 1<<20)
	srv, cc := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			io.WriteString(w, big)
			return
		}
		io.WriteString(w, "small body")
	})
	c, _ := newH1Client(t)
	for _, tc := range []struct {
		path      string
		wantConns int64
	}{{"/small", 1}, {"/big", 3}} {
		cc.n.Store(0)
		for range 3 {
			resp, err := c.Get(srv.URL + tc.path)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Read(make([]byte, 2))
			resp.Body.Close()
			if _, err := resp.Body.Read(make([]byte, 2)); err == nil {
				t.Errorf("Read after Close: no error")
			}
		}
		c.CloseIdleConnections()
		if got := cc.n.Load(); got != tc.wantConns {
			t.Errorf("%s: 3 abandoned bodies used %d connections; want %d", tc.path, got, tc.wantConns)
		}
	}
}

// TestH1TransportFallback checks that what the transport does not handle
// goes to net/http: https, and bodies of unknown length.
func TestH1TransportFallback(t *testing.T) {
	h := func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %v %s", r.Proto, r.TransferEncoding, b)
	}
	tls := httptest.NewTLSServer(http.HandlerFunc(h))
	defer tls.Close()
	tr := newH1Transport(tls.Client().Transport.(*http.Transport), 4)
	defer tr.CloseIdleConnections()
	c := &http.Client{Transport: tr}
	if _, body, err := send(t, c, t.Context(), "GET", tls.URL+"/", nil, nil); err != nil || !strings.HasPrefix(body, "HTTP/1.1") {
		t.Errorf("https GET = %q, %v; want an answer through the fallback", body, err)
	}
	plain, _ := newH1Server(t, h)
	req, _ := http.NewRequestWithContext(t.Context(), "POST", plain.URL+"/", io.MultiReader(strings.NewReader("abc")))
	resp, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(b) != "HTTP/1.1 [chunked] abc" {
		t.Errorf("POST of unknown length = %q; want it sent chunked by the fallback", b)
	}
	if !errors.Is(context.Canceled, context.Canceled) {
		t.Fatal("unreachable")
	}
}
