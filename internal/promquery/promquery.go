package promquery

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"math"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/prometheus/client_golang/api"
	v1 "github.com/prometheus/client_golang/api/prometheus/v1"
	"github.com/prometheus/common/model"

	"github.com/steadyload/steadyload/internal/signals"
)

// Query is one named PromQL expression. Its value at each point is the
// sum of the series it returns; an expression meant to be read alone
// aggregates them itself (sum, max, histogram_quantile).
type Query struct {
	Name string // the signal's name in the CSV and the report, e.g. "db p95"
	Expr string // e.g. `histogram_quantile(0.95, sum by (le) (rate(db_query_seconds_bucket[1m])))`
}

// DefaultQueries are evaluated when a scenario names none: the Go
// runtime, the process and an HTTP server's request rate, errors and
// p95, after the Prometheus naming conventions (client_golang's
// collectors, promhttp's and OpenTelemetry's HTTP server metrics). A
// query whose metrics the service does not expose returns nothing and is
// named once in the log.
var DefaultQueries = []Query{
	{Name: "goroutines", Expr: "sum(go_goroutines)"},
	{Name: "heap in use", Expr: "sum(go_memstats_heap_inuse_bytes)"},
	{Name: "resident memory", Expr: "sum(process_resident_memory_bytes)"},
	{Name: "open fds", Expr: "sum(process_open_fds)"},
	{Name: "cpu seconds/s", Expr: "sum(rate(process_cpu_seconds_total[1m]))"},
	{Name: "http requests/s", Expr: "sum(rate(http_requests_total[1m]))"},
	{Name: "http 5xx/s", Expr: `sum(rate(http_requests_total{code=~"5.."}[1m]))`},
	{Name: "http p95", Expr: "histogram_quantile(0.95, sum by (le) (rate(http_request_duration_seconds_bucket[1m])))"},
	{Name: "http server p95", Expr: "histogram_quantile(0.95, sum by (le) (rate(http_server_request_duration_seconds_bucket[1m])))"},
}

// Auth is how the querier proves itself to Prometheus: basic auth when
// User is set, a bearer token otherwise, with the password or token read
// from the environment variable Env or from File (a trailing newline
// dropped), never from the code. The zero value sends nothing.
type Auth struct {
	User string
	Env  string
	File string
}

// Config is what a Querier asks, and of which Prometheus.
type Config struct {
	URL     string        // the Prometheus base URL, e.g. http://127.0.0.1:9090
	Queries []Query       // default: DefaultQueries
	Auth    Auth          // default: none
	Timeout time.Duration // for one query (default 10 s)
	Client  *http.Client  // default: a client that never uses a proxy
}

// maxPoints is the most points a range query may ask for: Prometheus
// refuses more than 11,000.
const maxPoints = 11000

// Check reports every problem with cfg: a URL that is not http(s), a
// query without a name or an expression, two queries with one name, both
// an environment variable and a file for the credential.
func (c Config) Check() error {
	var errs []error
	u, err := url.Parse(c.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		errs = append(errs, fmt.Errorf("prometheus URL %q: want http(s)://host[:port]", c.URL))
	}
	names := map[string]bool{}
	for i, q := range c.Queries {
		switch {
		case strings.TrimSpace(q.Name) == "":
			errs = append(errs, fmt.Errorf("query %d: no name", i))
		case strings.TrimSpace(q.Expr) == "":
			errs = append(errs, fmt.Errorf("query %q: no expression", q.Name))
		case names[q.Name]:
			errs = append(errs, fmt.Errorf("query %q: the name is used twice", q.Name))
		}
		names[q.Name] = true
	}
	if c.Auth.Env != "" && c.Auth.File != "" {
		errs = append(errs, errors.New("prometheus credential: both an environment variable and a file are given: pick one"))
	}
	if c.Auth.User != "" && c.Auth.Env == "" && c.Auth.File == "" {
		errs = append(errs, fmt.Errorf("prometheus user %q has no password: name an environment variable or a file", c.Auth.User))
	}
	if c.Timeout < 0 {
		errs = append(errs, errors.New("prometheus: negative timeout"))
	}
	return errors.Join(errs...)
}

// A Querier evaluates its queries against one Prometheus. It is safe for
// use by one goroutine at a time; its warnings are given once each.
type Querier struct {
	cfg Config
	api v1.API

	mu     sync.Mutex
	warned map[string]bool
}

// New checks cfg, reads its credential and makes a Querier. Nothing is
// sent until Samples.
func New(cfg Config) (*Querier, error) {
	if len(cfg.Queries) == 0 {
		cfg.Queries = DefaultQueries
	}
	if err := cfg.Check(); err != nil {
		return nil, err
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	client := cfg.Client
	if client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		client = &http.Client{Transport: tr}
	}
	header, err := authHeader(cfg.Auth)
	if err != nil {
		return nil, err
	}
	if header != "" {
		c := *client
		c.Transport = authTransport{base: transportOf(client), value: header}
		client = &c
	}
	ac, err := api.NewClient(api.Config{Address: strings.TrimSuffix(cfg.URL, "/"), Client: client})
	if err != nil {
		return nil, fmt.Errorf("prometheus %s: %w", cfg.URL, err)
	}
	return &Querier{cfg: cfg, api: v1.NewAPI(ac), warned: map[string]bool{}}, nil
}

// Names returns the queries' names, in their order.
func (q *Querier) Names() []string {
	out := make([]string, len(q.cfg.Queries))
	for i, qu := range q.cfg.Queries {
		out[i] = qu.Name
	}
	return out
}

// Samples evaluates every query over [from, to] at step and returns
// their points as samples, offsets counted from t0, sorted by signal then
// time, and the warnings not given before: a query that failed or
// returned nothing, once per query; a Prometheus that could not be
// reached, once, and then no more queries that time.
func (q *Querier) Samples(ctx context.Context, t0, from, to time.Time, step time.Duration) ([]signals.Sample, []string) {
	if step <= 0 || !to.After(from) {
		return nil, nil
	}
	if n := to.Sub(from) / step; n >= maxPoints {
		step = to.Sub(from)/(maxPoints-1) + time.Millisecond
	}
	var out []signals.Sample
	var warnings []string
	for _, qu := range q.cfg.Queries {
		qctx, cancel := context.WithTimeout(ctx, q.cfg.Timeout)
		val, _, _, err := q.api.QueryRange(qctx, qu.Expr, v1.Range{Start: from, End: to, Step: step})
		cancel()
		if err != nil {
			if unreachable(err) {
				warnings = q.warn(warnings, "unreachable", fmt.Sprintf("prometheus %s: %v; its signals are not recorded while this lasts, the load goes on", q.cfg.URL, brief(err)))
				break
			}
			warnings = q.warn(warnings, "query:"+qu.Name, fmt.Sprintf("prometheus %s: query %q (%s): %v; not recorded", q.cfg.URL, qu.Name, qu.Expr, brief(err)))
			continue
		}
		pts := points(val)
		if len(pts) == 0 {
			warnings = q.warn(warnings, "empty:"+qu.Name, fmt.Sprintf("prometheus %s: query %q (%s) returned nothing over the segment; not recorded", q.cfg.URL, qu.Name, qu.Expr))
			continue
		}
		for _, p := range pts {
			out = append(out, signals.Sample{Signal: qu.Name, At: p.at, Offset: p.at.Sub(t0), Value: p.v})
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Signal != out[j].Signal {
			return out[i].Signal < out[j].Signal
		}
		return out[i].Offset < out[j].Offset
	})
	return out, warnings
}

func (q *Querier) warn(ws []string, key, msg string) []string {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.warned[key] {
		return ws
	}
	q.warned[key] = true
	return append(ws, msg)
}

type point struct {
	at time.Time
	v  float64
}

// points sums the series of a range query's answer at each timestamp,
// NaNs and infinities left out, in time order. A scalar or an instant
// vector (from a remote that answers so) gives its one point.
func points(val model.Value) []point {
	sums := map[model.Time]float64{}
	add := func(t model.Time, v model.SampleValue) {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return
		}
		sums[t] += f
	}
	switch v := val.(type) {
	case model.Matrix:
		for _, s := range v {
			for _, p := range s.Values {
				add(p.Timestamp, p.Value)
			}
		}
	case model.Vector:
		for _, s := range v {
			add(s.Timestamp, s.Value)
		}
	case *model.Scalar:
		add(v.Timestamp, v.Value)
	}
	out := make([]point, 0, len(sums))
	for t, v := range sums {
		out = append(out, point{t.Time(), v})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// unreachable reports whether err says Prometheus could not be asked at
// all (refused, timed out, an HTTP error that is not the API's), rather
// than that it refused one query.
func unreachable(err error) bool {
	var apiErr *v1.Error
	if errors.As(err, &apiErr) {
		// An HTTP error that is not the API's (401, 404 from a proxy, a
		// 502) would answer every query alike.
		return strings.HasPrefix(apiErr.Msg, "client error:") || strings.HasPrefix(apiErr.Msg, "server error:") ||
			apiErr.Type == v1.ErrTimeout || apiErr.Type == v1.ErrCanceled
	}
	return true
}

// brief drops the URL the client's error repeats: the warning names the
// Prometheus already.
func brief(err error) string {
	var uerr *url.Error
	if errors.As(err, &uerr) {
		return uerr.Err.Error()
	}
	return err.Error()
}

// authHeader reads the credential a names and returns the Authorization
// header's value; empty when there is none. Errors name where the
// credential comes from, never its value.
func authHeader(a Auth) (string, error) {
	if a.Env == "" && a.File == "" {
		return "", nil
	}
	var value, from string
	if a.Env != "" {
		from = "environment variable " + a.Env
		v, ok := os.LookupEnv(a.Env)
		if !ok {
			return "", fmt.Errorf("prometheus credential: %s is not set", from)
		}
		value = v
	} else {
		from = "file " + a.File
		b, err := os.ReadFile(a.File)
		if err != nil {
			return "", fmt.Errorf("prometheus credential: %w", err)
		}
		value = strings.TrimSuffix(strings.TrimSuffix(string(b), "\n"), "\r")
	}
	if value == "" || strings.ContainsAny(value, "\r\n") {
		return "", fmt.Errorf("prometheus credential: %s is empty or holds a line break", from)
	}
	if a.User != "" {
		return "Basic " + base64.StdEncoding.EncodeToString([]byte(a.User+":"+value)), nil
	}
	return "Bearer " + value, nil
}

func transportOf(c *http.Client) http.RoundTripper {
	if c.Transport != nil {
		return c.Transport
	}
	return http.DefaultTransport
}

// authTransport sends the Authorization header with every request; the
// client talks to one Prometheus only.
type authTransport struct {
	base  http.RoundTripper
	value string
}

func (t authTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", t.value)
	return t.base.RoundTrip(r)
}

// CloseIdleConnections closes the base transport's idle connections.
func (t authTransport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}
