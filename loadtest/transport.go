package loadtest

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// h1Transport is the run's HTTP transport for plain-http targets: each
// request is written and its response read on the calling goroutine, over
// a pooled keep-alive HTTP/1.1 connection. net/http's Transport hands every
// request to two goroutines of its own (a writer and a reader per
// connection); doing the work in place saves those hand-offs, about a
// third of the generator's CPU per request, which is what a long-running
// load generator should not spend.
//
// It behaves as net/http's Transport does for what the harness sends:
// keep-alive, Content-Length bodies, chunked and close-delimited
// responses, 1xx responses skipped, transparent gzip, one retry of a
// request that met a keep-alive connection the server had closed. Anything
// else (https, unknown-length bodies, upgrades, Expect: 100-continue) goes
// to the fallback.
type h1Transport struct {
	fallback *http.Transport
	dialer   net.Dialer
	maxIdle  int // idle connections kept per host

	mu   sync.Mutex
	idle map[string][]*h1Conn // by host:port, most recent last
}

// newH1Transport returns a transport keeping up to maxIdle idle
// connections per host, with fallback for what it does not handle.
func newH1Transport(fallback *http.Transport, maxIdle int) *h1Transport {
	return &h1Transport{
		fallback: fallback,
		dialer:   net.Dialer{Timeout: 30 * time.Second, KeepAlive: 30 * time.Second},
		maxIdle:  maxIdle,
		idle:     map[string][]*h1Conn{},
	}
}

type h1Conn struct {
	nc     net.Conn
	rw     io.ReadWriter // what br and bw read and write: nc's raw I/O
	br     *bufio.Reader
	bw     *bufio.Writer
	addr   string
	reused bool
	// interrupt makes a blocked read or write return; made once, so that
	// watching a request's context costs no closure per request.
	interrupt func()

	// For a task's own context (taskContext): the deadline set on nc (zero
	// for none), and the run's context, watched from the first such
	// request to the close (unwatch), so that its end interrupts nc.
	deadline time.Time
	watched  context.Context
	unwatch  func() bool
	runEnded atomic.Bool
}

// watch has the deadline of tc and the end of its run reach c; the error
// says that the run has ended.
func (c *h1Conn) watch(tc *taskContext) error {
	if c.watched != tc.parent {
		if c.unwatch != nil {
			c.unwatch()
		}
		c.watched = tc.parent
		c.unwatch = context.AfterFunc(tc.parent, c.endRun)
	}
	c.setDeadline(tc.deadline)
	// endRun marks c before it interrupts: had its interrupt come before
	// the deadline above replaced it, the mark is seen here.
	if c.runEnded.Load() {
		return errRunEnded
	}
	return nil
}

var errRunEnded = errors.New("the run has ended")

// endRun interrupts c for good: its run has ended.
func (c *h1Conn) endRun() {
	c.runEnded.Store(true)
	c.interrupt()
}

// setDeadline sets the deadline of c's reads and writes.
func (c *h1Conn) setDeadline(d time.Time) {
	if !d.Equal(c.deadline) {
		c.nc.SetDeadline(d)
		c.deadline = d
	}
}

// close closes c and ends its watch of the run.
func (c *h1Conn) close() {
	if c.unwatch != nil {
		c.unwatch()
	}
	c.nc.Close()
}

// aLongTimeAgo is a deadline that makes blocked reads and writes return.
var aLongTimeAgo = time.Unix(1, 0)

// handles reports whether req is for h1Transport rather than the fallback.
func (t *h1Transport) handles(req *http.Request) bool {
	if req.URL.Scheme != "http" || req.Method == http.MethodConnect || req.Close {
		return false
	}
	if req.Body != nil && req.Body != http.NoBody && req.ContentLength <= 0 {
		return false // length unknown: chunked upload
	}
	if len(req.TransferEncoding) > 0 || req.Header.Get("Upgrade") != "" || req.Header.Get("Expect") != "" {
		return false
	}
	return true
}

// RoundTrip implements http.RoundTripper.
func (t *h1Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.handles(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	nr := &netRequest{req}
	c, gz, stop, err := t.begin(ctx, addr, nr)
	if err != nil {
		closeReqBody(nr.Request)
		return nil, err
	}
	return t.readResponse(ctx, c, nr.Request, gz, stop)
}

// An h1Request is a request as h1Transport sends it.
type h1Request interface {
	// write writes the request and flushes; gz reports that it asked for
	// gzip on the caller's behalf.
	write(w *bufio.Writer) (gz bool, err error)
	// rewind readies the request to be sent again.
	rewind() error
}

// netRequest is an *http.Request as an h1Request.
type netRequest struct{ *http.Request }

func (r *netRequest) write(w *bufio.Writer) (bool, error) { return writeRequest(w, r.Request) }

func (r *netRequest) rewind() error {
	req, err := rewind(r.Request)
	if err == nil {
		r.Request = req
	}
	return err
}

// begin sends rq on a pooled or new connection and waits for the first
// byte of the answer, retrying once on a fresh connection when a reused
// one turns out to have been closed by the server. stop ends the watch of
// ctx; it reports false when ctx has fired meanwhile.
func (t *h1Transport) begin(ctx context.Context, addr string, rq h1Request) (c *h1Conn, gz bool, stop func() bool, err error) {
	for attempt := 0; ; attempt++ {
		c, err = t.getConn(ctx, addr)
		if err != nil {
			return nil, false, nil, err
		}
		gz, stop, err = t.send(ctx, c, rq)
		if err == nil {
			return c, gz, stop, nil
		}
		if attempt == 0 && c.reused && serverClosedIdle(err) && ctx.Err() == nil {
			// The server closed the idle connection before reading this
			// request; net/http retries in this case too.
			if err = rq.rewind(); err == nil {
				continue
			}
		}
		return nil, false, nil, err
	}
}

// errClosedIdle marks a reused connection the server had closed before
// any byte of the response came.
var errClosedIdle = errors.New("http: server closed the idle connection")

func serverClosedIdle(err error) bool { return errors.Is(err, errClosedIdle) }

// rewind returns req ready to be sent again.
func rewind(req *http.Request) (*http.Request, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return req, nil
	}
	if req.GetBody == nil {
		return nil, errors.New("cannot retry: the request body cannot be read again")
	}
	body, err := req.GetBody()
	if err != nil {
		return nil, err
	}
	r2 := *req
	r2.Body = body
	return &r2, nil
}

func closeReqBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

func (t *h1Transport) getConn(ctx context.Context, addr string) (*h1Conn, error) {
	t.mu.Lock()
	if cs := t.idle[addr]; len(cs) > 0 {
		c := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		t.idle[addr] = cs[:len(cs)-1]
		t.mu.Unlock()
		c.reused = true
		return c, nil
	}
	t.mu.Unlock()
	nc, err := t.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	rw := newConnIO(nc)
	c := &h1Conn{nc: nc, rw: rw, br: bufio.NewReaderSize(rw, 4096), bw: bufio.NewWriterSize(rw, 4096), addr: addr}
	c.interrupt = func() { nc.SetDeadline(aLongTimeAgo) }
	return c, nil
}

func (t *h1Transport) putIdle(c *h1Conn) {
	t.mu.Lock()
	if cs := t.idle[c.addr]; len(cs) < t.maxIdle {
		t.idle[c.addr] = append(cs, c)
		t.mu.Unlock()
		return
	}
	t.mu.Unlock()
	c.close()
}

// CloseIdleConnections closes the idle connections, the fallback's too.
func (t *h1Transport) CloseIdleConnections() {
	t.mu.Lock()
	for addr, cs := range t.idle {
		for _, c := range cs {
			c.close()
		}
		delete(t.idle, addr)
	}
	t.mu.Unlock()
	t.fallback.CloseIdleConnections()
}

// send writes rq on c and waits for the first byte of the answer. On
// error c is closed.
func (t *h1Transport) send(ctx context.Context, c *h1Conn, rq h1Request) (gz bool, stop func() bool, err error) {
	// A task's own context reaches the connection as a deadline on it
	// and the run's end (watch). Any other context reaches it through
	// interrupt, registered for the request.
	stop = alwaysTrue
	fail := func(err error) (bool, func() bool, error) {
		t.finish(c, stop, false)
		return false, nil, ctxError(ctx, err)
	}
	if tc, ok := ctx.(*taskContext); ok && tc.unmade() {
		// A task's own context, which nothing else watches: its deadline
		// and its run's end reach c without a registration per request.
		if err := c.watch(tc); err != nil {
			return fail(err)
		}
	} else {
		c.setDeadline(time.Time{}) // an earlier task's
		if ctx.Done() != nil {
			stop = context.AfterFunc(ctx, c.interrupt)
		}
	}
	holdWrites(c.rw) // the wait for the first byte sends the request
	gz, err = rq.write(c.bw)
	if err != nil {
		if c.reused && isConnGone(err) {
			err = fmt.Errorf("%w: %w", errClosedIdle, err)
		}
		return fail(err)
	}
	if _, err := c.br.Peek(1); err != nil {
		if c.reused && isConnGone(err) {
			err = fmt.Errorf("%w: %w", errClosedIdle, err)
		} else if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return fail(err)
	}
	return gz, stop, nil
}

func alwaysTrue() bool { return true }

// ctxError is the error to report for err, met on a request of ctx: the
// context's own when it has ended (its end is what interrupted the
// connection).
func ctxError(ctx context.Context, err error) error {
	if cerr := ctx.Err(); cerr != nil {
		return cerr
	}
	return err
}

// readResponse reads the answer to req from c, which begin has sent it
// on: the head, skipping 1xx answers, and a body that gives c back to the
// pool once read.
func (t *h1Transport) readResponse(ctx context.Context, c *h1Conn, req *http.Request, gz bool, stop func() bool) (*http.Response, error) {
	fail := func(err error) (*http.Response, error) {
		t.finish(c, stop, false)
		return nil, ctxError(ctx, err)
	}
	var err error
	var resp *http.Response
	for {
		resp, err = http.ReadResponse(c.br, req)
		if err != nil {
			return fail(err)
		}
		if resp.StatusCode >= 200 || resp.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		resp.Body.Close() // 1xx: informational, the real answer follows
	}
	if resp.StatusCode == http.StatusSwitchingProtocols {
		return fail(errors.New("unexpected 101 Switching Protocols"))
	}
	b := &h1Body{t: t, c: c, rc: resp.Body, ctx: ctx, stop: stop, keep: !resp.Close}
	if resp.Body == http.NoBody {
		b.release(true)
		return resp, nil
	}
	resp.Body = b
	if gz && strings.EqualFold(resp.Header.Get("Content-Encoding"), "gzip") {
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
		resp.Body = &gzipBody{body: b}
	}
	return resp, nil
}

// isConnGone reports an error of a connection the peer has closed.
func isConnGone(err error) bool {
	return errors.Is(err, syscall.ECONNRESET) || errors.Is(err, syscall.EPIPE) || errors.Is(err, io.EOF)
}

// writeRequest writes req's head and body and flushes. It asks for gzip
// (and reports so) when the request does not choose an encoding, as
// net/http does.
func writeRequest(w *bufio.Writer, req *http.Request) (gz bool, err error) {
	rq := directReq{method: req.Method, uri: req.URL.RequestURI(), host: req.Host}
	if rq.method == "" {
		rq.method = http.MethodGet
	}
	if rq.host == "" {
		rq.host = req.URL.Host
	}
	if req.Body != nil && req.Body != http.NoBody {
		rq.src, rq.length = req.Body, req.ContentLength
	}
	rq.fields = make([]field, 0, len(req.Header))
	for k, vs := range req.Header {
		rq.fields = append(rq.fields, field{k, vs})
	}
	return rq.write(w)
}

func appendInt(b []byte, n int64) []byte {
	if n < 0 {
		n = 0
	}
	var tmp [20]byte
	i := len(tmp)
	for {
		i--
		tmp[i] = byte('0' + n%10)
		n /= 10
		if n == 0 {
			break
		}
	}
	return append(b, tmp[i:]...)
}

func validHeaderName(k string) bool {
	if k == "" {
		return false
	}
	for i := 0; i < len(k); i++ {
		if c := k[i]; c <= ' ' || c >= 0x7f || c == ':' {
			return false
		}
	}
	return true
}

// writeHeaderValue writes v with newlines turned into spaces, as net/http
// does, so a value cannot add headers of its own.
func writeHeaderValue(w *bufio.Writer, v string) {
	start := 0
	for i := 0; i < len(v); i++ {
		if c := v[i]; c == '\r' || c == '\n' {
			w.WriteString(v[start:i])
			w.WriteByte(' ')
			start = i + 1
		}
	}
	w.WriteString(v[start:])
}

// h1Body is a response body that gives its connection back to the pool
// once read to the end, or closes it when abandoned.
type h1Body struct {
	t    *h1Transport
	c    *h1Conn
	rc   io.ReadCloser
	ctx  context.Context
	stop func() bool
	keep bool // the connection may be reused
	done bool // released: read to its end, failed or closed
	eof  bool // read to its end
}

func (b *h1Body) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	if b.done {
		return 0, errors.New("http: read on closed response body")
	}
	n, err := b.rc.Read(p)
	switch {
	case err == io.EOF:
		b.eof = true
		b.release(true)
	case err != nil:
		b.release(false)
		err = ctxError(b.ctx, err)
	}
	return n, err
}

// maxDrain is how much of an abandoned body is read to save its
// connection.
const maxDrain = 4 << 10

func (b *h1Body) Close() error {
	b.eof = false // reads after Close fail
	if b.done {
		return nil
	}
	n, err := io.CopyN(io.Discard, b.rc, maxDrain+1)
	b.release(err == io.EOF && n <= maxDrain)
	return nil
}

func (b *h1Body) release(reuse bool) {
	if b.done {
		return
	}
	b.done = true
	b.t.finish(b.c, b.stop, b.keep && reuse)
}

// finish ends the request on c whose context watch stop ends: c goes back
// to the pool when reuse is true and the context has not fired, and is
// closed otherwise.
func (t *h1Transport) finish(c *h1Conn, stop func() bool, reuse bool) {
	if !stop() || !reuse || c.runEnded.Load() {
		c.close() // the context fired, or the connection is spent
		return
	}
	c.reused = false
	t.putIdle(c)
}

// gzipBody decompresses a gzip response as it is read.
type gzipBody struct {
	body *h1Body
	zr   *gzip.Reader
	err  error
}

func (g *gzipBody) Read(p []byte) (int, error) {
	if g.zr == nil && g.err == nil {
		g.zr, g.err = gzip.NewReader(g.body)
	}
	if g.err != nil {
		return 0, g.err
	}
	n, err := g.zr.Read(p)
	if err == io.EOF {
		// Read the body to its end so the connection is released.
		if _, derr := io.Copy(io.Discard, g.body); derr != nil {
			err = derr
		}
	}
	return n, err
}

func (g *gzipBody) Close() error { return g.body.Close() }
