package loadtest

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"golang.org/x/net/publicsuffix"
)

// cookieServer gives each user a session cookie at POST /login?user=ID and
// checks, at GET /me?user=ID, that the request carries that user's cookie
// and the counter cookie it last set for that user, never another's.
type cookieServer struct {
	*httptest.Server
	delay    time.Duration // how long GET /me takes
	mu       sync.Mutex
	logins   map[string]int
	counters map[string]int // by user: the last counter set
	me       int            // GET /me requests
	bare     int            // of which carried no cookie at all
	wrong    []string       // what was wrong with the others: the first few
	nwrong   int            // and how many
}

func newCookieServer(t *testing.T, delay time.Duration) *cookieServer {
	s := &cookieServer{delay: delay, logins: map[string]int{}, counters: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		user := r.URL.Query().Get("user")
		if r.URL.Path == "/me" {
			time.Sleep(s.delay) // so that several users are in flight at once
		}
		s.mu.Lock()
		defer s.mu.Unlock()
		switch r.URL.Path {
		case "/login":
			s.logins[user]++
			http.SetCookie(w, &http.Cookie{Name: "sid", Value: "s-" + user, Path: "/", HttpOnly: true})
		case "/me":
			s.me++
			if len(r.Cookies()) == 0 {
				s.bare++
				return
			}
			sid, err := r.Cookie("sid")
			if err != nil || sid.Value != "s-"+user {
				s.problem("user %s: sid %v", user, sid)
				return
			}
			want := s.counters[user]
			if n, err := r.Cookie("n"); want > 0 && (err != nil || n.Value != strconv.Itoa(want)) {
				s.problem("user %s: counter %v; want %d", user, n, want)
			}
			s.counters[user] = want + 1
			http.SetCookie(w, &http.Cookie{Name: "n", Value: strconv.Itoa(want + 1), Path: "/"})
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// problem notes a wrong request; s.mu is held.
func (s *cookieServer) problem(format string, args ...any) {
	if s.nwrong++; len(s.wrong) < 5 {
		s.wrong = append(s.wrong, fmt.Sprintf(format, args...))
	}
}

// TestCookiesPerUser: by default each user's requests carry the cookies
// the target set for that user (OnStart's login, and every later one),
// never another user's, in either model; with NoCookies none are sent.
func TestCookiesPerUser(t *testing.T) {
	login := func(ctx context.Context, u *User) error {
		_, err := u.Do(ctx, Request{Method: http.MethodPost, Path: "/login?user=" + strconv.Itoa(u.ID)})
		return err
	}
	me := Task{Name: "GET /me", Do: func(ctx context.Context, u *User) error {
		_, err := u.Get(ctx, "/me?user="+strconv.Itoa(u.ID))
		return err
	}}
	tests := []struct {
		name    string
		sc      Scenario
		delay   time.Duration // of GET /me
		cookies bool
	}{
		{"closed", Scenario{Users: 5, SpawnRate: 100, Wait: Constant(10 * time.Millisecond)}, 0, true},
		{"open", Scenario{Rate: 50, MaxInFlight: 5, MaxLateRatio: 0.5}, 100 * time.Millisecond, true},
		{"off", Scenario{Users: 5, SpawnRate: 100, Wait: Constant(10 * time.Millisecond), NoCookies: true}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newCookieServer(t, tt.delay)
			sc := tt.sc
			sc.Host, sc.Duration, sc.Seed = srv.URL, 500*time.Millisecond, 1
			sc.OnStart, sc.Tasks = login, []Task{me}
			res, tb, _ := runReal(t, sc)
			require.NotNil(t, res, "no run: %s", tb.messages())
			assert.Empty(t, tb.messages(), "messages")
			srv.mu.Lock()
			defer srv.mu.Unlock()
			require.NotZero(t, srv.me, "GET /me requests")
			require.GreaterOrEqual(t, len(srv.logins), 3, "users; want several at once")
			assert.Zero(t, srv.nwrong, "requests with another user's or a stale cookie, the first: %q", srv.wrong)
			for user, n := range srv.logins {
				assert.Equal(t, 1, n, "logins of user %s", user)
			}
			if tt.cookies {
				assert.Zero(t, srv.bare, "requests without cookies, of %d", srv.me)
				assert.Len(t, srv.counters, len(srv.logins), "users whose cookies came back; want every user that logged in")
			} else {
				assert.Equal(t, srv.me, srv.bare, "requests without cookies")
			}
		})
	}
}

// TestCookiesKeepTargetRules: a cookie set on a redirect within the
// target is sent on the redirected request, with the secret header; a
// redirect to another host is still not followed, so neither the cookie
// nor the secret reaches it.
func TestCookiesKeepTargetRules(t *testing.T) {
	const token = "Bearer t0ken-for-the-target-only"
	t.Setenv("STEADYLOAD_TEST_TOKEN", token)
	other := newHeaderServer(t, "Cookie", nil)
	var mu sync.Mutex
	var problems []string
	var landed int
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if got := r.Header.Get("Authorization"); got != token {
			problems = append(problems, r.URL.Path+": no secret header")
		}
		switch r.URL.Path {
		case "/hop":
			http.SetCookie(w, &http.Cookie{Name: "hop", Value: "1", Path: "/"})
			http.Redirect(w, r, "/landed", http.StatusFound)
		case "/landed":
			landed++
			if c, err := r.Cookie("hop"); err != nil || c.Value != "1" {
				problems = append(problems, "/landed: no cookie from the redirect")
			}
		case "/away":
			http.SetCookie(w, &http.Cookie{Name: "away", Value: "1", Path: "/"})
			http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
		}
	}))
	t.Cleanup(target.Close)
	res, tb, _ := runGuarded(t, Scenario{
		Host: target.URL, Users: 2, SpawnRate: 100, Wait: Constant(20 * time.Millisecond), Duration: 300 * time.Millisecond,
		Tasks:           []Task{getTask("GET /hop", "/hop", 1), getTask("GET /away", "/away", 1)},
		MaxFailureRatio: -1,
	}, "-loadtest.auth-header-env=STEADYLOAD_TEST_TOKEN", "-loadtest.abort=false")
	require.NotNil(t, res, "no run: %s", tb.messages())
	mu.Lock()
	defer mu.Unlock()
	assert.Empty(t, problems, "what the target saw wrong")
	assert.NotZero(t, landed, "redirected requests")
	assert.Empty(t, other.values(), "requests another host saw")
	if away := task(res, "GET /away"); assert.NotNil(t, away, "GET /away row") {
		assert.Equal(t, away.Requests, away.Failures, "GET /away: failures; want every request failed with HTTP 302")
	}
}

// authServer accepts POST /orders with a token good for a few requests,
// given at POST /login and POST /renew as JSON and as the cookie "sid",
// and counts what it did with each order (keyed by its body).
type authServer struct {
	*httptest.Server
	uses  int    // requests a token is good for
	renew string // what /renew does: "ok", "401" (refuses), "useless" (a token never accepted)

	mu        sync.Mutex
	tokens    map[string]int // token → uses left
	next      int
	seen      map[string]int // order → times it came
	processed map[string]int // order → times it was accepted
	refused   int            // orders answered 401
	renewals  int            // POST /renew requests
}

func newAuthServer(t *testing.T, uses int, renew string) *authServer {
	s := &authServer{uses: uses, renew: renew, tokens: map[string]int{}, seen: map[string]int{}, processed: map[string]int{}}
	s.Server = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.Close)
	return s
}

func (s *authServer) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	s.mu.Lock()
	defer s.mu.Unlock()
	issue := func(valid bool) {
		s.next++
		tok := "t" + strconv.Itoa(s.next)
		if valid {
			s.tokens[tok] = s.uses
		}
		http.SetCookie(w, &http.Cookie{Name: "sid", Value: tok, Path: "/"})
		fmt.Fprintf(w, `{"token":%q}`, tok)
	}
	switch r.URL.Path {
	case "/login":
		issue(true)
	case "/renew":
		s.renewals++
		switch s.renew {
		case "401":
			w.WriteHeader(http.StatusUnauthorized)
		case "useless":
			issue(false)
		default:
			issue(true)
		}
	case "/orders":
		key := string(body)
		s.seen[key]++
		tok := strings.TrimPrefix(r.Header.Get("Authorization"), "Bearer ")
		if c, err := r.Cookie("sid"); tok == "" && err == nil {
			tok = c.Value
		}
		if s.tokens[tok] == 0 {
			s.refused++
			w.WriteHeader(http.StatusUnauthorized)
			return
		}
		s.tokens[tok]--
		s.processed[key]++
		w.WriteHeader(http.StatusCreated)
	}
}

// TestRenewal: a 401 renews the user's credentials once (by header or by
// cookie) and sends that request once more; every order is accepted at
// most once and sent at most twice, once refused. A renewal that fails, or
// a request refused again, is a failure with the 401, never a third
// sending; requests made inside Renew are not renewed, and a task that
// expects the 401 gets it.
func TestRenewal(t *testing.T) {
	tests := []struct {
		name   string
		cookie bool   // the token travels as a cookie, not a header
		renew  string // the server's /renew
		expect []int  // the orders' Expect
		// What the run shows: failed orders, renewals.
		fails   bool
		renewed bool
		log     string
	}{
		{name: "header", renew: "ok", renewed: true},
		{name: "cookie", cookie: true, renew: "ok", renewed: true},
		{name: "renewal refused", renew: "401", fails: true, renewed: true, log: "failed, the first: HTTP 401"},
		{name: "refused again", renew: "useless", fails: true, renewed: true, log: "refused again after renewal"},
		{name: "401 expected", renew: "ok", expect: []int{http.StatusCreated, http.StatusUnauthorized}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := newAuthServer(t, 3, tt.renew)
			var renews sync.Map // user id → Renew calls
			login := func(path string) func(ctx context.Context, u *User) error {
				return func(ctx context.Context, u *User) error {
					if path == "/renew" {
						n, _ := renews.LoadOrStore(u.ID, new(int))
						*n.(*int)++
					}
					resp, err := u.Do(ctx, Request{Method: http.MethodPost, Path: path})
					if err != nil {
						return err
					}
					var v struct{ Token string }
					if err := resp.DecodeJSON(&v); err != nil {
						return err
					}
					if !tt.cookie {
						u.Header.Set("Authorization", "Bearer "+v.Token)
					}
					return nil
				}
			}
			order := Task{Name: "POST /orders", Do: func(ctx context.Context, u *User) error {
				n := u.Data.(*int)
				*n++
				_, err := u.Do(ctx, Request{Path: "/orders", Body: fmt.Appendf(nil, "%d-%d", u.ID, *n), Expect: tt.expect})
				return err
			}}
			sc := Scenario{
				Host: srv.URL, Users: 3, SpawnRate: 100, Wait: Constant(5 * time.Millisecond), Duration: 400 * time.Millisecond, Seed: 1,
				Tasks: []Task{order}, MaxFailureRatio: -1,
				OnStart: func(ctx context.Context, u *User) error {
					u.Data = new(int)
					return login("/login")(ctx, u)
				},
				Renew: login("/renew"),
			}
			res, tb, _ := runReal(t, sc)
			require.NotNil(t, res, "no run: %s", tb.messages())
			srv.mu.Lock()
			defer srv.mu.Unlock()
			require.NotZero(t, srv.refused, "orders refused; want tokens to expire")

			row := task(res, "POST /orders")
			require.NotNil(t, row, "POST /orders row")
			assert.Equal(t, int64(len(srv.seen)), row.Requests, "orders the run counted; want each the server saw")
			var again, accepted int
			for key, n := range srv.seen {
				assert.LessOrEqual(t, srv.processed[key], 1, "order %s: times accepted", key)
				assert.LessOrEqual(t, n, 2, "order %s: times sent", key)
				if n == 2 {
					again++
				}
				accepted += srv.processed[key]
			}
			var calls int
			renews.Range(func(_, v any) bool { calls += *v.(*int); return true })
			assert.Equal(t, srv.renewals, calls, "renewals the server saw; want one request per Renew")
			if !tt.renewed {
				assert.Zero(t, calls, "Renew calls")
				assert.Zero(t, again, "orders sent twice")
				assert.NotContains(t, tb.logText(), "renewed credentials", "log")
				assert.Zero(t, row.Failures, "failed orders")
				return
			}
			assert.Contains(t, tb.logText(), fmt.Sprintf("renewed credentials %d times after HTTP 401", calls), "log")
			assert.Equal(t, int64(len(srv.seen)-accepted), row.Failures, "failed orders; want those never accepted")
			if !tt.fails {
				assert.Zero(t, row.Failures, "failed orders")
				assert.Equal(t, srv.refused, calls, "Renew calls; want one per 401")
				assert.Equal(t, srv.refused, again, "orders sent twice; want each one refused")
				return
			}
			assert.NotZero(t, row.Failures, "failed orders")
			assert.Equal(t, int(row.Failures), calls, "Renew calls; want one per failed order")
			for _, f := range res.Failures {
				assert.Equal(t, ClassHTTP, f.Class, "failure %q: class", f.Error)
				assert.Equal(t, "HTTP 401", f.Error, "failure: text")
			}
			assert.Contains(t, tb.logText(), tt.log, "log")
		})
	}
}

// TestLazyJar: a user's jar answers as net/http's cookie jar with the
// public suffix list does, from its first request on, though it makes
// that jar only once the target sets a cookie; cookies set from many
// goroutines at its first use all land in the one jar.
func TestLazyJar(t *testing.T) {
	u := func(s string) *url.URL {
		v, err := url.Parse(s)
		require.NoError(t, err)
		return v
	}
	names := func(cs []*http.Cookie) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.Name+"="+c.Value)
		}
		sort.Strings(out)
		return out
	}
	steps := []struct {
		set     string // URL the cookies come from; empty: only read
		cookies []*http.Cookie
	}{
		{"", nil}, // read before any cookie
		{"https://shop.example.com/login", []*http.Cookie{{Name: "sid", Value: "1", Path: "/"}, {Name: "cart", Value: "2", Path: "/cart"}}},
		{"https://shop.example.com/", []*http.Cookie{{Name: "wide", Value: "3", Domain: "example.com", Path: "/"}}},
		{"https://shop.example.com/", []*http.Cookie{{Name: "tld", Value: "4", Domain: "com", Path: "/"}}}, // a public suffix: refused
		{"http://127.0.0.1:8080/", []*http.Cookie{{Name: "ip", Value: "5"}}},
	}
	reads := []string{"https://shop.example.com/", "https://shop.example.com/cart/x", "https://www.example.com/", "https://other.com/", "http://127.0.0.1:8080/a", "http://shop.example.com/"}
	want, _ := cookiejar.New(&cookiejar.Options{PublicSuffixList: publicsuffix.List})
	got := &lazyJar{}
	for i, st := range steps {
		if st.set != "" {
			want.SetCookies(u(st.set), st.cookies)
			got.SetCookies(u(st.set), st.cookies)
		}
		for _, r := range reads {
			assert.Equal(t, names(want.Cookies(u(r))), names(got.Cookies(u(r))), "after step %d, cookies for %s", i, r)
		}
	}

	shop := u("https://shop.example.com/")
	for trial := range 200 {
		first := &lazyJar{}
		start := make(chan struct{})
		var wg sync.WaitGroup
		for i := range 8 {
			wg.Go(func() {
				<-start
				first.SetCookies(shop, []*http.Cookie{{Name: "c" + strconv.Itoa(i), Value: "v", Path: "/"}})
			})
		}
		close(start)
		wg.Wait()
		if !assert.Len(t, first.Cookies(shop), 8, "trial %d: cookies set at once at the first use", trial) {
			break
		}
	}
}
