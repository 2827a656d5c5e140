package loadtest

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
	"sync/atomic"
)

// The direct path: a request made through User.Do against a plain-http
// target goes to h1Transport as parts (method, URI, header fields, body),
// with no http.Request, http.Client or textproto on the way, and the
// usual answer (HTTP/1.1, a Content-Length body, plain header lines) is
// read by a lean parser straight into the user's buffer. Profiled at
// saturation, net/http's request building, client and response reading
// were about half of the generator's own work per request, most of it in
// allocations and the garbage collection they cause.
//
// Anything unusual goes the ordinary way, decided before a byte of it is
// consumed: a request the direct path cannot write exactly as net/http
// would goes through the http.Client; an answer the lean parser does not
// take on (chunked, compressed, 1xx, HTTP/1.0, folded or odd header lines,
// a head longer than the read buffer) is read by http.ReadResponse; a
// redirect is handed to the http.Client, which follows it under the run's
// redirect policy.

// directConf is what the direct path needs of a run.
type directConf struct {
	t         *h1Transport
	addr      string   // to dial
	host      string   // the Host header
	basePath  string   // the target's path, before each request's
	runValues []string // of the X-Loadtest-Run header
	secKey    string   // the secret's header, canonical, when there is one
	secValues []string

	// Counted for the tests: requests sent on the direct path, and their
	// answers the lean parser read.
	sent, lean atomic.Uint64
}

// directPath returns the run's direct path, or nil when requests go
// through the http.Client: a transport of the scenario's own, an https
// target, or a target URL with parts a request URL would not simply
// repeat.
func (r *runner) directPath() *directConf {
	r.directOnce.Do(func() { r.direct = r.newDirectConf() })
	return r.direct
}

func (r *runner) newDirectConf() *directConf {
	u := r.target
	if r.noDirect || u == nil || u.Scheme != "http" || u.User != nil || u.Opaque != "" ||
		u.RawQuery != "" || u.ForceQuery || u.Fragment != "" || u.Host == "" || strings.HasSuffix(u.Host, ":") {
		return nil
	}
	rt := r.client.Transport
	var sec *secret
	if st, ok := rt.(*secretTransport); ok {
		if st.scheme != u.Scheme || st.host != u.Host {
			return nil
		}
		rt, sec = st.base, st.sec
	}
	t, ok := rt.(*h1Transport)
	if !ok {
		return nil
	}
	d := &directConf{
		t:         t,
		addr:      u.Host,
		host:      u.Host,
		basePath:  strings.TrimSuffix(u.EscapedPath(), "/"),
		runValues: []string{r.runID},
	}
	if u.Port() == "" {
		d.addr = net.JoinHostPort(u.Hostname(), "80")
	}
	if !plainURI(d.basePath) {
		return nil
	}
	if sec != nil {
		d.secKey, d.secValues = textproto.CanonicalMIMEHeaderKey(sec.header), []string{sec.value}
	}
	return d
}

// userAgentValues and jsonValues are header values the direct path
// shares between requests; nothing writes to them.
var (
	userAgentValues = []string{UserAgent}
	jsonValues      = []string{"application/json"}
)

// doDirect makes a Do on the direct path; ok false means it could not,
// and nothing was sent. A redirect is followed by the http.Client, which
// is given the answer already received as its first.
func (u *User) doDirect(ctx context.Context, d *directConf, method string, req *Request, body []byte, ctype, tp string) (res answer, ok bool, err error) {
	uri := req.Path // as runner.url joins it
	if !strings.HasPrefix(uri, "/") {
		uri = "/" + uri
	}
	if d.basePath != "" {
		uri = d.basePath + uri
	}
	if !plainMethod(method) || !plainURI(uri) {
		return res, false, nil
	}
	rq := &u.direct
	rq.method, rq.uri, rq.host = method, uri, d.host
	rq.fields = rq.fields[:0]
	rq.body = body
	u.tp[0] = tp
	rq.set("User-Agent", userAgentValues)
	rq.set(RunHeader, d.runValues)
	rq.set("Traceparent", u.tp[:])
	if ctype != "" {
		rq.set("Content-Type", jsonValues)
	}
	for _, src := range []http.Header{u.r.plan.Header, u.Header, req.Header} {
		for k, vs := range src {
			rq.set(k, vs)
		}
	}
	if d.secKey != "" {
		rq.set(d.secKey, d.secValues)
	}
	if rq.get("Upgrade") != "" || rq.get("Expect") != "" {
		return res, false, nil // not for h1Transport
	}
	d.sent.Add(1)
	res, err = d.t.exchange(ctx, d.addr, rq, &u.buf)
	if res.lean {
		d.lean.Add(1)
	}
	if err != nil {
		return res, true, fmt.Errorf("%s: %w", method, err)
	}
	if isRedirect(res.status) && res.header.Get("Location") != "" && res.bodyErr == nil {
		res, err = u.followRedirect(ctx, method, req, body, ctype, tp, res)
	}
	return res, true, err
}

func isRedirect(code int) bool {
	switch code {
	case http.StatusMovedPermanently, http.StatusFound, http.StatusSeeOther,
		http.StatusTemporaryRedirect, http.StatusPermanentRedirect:
		return true
	}
	return false
}

// followRedirect has the http.Client follow the redirect res, as it
// would have had it sent the request itself.
func (u *User) followRedirect(ctx context.Context, method string, req *Request, body []byte, ctype, tp string, res answer) (answer, error) {
	hr, err := u.newRequest(ctx, method, req, body, ctype, tp)
	if err != nil {
		return answer{}, err
	}
	first := &http.Response{
		Status:        strconv.Itoa(res.status) + " " + http.StatusText(res.status),
		StatusCode:    res.status,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        res.header,
		Body:          io.NopCloser(bytes.NewReader(bytes.Clone(u.buf.Bytes()))),
		ContentLength: int64(u.buf.Len()),
	}
	c := &http.Client{
		Transport:     &replayFirst{first: first, next: u.r.client.Transport},
		CheckRedirect: u.r.client.CheckRedirect,
	}
	resp, err := c.Do(hr)
	if err != nil {
		return answer{}, unwrapURLError(err)
	}
	return u.readAll(resp), nil
}

// replayFirst answers its first request with a response already received,
// and passes the others on.
type replayFirst struct {
	first *http.Response
	next  http.RoundTripper
}

func (t *replayFirst) RoundTrip(req *http.Request) (*http.Response, error) {
	if r := t.first; r != nil {
		t.first = nil
		r.Request = req
		return r, nil
	}
	return t.next.RoundTrip(req)
}

// plainMethod reports whether m is a method of upper-case letters, which
// net/http sends as it is.
func plainMethod(m string) bool {
	if m == "" {
		return false
	}
	for i := 0; i < len(m); i++ {
		if m[i] < 'A' || m[i] > 'Z' {
			return false
		}
	}
	return true
}

// plainURI reports whether uri, a path with perhaps a query, is one that
// net/http would send exactly as it is: only characters a path or a query
// may hold unescaped, and percent signs that begin an escape.
func plainURI(uri string) bool {
	for i := 0; i < len(uri); i++ {
		switch c := uri[i]; {
		case uriByte[c]:
		case c == '%':
			if i+2 >= len(uri) || !isHex(uri[i+1]) || !isHex(uri[i+2]) {
				return false
			}
		default:
			return false
		}
	}
	return true
}

// uriByte marks the bytes plainURI takes as they are.
var uriByte = func() (t [256]bool) {
	for c := 0; c < 256; c++ {
		t[c] = 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' ||
			strings.IndexByte("-._~!$&'()*+,;=:@/?", byte(c)) >= 0
	}
	return t
}()

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

// directReq is a request as parts, as h1Transport writes it. A user keeps
// one for the direct path and reuses it; writeRequest makes one of an
// http.Request.
type directReq struct {
	method, uri, host string
	fields            []field // in order; the last of equal keys wins
	body              []byte  // may be empty
	// An http.Request's body, sent instead, and its ContentLength.
	src    io.ReadCloser
	length int64
}

// A field is a header field of a directReq.
type field struct {
	key    string
	values []string
}

// set sets key's values, replacing those of an equal key.
func (rq *directReq) set(key string, values []string) {
	for i := range rq.fields {
		if rq.fields[i].key == key {
			rq.fields[i].values = values
			return
		}
	}
	rq.fields = append(rq.fields, field{key, values})
}

// get returns key's first value, as http.Header.Get does for a
// canonical key.
func (rq *directReq) get(key string) string {
	for _, f := range rq.fields {
		if f.key == key && len(f.values) > 0 {
			return f.values[0]
		}
	}
	return ""
}

func (rq *directReq) has(key string) bool {
	for _, f := range rq.fields {
		if f.key == key {
			return true
		}
	}
	return false
}

// header returns the fields as an http.Header.
func (rq *directReq) header() http.Header {
	h := make(http.Header, len(rq.fields))
	for _, f := range rq.fields {
		h[f.key] = f.values
	}
	return h
}

// write writes the request as writeRequest writes the equivalent
// http.Request.
func (rq *directReq) write(w *bufio.Writer) (gz bool, err error) {
	w.WriteString(rq.method)
	w.WriteByte(' ')
	w.WriteString(rq.uri)
	w.WriteString(" HTTP/1.1\r\nHost: ")
	w.WriteString(rq.host)
	w.WriteString("\r\n")
	for _, f := range rq.fields {
		switch f.key {
		case "Host", "Content-Length", "Transfer-Encoding", "Connection", "Trailer":
			continue
		}
		if !validHeaderName(f.key) {
			return false, fmt.Errorf("invalid header field name %q", f.key)
		}
		for _, v := range f.values {
			w.WriteString(f.key)
			w.WriteString(": ")
			writeHeaderValue(w, v)
			w.WriteString("\r\n")
		}
	}
	if !rq.has("User-Agent") {
		w.WriteString("User-Agent: Go-http-client/1.1\r\n")
	}
	if rq.get("Accept-Encoding") == "" && rq.get("Range") == "" && rq.method != http.MethodHead {
		gz = true
		w.WriteString("Accept-Encoding: gzip\r\n")
	}
	length := int64(len(rq.body))
	if rq.src != nil {
		length = rq.length
	}
	if len(rq.body) > 0 || rq.src != nil || rq.method == http.MethodPost || rq.method == http.MethodPut || rq.method == http.MethodPatch {
		var n [20]byte
		w.WriteString("Content-Length: ")
		w.Write(appendInt(n[:0], length))
		w.WriteString("\r\n")
	}
	w.WriteString("\r\n")
	if rq.src == nil {
		w.Write(rq.body)
		return gz, w.Flush()
	}
	n, err := io.Copy(w, rq.src)
	rq.src.Close()
	if err != nil {
		return gz, fmt.Errorf("read request body: %w", err)
	}
	if n != length {
		return gz, fmt.Errorf("request body is %d bytes; its ContentLength says %d", n, length)
	}
	return gz, w.Flush()
}

// rewind is a no-op: the body is a byte slice.
func (rq *directReq) rewind() error { return nil }

// answer is what came back to a request of User.Do, on either path: the
// status and header, with the body in the user's buffer. bodyErr is an
// error met reading the body after the head had come.
type answer struct {
	status  int
	header  http.Header
	bodyErr error
	lean    bool // the head was read by leanHead
}

// exchange sends rq to addr and reads the whole answer, its body into
// buf. An error means no answer came.
func (t *h1Transport) exchange(ctx context.Context, addr string, rq *directReq, buf *bytes.Buffer) (answer, error) {
	c, gz, stop, err := t.begin(ctx, addr, rq)
	if err != nil {
		return answer{}, err
	}
	buf.Reset()
	if h, ok := leanHead(c.br, rq.method == http.MethodHead, gz); ok {
		res := answer{status: h.status, header: h.header, lean: true}
		err := readBody(c.br, buf, h.length)
		t.finish(c, stop, err == nil)
		if err != nil {
			res.bodyErr = ctxError(ctx, err)
		}
		return res, nil
	}
	resp, err := t.readResponse(ctx, c, &http.Request{Method: rq.method}, gz, stop)
	if err != nil {
		return answer{}, err
	}
	_, err = buf.ReadFrom(resp.Body)
	resp.Body.Close()
	return answer{status: resp.StatusCode, header: resp.Header, bodyErr: err}, nil
}

// readBody reads a body of n bytes from br into buf. Up to preGrow bytes
// buf is grown once; a longer body grows it as it comes, so that a
// Content-Length no body follows costs no memory.
func readBody(br *bufio.Reader, buf *bytes.Buffer, n int) error {
	if n <= preGrow {
		buf.Grow(n)
		b := buf.AvailableBuffer()[:n]
		m, err := io.ReadFull(br, b)
		buf.Write(b[:m])
		if err == io.EOF {
			err = io.ErrUnexpectedEOF
		}
		return err
	}
	m, err := buf.ReadFrom(io.LimitReader(br, int64(n)))
	if err == nil && m < int64(n) {
		err = io.ErrUnexpectedEOF
	}
	return err
}

const preGrow = 64 << 10

// head is a response head the lean parser read.
type head struct {
	status int
	header http.Header
	length int // of the body
}

// leanHead reads a response head from br when it is of the usual kind,
// as http.ReadResponse would, and reports whether it did; when it did
// not, it has consumed nothing. The usual kind: HTTP/1.1, a final status
// (not 1xx), header lines of a token, a colon and a value of visible
// characters, the body's length given by one Content-Length (or none, for
// HEAD, 204 and 304), no Transfer-Encoding or Connection header, no
// Content-Encoding when gzip was asked for on the caller's behalf, and the
// whole head within br's buffer.
func leanHead(br *bufio.Reader, isHead, gz bool) (head, bool) {
	var buf []byte
	end := -1
	for {
		buf, _ = br.Peek(br.Buffered())
		if end = bytes.Index(buf, crlfcrlf); end >= 0 {
			break
		}
		if hasBareLF(buf) {
			return head{}, false // its head may have ended already
		}
		if br.Buffered() >= br.Size() {
			return head{}, false // longer than the buffer
		}
		if _, err := br.Peek(br.Buffered() + 1); err != nil {
			return head{}, false // let http.ReadResponse report it
		}
	}
	hb := buf[:end+2] // each line with its CRLF
	line, rest := cutLine(hb)
	const proto = "HTTP/1.1 "
	if len(line) < len(proto)+3 || string(line[:len(proto)]) != proto || (len(line) > len(proto)+3 && line[len(proto)+3] != ' ') {
		return head{}, false
	}
	code := line[len(proto) : len(proto)+3]
	if code[0] < '2' || code[0] > '5' || !isDigit(code[1]) || !isDigit(code[2]) {
		return head{}, false
	}
	h := head{status: int(code[0]-'0')*100 + int(code[1]-'0')*10 + int(code[2]-'0'), length: -1}
	if bytes.IndexByte(line, '\n') >= 0 || bytes.IndexByte(line, '\r') >= 0 {
		return head{}, false
	}

	// Count the lines, check them and find the framing, before anything
	// is allocated.
	n := 0
	for r := rest; len(r) > 0; n++ {
		var l []byte
		l, r = cutLine(r)
		k, v, ok := splitField(l)
		if !ok {
			return head{}, false
		}
		switch {
		case bytes.EqualFold(k, contentLength):
			if h.length >= 0 {
				return head{}, false // more than one: let net/http judge
			}
			cl, err := strconv.ParseUint(string(v), 10, 31)
			if err != nil || len(v) == 0 || v[0] == '+' {
				return head{}, false
			}
			h.length = int(cl)
		case bytes.EqualFold(k, transferEncoding), bytes.EqualFold(k, connection):
			return head{}, false
		case gz && bytes.EqualFold(k, contentEncoding):
			return head{}, false
		}
	}
	switch {
	case isHead || h.status == http.StatusNoContent || h.status == http.StatusNotModified:
		h.length = 0
	case h.length < 0:
		return head{}, false // read to the connection's close
	}

	h.header = make(http.Header, n)
	if n > 0 {
		text := string(rest) // one allocation for every value
		values := make([]string, n)
		i := 0
		for r, off := rest, 0; len(r) > 0; i++ {
			var l []byte
			l, r = cutLine(r)
			k, v, _ := splitField(l)
			vs := off + (cap(l) - cap(v)) // v's offset in rest, from the capacities left
			values[i] = text[vs : vs+len(v)]
			off += len(l) + 2
			key := commonKey(k)
			if key == "" {
				key = textproto.CanonicalMIMEHeaderKey(string(k))
			}
			if old := h.header[key]; old != nil {
				h.header[key] = append(old, values[i])
			} else {
				h.header[key] = values[i : i+1 : i+1]
			}
		}
	}
	br.Discard(end + 4)
	return h, true
}

// hasBareLF reports whether b has a line feed without a carriage return
// before it.
func hasBareLF(b []byte) bool {
	for i := 0; ; {
		j := bytes.IndexByte(b[i:], '\n')
		if j < 0 {
			return false
		}
		if i+j == 0 || b[i+j-1] != '\r' {
			return true
		}
		i += j + 1
	}
}

var (
	crlfcrlf         = []byte("\r\n\r\n")
	contentLength    = []byte("Content-Length")
	transferEncoding = []byte("Transfer-Encoding")
	connection       = []byte("Connection")
	contentEncoding  = []byte("Content-Encoding")
)

// cutLine returns b's first line without its CRLF, and the rest.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.Index(b, crlf)
	return b[:i:i], b[i+2:]
}

var crlf = []byte("\r\n")

// splitField splits a header line into its key and its value without
// the spaces around it, and reports whether the line is plain: a token
// for a key, right before the colon, and a value of visible characters,
// spaces and tabs.
func splitField(l []byte) (k, v []byte, ok bool) {
	i := bytes.IndexByte(l, ':')
	if i <= 0 {
		return nil, nil, false
	}
	k, v = l[:i], l[i+1:]
	for _, c := range k {
		if !isTokenByte(c) {
			return nil, nil, false
		}
	}
	for _, c := range v {
		if (c < ' ' && c != '\t') || c == 0x7f {
			return nil, nil, false
		}
	}
	for len(v) > 0 && (v[0] == ' ' || v[0] == '\t') {
		v = v[1:]
	}
	for len(v) > 0 && (v[len(v)-1] == ' ' || v[len(v)-1] == '\t') {
		v = v[:len(v)-1]
	}
	return k, v, true
}

func isDigit(c byte) bool { return '0' <= c && c <= '9' }

// isTokenByte reports whether c may be in a header field name (RFC 9110,
// token).
func isTokenByte(c byte) bool {
	switch {
	case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		return true
	}
	switch c {
	case '!', '#', '$', '%', '&', '\'', '*', '+', '-', '.', '^', '_', '`', '|', '~':
		return true
	}
	return false
}

// commonKey returns the canonical form of a common response header name
// without allocating, or "" for any other.
func commonKey(k []byte) string {
	switch string(k) {
	case "Content-Type", "content-type":
		return "Content-Type"
	case "Content-Length", "content-length":
		return "Content-Length"
	case "Date", "date":
		return "Date"
	case "Server", "server":
		return "Server"
	case "Cache-Control", "cache-control":
		return "Cache-Control"
	case "Etag", "ETag", "etag":
		return "Etag"
	case "Last-Modified", "last-modified":
		return "Last-Modified"
	case "Vary", "vary":
		return "Vary"
	case "Retry-After", "retry-after":
		return "Retry-After"
	case "Location", "location":
		return "Location"
	case "Set-Cookie", "set-cookie":
		return "Set-Cookie"
	case "Content-Encoding", "content-encoding":
		return "Content-Encoding"
	case "X-Content-Type-Options", "x-content-type-options":
		return "X-Content-Type-Options"
	}
	return ""
}
