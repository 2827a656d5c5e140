package loadtest

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/steadyload/steadyload/internal/record"
)

// Version is the harness version sent in the User-Agent header.
const Version = "0.1.0"

// UserAgent is the User-Agent of every request made through the User's
// HTTP helpers, so a service can tell synthetic traffic from its users'.
const UserAgent = "steadyload/" + Version + " (+https://github.com/steadyload/steadyload)"

// RunHeader carries the run id on every request.
const RunHeader = "X-Loadtest-Run"

// A User is one simulated user: in the closed model one looping goroutine,
// in the open model one of a pool of users reused across starts. A user is
// used by one task at a time. It keeps the cookies the target sets for it,
// as a browser session does, unless Scenario.NoCookies.
type User struct {
	ID   int        // from 0, unique within the run
	Rand *rand.Rand // seeded from the scenario's seed and ID
	// Header is sent with every request this user makes, after the
	// scenario's (set an Authorization header in OnStart, say).
	Header http.Header
	// Data holds whatever per-user state the scenario needs.
	Data any

	r       *runner
	started bool // OnStart has run (open model)
	traceID [16]byte
	spanID  [8]byte
	bytes   int64 // body bytes read during the current task
	status  int   // last HTTP status of the current task
	buf     bytes.Buffer
	client  *http.Client // its own, with its cookie jar (session.go); made at its first request
	// renewing is set while the scenario's Renew runs for this user.
	renewing bool

	twin *User // a duet's: the same user against the base
}

// RunID returns the run's id, as sent in the X-Loadtest-Run header, so
// that tasks that are not HTTP can send it with their own calls.
func (u *User) RunID() string { return u.r.runID }

// Traceparent returns a W3C traceparent header value for one call of the
// task in progress: the task's trace id (TraceID) and a new span id, as
// the HTTP helpers send. Tasks that are not HTTP send it with their calls.
func (u *User) Traceparent() string { return u.traceparent() }

// Record records a measurement the harness did not time itself — a gRPC
// call, a websocket round trip, a queue's end-to-end delay — under name:
// a row of its own in every result, with its own latency, failures,
// windows, gate, history and thresholds, beside the task's. err is nil
// for a success; otherwise its class is Classify's. A name that is a
// task's (or "OnStart", "Aggregated", or empty) is an error of the run, reported
// once, and its measurements are dropped; past 100 distinct names, the
// rest are recorded as one row, "(other names)", with a warning.
func (u *User) Record(name string, took time.Duration, err error) {
	u.recordNamed(name, took, 0, 0, err)
}

// recordNamed records one measurement named name, with the status and the
// body bytes of the response it measured, if any.
func (u *User) recordNamed(name string, took time.Duration, status int, bytes int64, err error) {
	r := u.r
	i, note := r.rec.NameIndex(name)
	switch note {
	case record.NameRefused1:
		r.tb.Errorf("loadtest: a measurement inside a task is named %q, which is the name of a task or of a row of the results, or empty: "+
			"Request.Name and User.Record name rows of their own; its measurements are not recorded (said once)", name)
		return
	case record.NameRefusedN:
		return
	case record.NameOverflow:
		r.tb.Logf("loadtest: more than %d distinct names recorded inside tasks (Request.Name, User.Record; ids in a name?): %q and every new name after it are recorded as %q",
			record.MaxNames, name, record.OtherNames)
	}
	o := record.Outcome{Latency: took, End: time.Now(), Bytes: bytes, Status: status, TraceID: u.traceID}
	if err != nil {
		o.Class = Classify(err)
		o.Msg = r.scrub(record.NormalizeError(describe(err)))
	}
	r.rec.Record(i, &o)
}

// TraceID returns the W3C trace id of the task in progress, as sent in the
// traceparent header: 32 hex digits. Tasks that are not HTTP can pass it on
// to their own tracing.
func (u *User) TraceID() string { return hex.EncodeToString(u.traceID[:]) }

// beginTask draws a fresh trace id for the next task.
func (u *User) beginTask() {
	for i := 0; i < 16; i += 8 {
		v := u.Rand.Uint64()
		for j := range 8 {
			u.traceID[i+j] = byte(v >> (8 * j))
		}
	}
	u.bytes, u.status = 0, 0
}

func (u *User) traceparent() string {
	v := u.Rand.Uint64()
	for j := range 8 {
		u.spanID[j] = byte(v >> (8 * j))
	}
	var b [55]byte
	copy(b[:], "00-")
	hex.Encode(b[3:35], u.traceID[:])
	b[35] = '-'
	hex.Encode(b[36:52], u.spanID[:])
	copy(b[52:], "-01")
	return string(b[:])
}

// ownHeaders are the values of the headers the harness sends with every
// request, made once per run.
type ownHeaders struct {
	userAgent, runID, json []string
}

func newOwnHeaders(runID string) ownHeaders {
	return ownHeaders{userAgent: []string{UserAgent}, runID: []string{runID}, json: []string{"application/json"}}
}

// A Request is an HTTP request made through User.Do.
type Request struct {
	Method string // default GET, or POST when there is a body
	Path   string // joined to the target's base URL; may carry a query
	Header http.Header
	JSON   any    // marshalled as the body, with Content-Type application/json
	Body   []byte // sent as is when JSON is nil
	// Expect lists the acceptable status codes; default any 2xx.
	Expect []int
	// Check looks at a response whose status was accepted; an error marks
	// the request failed (class "check") without stopping the run.
	Check func(*Response) error
	// Name, when set, records this request under its own name as well
	// (Locust's name=): its latency from send to the body's end, its
	// status and its failure, in a row of their own ("GET /users/{id}"),
	// while the task is still timed as a whole under the task's name.
	// See User.Record for the names refused and their limit.
	Name string
}

// hasBody reports whether r sends a body, even an empty one.
func (r *Request) hasBody() bool { return r.JSON != nil || r.Body != nil }

// Response is what came back. Body is valid until the user's next request.
type Response struct {
	Status int
	Header http.Header
	Body   []byte
}

// DecodeJSON unmarshals the body into v.
func (r *Response) DecodeJSON(v any) error {
	if err := json.Unmarshal(r.Body, v); err != nil {
		return &CheckError{Err: fmt.Errorf("decode json: %w", err)}
	}
	return nil
}

// StatusError is returned for a response whose status was not expected.
type StatusError struct {
	Code       int
	RetryAfter string // the Retry-After header, if any
}

func (e *StatusError) Error() string {
	return fmt.Sprintf("HTTP %d %s", e.Code, http.StatusText(e.Code))
}

// CheckError is returned when a Request's Check rejected the response.
type CheckError struct{ Err error }

func (e *CheckError) Error() string { return "check failed: " + e.Err.Error() }
func (e *CheckError) Unwrap() error { return e.Err }

// Get is Do with a GET of path.
func (u *User) Get(ctx context.Context, path string) (*Response, error) {
	return u.Do(ctx, Request{Method: http.MethodGet, Path: path})
}

// PostJSON is Do with a POST of body as JSON to path.
func (u *User) PostJSON(ctx context.Context, path string, body any) (*Response, error) {
	return u.Do(ctx, Request{Method: http.MethodPost, Path: path, JSON: body})
}

// Do sends req to the target with the harness's headers (User-Agent,
// X-Loadtest-Run, traceparent), reads the whole body and checks the status
// and the Check function. The error classifies the failure: a
// *StatusError, a *CheckError, or the transport's error. A 401 renews the
// user's credentials and sends req once more when the scenario has a Renew.
func (u *User) Do(ctx context.Context, req Request) (*Response, error) {
	if req.Name == "" {
		return u.do(ctx, &req)
	}
	start := time.Now()
	resp, err := u.do(ctx, &req)
	took := time.Since(start)
	var status int
	var bytes int64
	if resp != nil {
		status, bytes = resp.Status, int64(len(resp.Body))
	}
	u.recordNamed(req.Name, took, status, bytes, err)
	return resp, err
}

// do is Do, unnamed.
func (u *User) do(ctx context.Context, req *Request) (*Response, error) {
	var body []byte
	switch {
	case req.JSON != nil:
		b, err := json.Marshal(req.JSON)
		if err != nil {
			return nil, fmt.Errorf("encode json body: %w", err)
		}
		body = b
	case req.Body != nil:
		body = req.Body
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
		if req.hasBody() {
			method = http.MethodPost
		}
	}
	resp, err := u.send(ctx, method, req, body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == http.StatusUnauthorized && u.mayRenew(req) {
		// The target refused the credentials and so did nothing with
		// the request: renew them once and send it once more.
		out, refused := u.finish(req, resp)
		if out == nil {
			return nil, refused // its body could not be read
		}
		if err := u.renew(ctx); err != nil {
			u.status = out.Status
			if ctx.Err() != nil {
				return nil, err // the task's time ran out while renewing
			}
			return nil, fmt.Errorf("%w (renew credentials: %v)", refused, err)
		}
		if resp, err = u.send(ctx, method, req, body); err != nil {
			return nil, err
		}
		if resp.StatusCode == http.StatusUnauthorized {
			u.r.sessions.refused.Add(1)
		}
	}
	return u.finish(req, resp)
}

// send makes one round trip of a Do through the user's client.
func (u *User) send(ctx context.Context, method string, req *Request, body []byte) (*http.Response, error) {
	hr, err := u.newRequest(ctx, method, req, body, u.traceparent())
	if err != nil {
		return nil, err
	}
	resp, err := u.httpClient().Do(hr)
	if err != nil {
		return nil, unwrapURLError(err)
	}
	return resp, nil
}

// newRequest is the http.Request of a Do.
func (u *User) newRequest(ctx context.Context, method string, req *Request, body []byte, tp string) (*http.Request, error) {
	var br io.Reader
	if req.hasBody() {
		br = bytes.NewReader(body)
	}
	hr, err := http.NewRequestWithContext(ctx, method, u.r.url(req.Path), br)
	if err != nil {
		return nil, fmt.Errorf("new request: %w", err)
	}
	// The harness's own values are slices made once per run: net/http
	// reads a request's header and never changes it.
	own := &u.r.headers
	h := hr.Header
	h["User-Agent"] = own.userAgent
	h[RunHeader] = own.runID
	h["Traceparent"] = []string{tp}
	if req.JSON != nil {
		h["Content-Type"] = own.json
	}
	for _, src := range []http.Header{u.r.plan.Header, u.Header, req.Header} {
		for k, vs := range src {
			h[k] = vs
		}
	}
	return hr, nil
}

// finish reads resp's whole body into the user's buffer, closes it, and
// judges the answer.
func (u *User) finish(req *Request, resp *http.Response) (*Response, error) {
	u.buf.Reset()
	_, bodyErr := u.buf.ReadFrom(resp.Body)
	resp.Body.Close()
	u.bytes += int64(u.buf.Len())
	u.status = resp.StatusCode
	u.r.backoff.Note(resp.StatusCode, resp.Header)
	if bodyErr != nil {
		return nil, fmt.Errorf("read body: %w", bodyErr)
	}
	out := &Response{Status: resp.StatusCode, Header: resp.Header, Body: u.buf.Bytes()}
	if !expected(out.Status, req.Expect) {
		return out, &StatusError{Code: out.Status, RetryAfter: out.Header.Get("Retry-After")}
	}
	if req.Check != nil {
		if err := req.Check(out); err != nil {
			return out, &CheckError{Err: err}
		}
	}
	return out, nil
}

func expected(code int, want []int) bool {
	if len(want) == 0 {
		return code >= 200 && code < 300
	}
	for _, w := range want {
		if code == w {
			return true
		}
	}
	return false
}

// unwrapURLError drops the *url.Error wrapper, whose message repeats the
// full URL (which may carry a token in its query), keeping the cause.
func unwrapURLError(err error) error {
	if ue, ok := err.(*url.Error); ok {
		return fmt.Errorf("%s: %w", strings.ToUpper(ue.Op), ue.Err)
	}
	return err
}
