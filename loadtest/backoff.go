package loadtest

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

// firstBackoff is the pause after a 429 or 503 without a usable
// Retry-After; it doubles with each such answer in a row.
const firstBackoff = 500 * time.Millisecond

// backoff is the run's answer to a target asking it to slow down: after a
// 429 Too Many Requests or 503 Service Unavailable no task starts until the
// time the target named in Retry-After (delay-seconds or an HTTP date), or
// a doubling pause when it named none, never longer than the cap. In the
// closed model users wait; in the open model the starts due meanwhile are
// skipped, counted, and not charged as late. The harness never retries a
// request, so a failing target cannot be retry-stormed.
type backoff struct {
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

// installBackoff reads the cap on pauses.
func (s *safety) installBackoff(f *safetyFlags) error {
	d := s.r.plan.MaxBackoff
	if f.set("loadtest.max-backoff") {
		d = *f.maxBackoff
		if d <= 0 {
			return fmt.Errorf("-loadtest.max-backoff=%s: must be positive", *f.maxBackoff)
		}
	}
	switch {
	case d < 0:
		return fmt.Errorf("MaxBackoff %s is negative", d)
	case d == 0:
		d = DefaultMaxBackoff
	}
	s.bo = &backoff{max: d}
	return nil
}

// retryAfter parses a Retry-After value: a number of seconds or an HTTP
// date (RFC 9110, section 10.2.3). ok is false when v is neither.
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
func (b *backoff) throttle(code int, ra string, now time.Time) {
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
		d = firstBackoff << min(b.streak, 16)
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
func (b *backoff) pass() {
	if !b.asked.Load() {
		return
	}
	b.mu.Lock()
	b.streak = 0
	b.mu.Unlock()
}

// pause returns how long a start at now must wait.
func (b *backoff) pause(now time.Time) time.Duration {
	if !b.asked.Load() {
		return 0
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return max(b.until.Sub(now), 0)
}

// note tells the back-off of a response's status and, when it asks to
// slow down, its Retry-After.
func (b *backoff) note(code int, h http.Header) {
	if throttles(code) {
		b.throttle(code, h.Get("Retry-After"), time.Now())
	} else {
		b.pass()
	}
}

// wait holds a closed-model user while the target asked the run to back
// off, no later than end; true means it waited (the caller then checks
// the time again).
func (b *backoff) wait(ctx context.Context, tm *time.Timer, end time.Time) bool {
	if !b.asked.Load() {
		return false
	}
	now := time.Now()
	d := min(b.pause(now), end.Sub(now))
	if d <= 0 {
		return false
	}
	sleep(ctx, tm, d)
	b.mu.Lock()
	b.paused += time.Since(now)
	b.mu.Unlock()
	return true
}

// skip reports whether an open-model start scheduled at at falls in a
// back-off, and counts it if so.
func (b *backoff) skip(at time.Time) bool {
	if b.pause(at) <= 0 {
		return false
	}
	b.mu.Lock()
	b.skipped++
	b.mu.Unlock()
	return true
}

// report logs how much the run backed off, if at all.
func (b *backoff) report(r *runner) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.throttled == 0 {
		return
	}
	what := fmt.Sprintf("users paused %s in all", b.paused.Round(time.Millisecond))
	if r.plan.open {
		what = fmt.Sprintf("%d starts skipped", b.skipped)
	}
	r.tb.Logf("loadtest: the target asked to slow down %d times (HTTP 429/503): backed off, %s (longest pause %s, cap %s); no request is ever retried",
		b.throttled, what, b.longest.Round(time.Millisecond), b.max)
}
