// Package backoff is a run's answer to a target asking it to slow down.
//
// After a 429 Too Many Requests or 503 Service Unavailable no task starts
// until the time the target named in Retry-After (delay-seconds or an
// HTTP date), or a doubling pause when it named none, never longer than a
// cap. In the closed model users wait (Wait); in the open model the starts
// due meanwhile are skipped and counted (Skip), and not charged as late.
// The harness never retries a request, so a failing target cannot be
// retry-stormed.
//
//	b := backoff.New(10 * time.Second)
//	b.Note(resp.StatusCode, resp.Header) // after every response
//	if b.Skip(due) { ... }               // before an open-model start
package backoff

import (
	"context"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// firstPause is the pause after a 429 or 503 without a usable
// Retry-After; it doubles with each such answer in a row.
const firstPause = 500 * time.Millisecond

// Backoff holds or skips a run's starts while its target asked it to slow
// down, and counts what that cost. It is safe for concurrent use.
type Backoff struct {
	max time.Duration

	// asked is set at the first 429 or 503 of the run: until then every
	// answer and every start passes without the lock or the clock.
	asked atomic.Bool

	mu        sync.Mutex
	until     time.Time
	streak    int
	throttled int64
	skipped   int64
	paused    time.Duration
	longest   time.Duration
}

// New returns a back-off whose pauses last at most max, which must be
// positive.
func New(max time.Duration) *Backoff {
	return &Backoff{max: max}
}

// retryAfter parses a Retry-After value: a number of seconds or an HTTP
// date (RFC 9110, section 10.2.3), as a wait from now; seconds are capped
// at a day. ok is false when v is neither.
func retryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if secs, err := strconv.ParseInt(v, 10, 64); err == nil {
		if secs < 0 {
			return 0, false
		}
		if secs > int64(24*time.Hour/time.Second) {
			secs = int64(24 * time.Hour / time.Second)
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d := t.Sub(now); d > 0 {
		return d, true
	}
	return 0, true
}

// throttles reports whether an answer of status code asks the run to
// slow down.
func throttles(code int) bool {
	return code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable
}

// throttle takes in one response's status and its Retry-After, at now.
func (b *Backoff) throttle(code int, ra string, now time.Time) {
	if !throttles(code) {
		b.pass()
		return
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.asked.Store(true)
	b.throttled++
	d, ok := retryAfter(ra, now)
	if !ok {
		d = firstPause << min(b.streak, 16)
	}
	b.streak++
	d = min(d, b.max)
	b.longest = max(b.longest, d)
	if until := now.Add(d); until.After(b.until) {
		b.until = until
	}
}

// pass takes in an answer that does not ask to slow down: it ends a
// streak of those that did.
func (b *Backoff) pass() {
	if !b.asked.Load() {
		return
	}
	b.mu.Lock()
	b.streak = 0
	b.mu.Unlock()
}

// pause returns how long a start at now must wait.
func (b *Backoff) pause(now time.Time) time.Duration {
	if !b.asked.Load() {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.until.Sub(now), 0)
}

// Note takes in a response's status and, when it asks to slow down, its
// Retry-After.
func (b *Backoff) Note(code int, h http.Header) {
	if throttles(code) {
		b.throttle(code, h.Get("Retry-After"), time.Now())
	} else {
		b.pass()
	}
}

// Wait holds a closed-model user while the target asked the run to back
// off, no later than end, on timer tm; true means it waited (the caller
// then checks the time again). It returns early when ctx is done.
func (b *Backoff) Wait(ctx context.Context, tm *time.Timer, end time.Time) bool {
	if !b.asked.Load() {
		return false
	}
	now := time.Now()
	d := min(b.pause(now), end.Sub(now))
	if d <= 0 {
		return false
	}
	tm.Reset(d)
	select {
	case <-ctx.Done():
		tm.Stop()
	case <-tm.C:
	}
	b.mu.Lock()
	b.paused += time.Since(now)
	b.mu.Unlock()
	return true
}

// Skip reports whether an open-model start scheduled at at falls in a
// back-off, and counts it if so.
func (b *Backoff) Skip(at time.Time) bool {
	if b.pause(at) <= 0 {
		return false
	}
	b.mu.Lock()
	b.skipped++
	b.mu.Unlock()
	return true
}

// Report says how much the run backed off, for the log; "" when the
// target never asked it to. open says the run was of the open model, whose
// starts were skipped rather than its users paused.
func (b *Backoff) Report(open bool) string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.throttled == 0 {
		return ""
	}
	what := fmt.Sprintf("users paused %s in all", b.paused.Round(time.Millisecond))
	if open {
		what = fmt.Sprintf("%d starts skipped", b.skipped)
	}
	return fmt.Sprintf("the target asked to slow down %d times (HTTP 429/503): backed off, %s (longest pause %s, cap %s); no request is ever retried",
		b.throttled, what, b.longest.Round(time.Millisecond), b.max)
}
