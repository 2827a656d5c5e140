package loadtest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"flag"
	"io"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/steadyload/steadyload/loadtest/result"
)

// newTestUser returns user 0 of a run of sc against target, as Run would
// make it, without any load; direct false sends every request through the
// http.Client. A non-nil sec installs the secret transport.
func newTestUser(t *testing.T, target string, sc Scenario, direct bool, sec *secret) (*User, *runner) {
	t.Helper()
	sc.Host = target
	if sc.Rate == 0 && sc.Users == 0 {
		sc.Rate = 1
	}
	if len(sc.Tasks) == 0 {
		sc.Tasks = []Task{{Name: "T", Do: func(context.Context, *User) error { return nil }}}
	}
	p, err := resolve(sc, newFlags(flag.NewFlagSet("direct", flag.ContinueOnError)))
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	u, err := url.Parse(target)
	if err != nil {
		t.Fatal(err)
	}
	r := &runner{tb: t, plan: p, target: u, base: strings.TrimSuffix(target, "/"), runID: "0123456789abcdef", seed: 1, noDirect: !direct}
	r.client = newClient(p, u)
	if sec != nil {
		r.client.Transport = &secretTransport{base: r.client.Transport, scheme: u.Scheme, host: u.Host, sec: sec}
	}
	t.Cleanup(r.client.CloseIdleConnections)
	r.rec = newRecorder([]string{"T"})
	r.lag = result.NewWindowHistogram()
	return r.newUser(0), r
}

// rawServer is a TCP server on loopback that answers every request with
// the same bytes, and keeps what it was sent.
type rawServer struct {
	ln     net.Listener
	answer string
	close  bool // close the connection after each answer

	mu   sync.Mutex
	reqs []*http.Request // with their bodies read into bodies
	body [][]byte
	wg   sync.WaitGroup
}

func newRawServer(t *testing.T, answer string, closeAfter bool) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &rawServer{ln: ln, answer: answer, close: closeAfter}
	s.wg.Add(1)
	go s.serve()
	t.Cleanup(func() {
		ln.Close()
		s.wg.Wait()
	})
	return s
}

func (s *rawServer) url() string { return "http://" + s.ln.Addr().String() }

func (s *rawServer) serve() {
	defer s.wg.Done()
	var conns sync.WaitGroup
	defer conns.Wait()
	var open []net.Conn
	defer func() {
		for _, c := range open {
			c.Close()
		}
	}()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		open = append(open, c)
		conns.Add(1)
		go func() {
			defer conns.Done()
			defer c.Close()
			br := bufio.NewReader(c)
			for {
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				b, _ := io.ReadAll(req.Body)
				s.mu.Lock()
				s.reqs = append(s.reqs, req)
				s.body = append(s.body, b)
				s.mu.Unlock()
				c.SetWriteDeadline(time.Now().Add(5 * time.Second))
				if _, err := io.WriteString(c, s.answer); err != nil || s.close {
					return
				}
			}
		}()
	}
}

func (s *rawServer) last(t *testing.T) (*http.Request, []byte) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.reqs) == 0 {
		t.Fatal("the server got no request")
	}
	return s.reqs[len(s.reqs)-1], s.body[len(s.body)-1]
}

const okAnswer = "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"

// TestDirectRequests checks that the direct path sends what the
// http.Client path sends: method, URI, Host, every header and the body,
// for the requests a scenario makes.
func TestDirectRequests(t *testing.T) {
	type body struct{ ID int }
	cases := []struct {
		name    string
		base    string // appended to the server's URL
		sc      Scenario
		user    http.Header
		req     Request
		sec     *secret
		direct  bool // goes the direct way
		wantURI string
	}{
		{name: "get", req: Request{Path: "/items/42"}, direct: true, wantURI: "/items/42"},
		{name: "path without slash", req: Request{Path: "items?id=1&x=a,b"}, direct: true, wantURI: "/items?id=1&x=a,b"},
		{name: "empty path", req: Request{}, direct: true, wantURI: "/"},
		{name: "base path", base: "/api/", req: Request{Path: "/v1/x"}, direct: true, wantURI: "/api/v1/x"},
		{name: "escapes kept", req: Request{Path: "/a%2Fb/c%41?q=%20"}, direct: true, wantURI: "/a%2Fb/c%41?q=%20"},
		{name: "post json", req: Request{Path: "/items", JSON: body{7}}, direct: true, wantURI: "/items"},
		{name: "post bytes", req: Request{Method: "PUT", Path: "/items/7", Body: []byte("raw")}, direct: true, wantURI: "/items/7"},
		{name: "empty body is a post", req: Request{Path: "/p", Body: []byte{}}, direct: true, wantURI: "/p"},
		{name: "head", req: Request{Method: "HEAD", Path: "/h"}, direct: true, wantURI: "/h"},
		{name: "delete", req: Request{Method: "DELETE", Path: "/d"}, direct: true, wantURI: "/d"},
		{
			name: "headers override in order",
			sc:   Scenario{Header: http.Header{"X-Plan": {"p"}, "X-Both": {"plan"}, "Accept": {"a", "b"}}},
			user: http.Header{"X-Both": {"user"}, "Authorization": {"Bearer u"}},
			req: Request{Path: "/x", Header: http.Header{
				"User-Agent": {"custom/1"}, "x-lower": {"kept as given"}, "Accept-Encoding": {"identity"},
				"X-Multi": {"1", "2"}, "X-Newline": {"a\r\nInjected: yes"}, "Host": {"ignored"}, "Connection": {"close"},
			}},
			direct: true, wantURI: "/x",
		},
		{name: "range asks no gzip", req: Request{Path: "/r", Header: http.Header{"Range": {"bytes=0-1"}}}, direct: true, wantURI: "/r"},
		{name: "empty user agent", req: Request{Path: "/u", Header: http.Header{"User-Agent": nil}}, direct: true, wantURI: "/u"},
		{
			name: "secret replaces a header", user: http.Header{"Authorization": {"Bearer user"}},
			sec: &secret{header: "authorization", value: "Bearer s3cret"}, req: Request{Path: "/s"}, direct: true, wantURI: "/s",
		},
		{name: "space in path", req: Request{Path: "/a b"}, wantURI: "/a%20b"},
		{name: "unicode path", req: Request{Path: "/é"}, wantURI: "/%C3%A9"},
		{name: "bad escape", req: Request{Path: "/%zz"}},
		{name: "fragment", req: Request{Path: "/f#frag"}, wantURI: "/f"},
		{name: "lower-case method", req: Request{Method: "get", Path: "/m"}, wantURI: "/m"},
		{name: "upgrade", req: Request{Path: "/ws", Header: http.Header{"Upgrade": {"websocket"}}}, wantURI: "/ws"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type sent struct {
				err    string
				method string
				uri    string
				host   string
				header http.Header
				body   string
			}
			var got [2]sent
			var sentDirect uint64
			for i, direct := range []bool{false, true} {
				srv := newRawServer(t, okAnswer, false)
				u, r := newTestUser(t, srv.url()+tc.base, tc.sc, direct, tc.sec)
				for k, vs := range tc.user {
					u.Header[k] = vs
				}
				u.beginTask()
				_, err := u.Do(t.Context(), tc.req)
				if err != nil {
					got[i].err = strings.Replace(err.Error(), srv.ln.Addr().String(), "server", 1)
					continue
				}
				req, b := srv.last(t)
				req.Header.Del("Traceparent") // drawn afresh for each request
				host := strings.Replace(req.Host, srv.ln.Addr().String(), "server", 1)
				got[i] = sent{method: req.Method, uri: req.RequestURI, host: host, header: req.Header, body: string(b)}
				if d := r.directPath(); d != nil {
					sentDirect = d.sent.Load()
				}
			}
			if !reflect.DeepEqual(got[0], got[1]) {
				t.Errorf("the direct path sent\n\t%+v\nthe http.Client\n\t%+v", got[1], got[0])
			}
			if got[0].err == "" && got[0].uri != tc.wantURI {
				t.Errorf("URI %q, want %q", got[0].uri, tc.wantURI)
			}
			if want := map[bool]uint64{true: 1}[tc.direct]; sentDirect != want {
				t.Errorf("%d requests sent on the direct path, want %d", sentDirect, want)
			}
		})
	}
}

// TestDirectResponses checks that the direct path reads every shape of
// answer as the http.Client path does (status, header, body, error), that
// the lean parser takes only the usual ones, and that the connection is
// kept where HTTP allows.
func TestDirectResponses(t *testing.T) {
	gz := func(s string) string {
		var b bytes.Buffer
		w := gzip.NewWriter(&b)
		w.Write([]byte(s))
		w.Close()
		return b.String()
	}
	long := strings.Repeat("x", 5000)
	cases := []struct {
		name   string
		answer string
		close  bool // the server closes after answering
		method string
		lean   bool
	}{
		{name: "plain", answer: okAnswer, lean: true},
		{name: "headers", answer: "HTTP/1.1 201 Created\r\ncontent-type: application/json\r\nX-Custom-Thing:  v  \r\nset-cookie: a=1\r\nSet-Cookie: b=2\r\nEtag: \"e\"\r\nX-Empty:\r\nContent-Length: 7\r\n\r\n{\"a\":1}", lean: true},
		{name: "upper-case names", answer: "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 3\r\nX-ÿ: 1\r\n\r\nabc"},
		{name: "upper-case names, token bytes", answer: "HTTP/1.1 200 OK\r\nCONTENT-LENGTH: 3\r\nX_Odd.Name~: v\r\n\r\nabc", lean: true},
		{name: "no reason", answer: "HTTP/1.1 204\r\n\r\n", lean: true},
		{name: "not modified with length", answer: "HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n", lean: true},
		{name: "head with length", method: "HEAD", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n", lean: true},
		{name: "empty body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n", lean: true},
		{name: "error status", answer: "HTTP/1.1 503 Service Unavailable\r\nRetry-After: 3\r\nContent-Length: 4\r\n\r\nbusy", lean: true},
		{name: "chunked", answer: "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n"},
		{name: "gzip", answer: "HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + itoa(len(gz("zipped"))) + "\r\n\r\n" + gz("zipped")},
		{name: "connection close", answer: "HTTP/1.1 200 OK\r\nConnection: close\r\nContent-Length: 2\r\n\r\nok", close: true},
		{name: "http/1.0", answer: "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", close: true},
		{name: "read to close", answer: "HTTP/1.1 200 OK\r\n\r\nuntil the end", close: true},
		{name: "continue first", answer: "HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"},
		{name: "folded header", answer: "HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok"},
		{name: "bare LF", answer: "HTTP/1.1 200 OK\nContent-Length: 2\n\nok"},
		{name: "space before colon", answer: "HTTP/1.1 200 OK\r\nX-Bad : v\r\nContent-Length: 2\r\n\r\nok", close: true},
		{name: "bad length", answer: "HTTP/1.1 200 OK\r\nContent-Length: 1x\r\n\r\nok", close: true},
		{name: "signed length", answer: "HTTP/1.1 200 OK\r\nContent-Length: +2\r\n\r\nok", close: true},
		{name: "two equal lengths", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok"},
		{name: "two lengths", answer: "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\nok", close: true},
		{name: "large body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n" + strings.Repeat("b", 100000), lean: true},
		{name: "huge length, short body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 1500000000\r\n\r\nok", close: true, lean: true},
		{name: "short body", answer: "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nok", close: true, lean: true},
		{name: "cut head", answer: "HTTP/1.1 200 OK\r\nContent-Len", close: true},
		{name: "nothing", answer: "", close: true},
		{name: "garbage", answer: "hello\r\n\r\n", close: true},
		{name: "status 600", answer: "HTTP/1.1 600 Odd\r\nContent-Length: 0\r\n\r\n"},
		{name: "long head", answer: "HTTP/1.1 200 OK\r\nX-Long: " + long + "\r\nContent-Length: 2\r\n\r\nok"},
		{name: "control byte", answer: "HTTP/1.1 200 OK\r\nX-Ctl: a\x01b\r\nContent-Length: 2\r\n\r\nok", close: true},
		{name: "obs text", answer: "HTTP/1.1 200 OK\r\nX-Latin: caf\xe9\r\nContent-Length: 2\r\n\r\nok", lean: true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			type got struct {
				status int
				header http.Header
				body   string
				err    string
			}
			var res [2][2]got // [path][request]
			var lean uint64
			for i, direct := range []bool{false, true} {
				srv := newRawServer(t, tc.answer, tc.close)
				u, r := newTestUser(t, srv.url(), Scenario{}, direct, nil)
				for j := range 2 { // twice: the connection is reused or redialled
					u.beginTask()
					resp, err := u.Do(t.Context(), Request{Method: tc.method, Path: "/", Expect: []int{200, 201, 204, 304, 503, 600}})
					if err != nil {
						res[i][j].err = err.Error()
					}
					if resp != nil {
						res[i][j].status, res[i][j].header, res[i][j].body = resp.Status, resp.Header, string(resp.Body)
					}
				}
				if d := r.directPath(); d != nil {
					lean = d.lean.Load()
				}
			}
			if !reflect.DeepEqual(res[0], res[1]) {
				t.Errorf("the direct path read\n\t%+v\nthe http.Client\n\t%+v", res[1], res[0])
			}
			if want := map[bool]uint64{true: 2}[tc.lean]; lean != want {
				t.Errorf("the lean parser read %d answers, want %d", lean, want)
			}
		})
	}
}

func itoa(n int) string { return string(appendInt(nil, int64(n))) }

// TestDirectRedirect: a redirect met on the direct path is followed as
// the http.Client follows it: on the target's host only, with the
// method a 303 turns into GET and a 307 keeps, and the body resent.
func TestDirectRedirect(t *testing.T) {
	mux := http.NewServeMux()
	var mu sync.Mutex
	var seen []string
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		seen = append(seen, r.Method+" "+r.URL.Path+" "+string(b)+" "+r.Header.Get("Authorization"))
		mu.Unlock()
		switch r.URL.Path {
		case "/303":
			http.Redirect(w, r, "/done", http.StatusSeeOther)
		case "/307":
			http.Redirect(w, r, "/done", http.StatusTemporaryRedirect)
		case "/away":
			w.Header().Set("Location", "http://192.0.2.1/elsewhere")
			w.WriteHeader(http.StatusFound)
			io.WriteString(w, "moved")
		case "/loop":
			http.Redirect(w, r, "/loop", http.StatusFound)
		default:
			io.WriteString(w, "done")
		}
	})
	srv, _ := newH1Server(t, mux.ServeHTTP)
	sec := &secret{header: "Authorization", value: "Bearer s"}
	for _, path := range []string{"/303", "/307", "/away", "/loop"} {
		t.Run(path, func(t *testing.T) {
			var out [2]string
			for i, direct := range []bool{false, true} {
				mu.Lock()
				seen = nil
				mu.Unlock()
				u, _ := newTestUser(t, srv.URL, Scenario{}, direct, sec)
				resp, err := u.Do(t.Context(), Request{Path: path, Body: []byte("payload"), Expect: []int{200, 302}})
				mu.Lock()
				out[i] = strings.Join(seen, " | ")
				mu.Unlock()
				if err != nil {
					out[i] += " error: " + err.Error()
				} else {
					out[i] += " => " + itoa(resp.Status) + " " + string(resp.Body)
				}
			}
			if out[0] != out[1] {
				t.Errorf("the direct path:\n\t%s\nthe http.Client:\n\t%s", out[1], out[0])
			}
		})
	}
}

// TestDirectFailures checks the errors of the direct path against the
// http.Client's: a refused connection, a context that ends mid-request,
// a server that closes a kept-alive connection (retried once).
func TestDirectFailures(t *testing.T) {
	t.Run("refused", func(t *testing.T) {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := ln.Addr().String()
		ln.Close()
		var msgs [2]string
		for i, direct := range []bool{false, true} {
			u, _ := newTestUser(t, "http://"+addr, Scenario{}, direct, nil)
			_, err := u.Get(t.Context(), "/")
			if err == nil {
				t.Fatal("no error from a refused connection")
			}
			msgs[i] = err.Error()
		}
		if msgs[0] != msgs[1] {
			t.Errorf("direct %q, http.Client %q", msgs[1], msgs[0])
		}
	})
	t.Run("context ends", func(t *testing.T) {
		release := make(chan struct{})
		srv, _ := newH1Server(t, func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-release:
			case <-r.Context().Done():
			}
		})
		defer close(release)
		for _, direct := range []bool{false, true} {
			u, _ := newTestUser(t, srv.URL, Scenario{}, direct, nil)
			ctx, cancel := context.WithTimeout(t.Context(), 50*time.Millisecond)
			_, err := u.Get(ctx, "/")
			cancel()
			if !errors.Is(err, context.DeadlineExceeded) || err.Error() != "GET: context deadline exceeded" {
				t.Errorf("direct %v: error %v, want GET: context deadline exceeded", direct, err)
			}
		}
	})
	t.Run("kept-alive connection closed", func(t *testing.T) {
		srv := newRawServer(t, okAnswer, true) // closes after each answer without saying so
		u, r := newTestUser(t, srv.url(), Scenario{}, true, nil)
		for i := range 3 {
			if _, err := u.Get(t.Context(), "/"); err != nil {
				t.Fatalf("request %d: %v", i, err)
			}
		}
		if n := r.directPath().lean.Load(); n != 3 {
			t.Errorf("%d answers read by the lean parser, want 3", n)
		}
	})
}

// TestDirectPathChoice: which runs take the direct path.
func TestDirectPathChoice(t *testing.T) {
	for _, tc := range []struct {
		target string
		sc     Scenario
		want   bool
	}{
		{"http://127.0.0.1:1", Scenario{}, true},
		{"http://127.0.0.1:1/base/", Scenario{}, true},
		{"http://localhost", Scenario{}, true},
		{"https://127.0.0.1:1", Scenario{}, false},
		{"http://user:pw@127.0.0.1:1", Scenario{}, false},
		{"http://127.0.0.1:1/a%20b", Scenario{}, true},
		{"http://127.0.0.1:1", Scenario{Transport: http.DefaultTransport}, false},
	} {
		_, r := newTestUser(t, tc.target, tc.sc, true, nil)
		d := r.directPath()
		if got := d != nil; got != tc.want {
			t.Errorf("%s (own transport %v): direct %v, want %v", tc.target, tc.sc.Transport != nil, got, tc.want)
		}
		if d != nil && tc.target == "http://localhost" && d.addr != "localhost:80" {
			t.Errorf("%s: dials %s, want localhost:80", tc.target, d.addr)
		}
	}
}

// FuzzLeanHead: whatever head the lean parser takes on, http.ReadResponse
// reads the same way: status, header, the body's length and the body.
func FuzzLeanHead(f *testing.F) {
	for _, s := range []string{
		okAnswer,
		"HTTP/1.1 201 Created\r\ncontent-type: a/b\r\nSet-Cookie: a=1\r\nset-cookie: b=2\r\nX-E:\r\nContent-Length: 3\r\n\r\nabc",
		"HTTP/1.1 204\r\n\r\n",
		"HTTP/1.1 304 Not Modified\r\nContent-Length: 10\r\n\r\n",
		"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\r\nX-Fold: a\r\n b\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 200 OK\nContent-Length: 2\n\nok",
		"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: 2\r\n\r\nok",
		"HTTP/1.1 503 Busy\r\nRetry-After: 3\r\nContent-Length: 10\r\n\r\nshort",
	} {
		f.Add([]byte(s), false, true)
		f.Add([]byte(s), true, false)
	}
	f.Fuzz(func(t *testing.T, b []byte, isHead, gz bool) {
		br := bufio.NewReaderSize(bytes.NewReader(b), 4096)
		h, ok := leanHead(br, isHead, gz)
		if !ok {
			if br.Buffered() != len(b) && len(b) <= 4096 {
				t.Fatalf("declined after consuming %d bytes", len(b)-br.Buffered())
			}
			return
		}
		method := http.MethodGet
		if isHead {
			method = http.MethodHead
		}
		resp, err := http.ReadResponse(bufio.NewReader(bytes.NewReader(b)), &http.Request{Method: method})
		if err != nil {
			t.Fatalf("lean parser took %q, http.ReadResponse refused it: %v", b, err)
		}
		defer resp.Body.Close()
		if resp.StatusCode != h.status || !reflect.DeepEqual(resp.Header, h.header) || resp.Close {
			t.Fatalf("%q:\nlean %d %v\nnet/http %d %v (close %v)", b, h.status, h.header, resp.StatusCode, resp.Header, resp.Close)
		}
		if gz && resp.Header.Get("Content-Encoding") != "" {
			t.Fatalf("%q: took an encoded body it should have left to the gzip reader", b)
		}
		want, werr := io.ReadAll(resp.Body)
		got := make([]byte, h.length)
		_, gerr := io.ReadFull(br, got)
		if (werr == nil) != (gerr == nil) || (werr == nil && !bytes.Equal(got, want)) {
			t.Fatalf("%q: body %q (%v), net/http's %q (%v)", b, got, gerr, want, werr)
		}
	})
}
