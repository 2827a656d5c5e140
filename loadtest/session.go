package loadtest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"sync"
	"sync/atomic"

	"github.com/steadyload/steadyload/internal/record"
	"golang.org/x/net/publicsuffix"
)

// A user's session: its cookie jar and the renewal of its credentials.
//
// Each user has an http.Client of its own, made at its first request: a
// copy of the run's client (the same Transport, so the same connections,
// the secret header and the spans; the same redirect rules) with a cookie
// jar of its own. The jar is net/http/cookiejar's with the public suffix
// list, so net/http keeps and sends cookies as a browser does, and a user
// never sees another's. It is made when the target first sets the user a
// cookie (lazyJar): until then there is none to send, and the jar would
// look up the public suffix of the target's host before every request
// for nothing, several microseconds of latency on a generator that is
// idle between requests. In the open model a user is a slot of the pool: it
// keeps its jar, as it keeps its Header and Data, from its OnStart to the
// end of the run, so OnStart's login reaches every task the slot runs.

// httpClient returns the client u's requests go through.
func (u *User) httpClient() *http.Client {
	if u.client == nil {
		u.client = u.r.userClient()
	}
	return u.client
}

// userClient returns a user's own client: the run's with a cookie jar of
// its own, or the run's itself when the scenario keeps no cookies.
func (r *runner) userClient() *http.Client {
	if r.plan.NoCookies {
		return r.client
	}
	c := *r.client
	c.Jar = &lazyJar{}
	return &c
}

// lazyJar is a cookie jar that makes its cookiejar.Jar when it is first
// given cookies; until then it has none for any URL, as an empty
// cookiejar.Jar has.
type lazyJar struct {
	mu  sync.Mutex // guards the making of jar
	jar atomic.Pointer[cookiejar.Jar]
}

// SetCookies is part of http.CookieJar.
func (l *lazyJar) SetCookies(u *url.URL, cookies []*http.Cookie) {
	j := l.jar.Load()
	if j == nil {
		l.mu.Lock()
		if j = l.jar.Load(); j == nil {
			j, _ = cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List}) // never fails
			l.jar.Store(j)
		}
		l.mu.Unlock()
	}
	j.SetCookies(u, cookies)
}

// Cookies is part of http.CookieJar.
func (l *lazyJar) Cookies(u *url.URL) []*http.Cookie {
	if j := l.jar.Load(); j != nil {
		return j.Cookies(u)
	}
	return nil
}

// mayRenew reports whether a 401 to req calls for the scenario's Renew:
// there is one, the request is not Renew's own, and the task does not
// expect the 401.
func (u *User) mayRenew(req *Request) bool {
	return u.r.plan.Renew != nil && !u.renewing && !expected(http.StatusUnauthorized, req.Expect)
}

// renew runs the scenario's Renew for u, counting it. Requests it makes
// are not renewed again.
func (u *User) renew(ctx context.Context) error {
	u.renewing = true
	defer func() { u.renewing = false }()
	err := u.r.plan.Renew(ctx, u)
	u.r.sessions.renewed(err, u.r.scrub)
	return err
}

// sessionStats counts a run's renewals of credentials.
type sessionStats struct {
	renewals atomic.Int64 // Renew calls
	failed   atomic.Int64 // of which returned an error
	refused  atomic.Int64 // requests answered 401 again after a renewal

	mu       sync.Mutex
	firstErr string // the first failed renewal's error, scrubbed
}

// renewed counts one renewal, failed when err is not nil.
func (s *sessionStats) renewed(err error, scrub func(string) string) {
	s.renewals.Add(1)
	if err == nil {
		return
	}
	if s.failed.Add(1) == 1 {
		s.mu.Lock()
		s.firstErr = scrub(record.NormalizeError(err.Error()))
		s.mu.Unlock()
	}
}

// line is the log's line about renewals, empty when there was none.
func (s *sessionStats) line() string {
	n := s.renewals.Load()
	if n == 0 {
		return ""
	}
	text := fmt.Sprintf("renewed credentials %d %s after HTTP 401", n, plural(n, "time", "times"))
	if f := s.failed.Load(); f > 0 {
		s.mu.Lock()
		first := s.firstErr
		s.mu.Unlock()
		if f == 1 {
			text += "; 1 renewal failed: " + first
		} else {
			text += fmt.Sprintf("; %d renewals failed, the first: %s", f, first)
		}
	}
	if rf := s.refused.Load(); rf > 0 {
		text += fmt.Sprintf("; %d %s refused again after renewal", rf, plural(rf, "request", "requests"))
	}
	return text
}

// plural picks the form of a noun for n.
func plural(n int64, one, many string) string {
	if n == 1 {
		return one
	}
	return many
}

// logSessions logs the renewals of the run, if any, in one line.
func (r *runner) logSessions() {
	if l := r.sessions.line(); l != "" {
		r.tb.Logf("loadtest: %s", l)
	}
}
