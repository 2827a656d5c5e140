package backoff

import (
	"context"
	"net/http"
	"testing"
	"testing/synctest"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestRetryAfter: both forms of Retry-After, and what is not one.
func TestRetryAfter(t *testing.T) {
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"3", 3 * time.Second, true},
		{" 0 ", 0, true},
		{"120", 2 * time.Minute, true},
		{"99999999999", 24 * time.Hour, true},
		{now.Add(5 * time.Second).Format(http.TimeFormat), 5 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{"Sunday, 01-Mar-26 12:00:07 GMT", 7 * time.Second, true}, // RFC 850
		{"", 0, false},
		{"-1", 0, false},
		{"1.5", 0, false},
		{"soon", 0, false},
	}
	for _, tt := range tests {
		d, ok := retryAfter(tt.in, now)
		assert.Equal(t, tt.want, d, "retryAfter(%q) = (%s, %v); want (%s, %v)", tt.in, d, ok, tt.want, tt.ok)
		assert.Equal(t, tt.ok, ok, "retryAfter(%q) = (%s, %v); want (%s, %v)", tt.in, d, ok, tt.want, tt.ok)
	}
}

// TestBackoffNote: the pause follows Retry-After, doubles without it,
// is capped, and resets after a good answer.
func TestBackoffNote(t *testing.T) {
	t0 := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	b := New(5 * time.Second)
	steps := []struct {
		code int
		ra   string
		want time.Duration // pause at t0 after this answer
	}{
		{200, "", 0},
		{503, "", 500 * time.Millisecond},
		{503, "", time.Second},
		{429, "", 2 * time.Second},
		{429, "4", 4 * time.Second},
		{429, "3600", 5 * time.Second}, // capped
		{200, "", 5 * time.Second},     // a good answer does not cut a pause short…
		{503, "", 5 * time.Second},     // …but restarts the doubling (0.5 s < the pause already set)
	}
	for i, s := range steps {
		b.throttle(s.code, s.ra, t0)
		assert.Equal(t, s.want, b.pause(t0), "step %d: note(%d, %q); pause", i, s.code, s.ra)
	}
	assert.Equal(t, int64(6), b.throttled, "throttled")
	assert.Equal(t, 1, b.streak, "streak after the last answer (the good answer before it restarts the doubling)")
}

// TestBackoffStarts: a closed-model user waits out the pause, capped by
// the end of the run; an open-model start within it is skipped and
// counted; the report says which, and nothing when the target never asked.
// Time is fake.
func TestBackoffStarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx := context.Background()
		tm := time.NewTimer(time.Hour)
		tm.Stop()
		b := New(10 * time.Second)
		assert.False(t, b.Wait(ctx, tm, time.Now().Add(time.Minute)), "Wait before any 429")
		assert.False(t, b.Skip(time.Now()), "Skip before any 429")
		assert.Empty(t, b.Report(false), "Report before any 429")

		b.Note(http.StatusTooManyRequests, http.Header{"Retry-After": {"2"}})
		start := time.Now()
		assert.True(t, b.Wait(ctx, tm, start.Add(time.Second)), "Wait within the pause")
		assert.Equal(t, time.Second, time.Since(start), "Wait stops at the end given")
		assert.True(t, b.Wait(ctx, tm, start.Add(time.Minute)), "Wait within the rest of the pause")
		assert.Equal(t, 2*time.Second, time.Since(start), "Wait ends with the pause")
		assert.False(t, b.Wait(ctx, tm, start.Add(time.Minute)), "Wait after the pause")

		b.Note(http.StatusServiceUnavailable, http.Header{"Retry-After": {"1"}})
		now := time.Now()
		assert.True(t, b.Skip(now.Add(500*time.Millisecond)), "Skip within the pause")
		assert.False(t, b.Skip(now.Add(time.Second)), "Skip at the end of the pause")
		b.Note(http.StatusOK, http.Header{})

		assert.Equal(t, "the target asked to slow down 2 times (HTTP 429/503): backed off, users paused 2s in all (longest pause 2s, cap 10s); no request is ever retried",
			b.Report(false))
		assert.Equal(t, "the target asked to slow down 2 times (HTTP 429/503): backed off, 1 starts skipped (longest pause 2s, cap 10s); no request is ever retried",
			b.Report(true))
	})
}
