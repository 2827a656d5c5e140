// Package ref is the reference target of the performance comparison: an
// HTTP server that answers every request with a fixed body after a fixed
// delay, and counts the requests it answered, so the comparison can check
// that a generator sent what it promised.
//
//	h := ref.New(ref.Config{Delay: 20 * time.Millisecond})
//	http.ListenAndServe("127.0.0.1:8099", h)
//	// GET /__count returns the number of requests answered so far.
package ref

import (
	"net/http"
	"strconv"
	"sync/atomic"
	"time"
)

// CountPath answers the number of requests counted so far, as a decimal
// number. Requests to it are not counted.
const CountPath = "/__count"

// DefaultBodySize is the size of the response body when Config.BodySize
// is zero.
const DefaultBodySize = 64

// Config sets the server's behaviour; the zero value answers at once with
// a 64-byte body.
type Config struct {
	Delay    time.Duration // how long each answer waits before it is written
	BodySize int           // response body bytes (default 64)
	// GoTimer waits the delay with time.Sleep instead of a timerfd. Go's
	// timers can end a sleep up to a millisecond late (see preciseWait),
	// and that lateness lands in every generator's measured latency.
	GoTimer bool
}

// Handler answers every request after the configured delay and counts it.
type Handler struct {
	delay   time.Duration
	goTimer bool
	body    []byte
	clen    []string
	n       atomic.Int64
}

// New returns a Handler for cfg.
func New(cfg Config) *Handler {
	size := cfg.BodySize
	if size <= 0 {
		size = DefaultBodySize
	}
	body := make([]byte, size)
	for i := range body {
		body[i] = 'a' + byte(i%26)
	}
	body[size-1] = '\n'
	return &Handler{delay: cfg.Delay, goTimer: cfg.GoTimer, body: body, clen: []string{strconv.Itoa(size)}}
}

// Count returns the number of requests answered so far.
func (h *Handler) Count() int64 { return h.n.Load() }

// ServeHTTP implements http.Handler.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == CountPath {
		w.Write(strconv.AppendInt(nil, h.n.Load(), 10))
		return
	}
	if h.delay > 0 {
		if h.goTimer {
			time.Sleep(h.delay)
		} else {
			preciseWait(h.delay)
		}
	}
	hd := w.Header()
	hd["Content-Length"] = h.clen
	hd["Content-Type"] = textPlain
	w.Write(h.body)
	h.n.Add(1)
}

var textPlain = []string{"text/plain; charset=utf-8"}
