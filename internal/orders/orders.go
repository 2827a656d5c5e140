// Package orders is the example service: an in-memory orders microservice
// with simulated work, used as the stand-in target of the example
// scenarios. Its latency follows a lognormal distribution per endpoint, so
// its figures hold across machines, and knobs make it slower, make one
// endpoint slow, or make it leak, so the regression gate and the trend
// tests can be watched firing.
package orders

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Config holds the knobs of the service. The zero value is the healthy
// service.
type Config struct {
	// LatencyScale multiplies every simulated latency (0 means 1).
	LatencyScale float64
	// Slow multiplies the latency of one endpoint, keyed by its route,
	// e.g. {"POST /orders": 1.6}.
	Slow map[string]float64
	// TailScale multiplies only the slowest 10% of latencies (a tail-only
	// regression, p50 unchanged).
	TailScale float64
	// MedianScale multiplies only the fastest 60% of latencies, up to the
	// 90th percentile (a p50-only regression, p95 unchanged).
	MedianScale float64
	// Growth makes latency grow linearly over time: +Growth per minute of
	// uptime (0.1 = +10%/min), a leak or backlog to detect within a run.
	Growth float64
	// LeakBytes is retained for good on every POST /orders, a memory leak
	// that the heap gauges show.
	LeakBytes int
	// NoSleep disables the simulated work (for benchmarks of the harness).
	NoSleep bool
}

// Env variables read by ConfigFromEnv.
const (
	EnvLatencyScale = "ORDERS_LATENCY_SCALE" // e.g. 1.6
	EnvSlow         = "ORDERS_SLOW"          // e.g. "POST /orders=1.6,GET /users/{id}=2"
	EnvTailScale    = "ORDERS_TAIL_SCALE"
	EnvMedianScale  = "ORDERS_MEDIAN_SCALE"
	EnvGrowth       = "ORDERS_GROWTH_PER_MIN" // e.g. 0.12
	EnvLeakBytes    = "ORDERS_LEAK_BYTES"     // e.g. 65536
)

// ConfigFromEnv reads the knobs from the environment variables above.
func ConfigFromEnv() (Config, error) {
	var c Config
	var err error
	num := func(name string, dst *float64) {
		if s := os.Getenv(name); s != "" && err == nil {
			if *dst, err = strconv.ParseFloat(s, 64); err != nil || *dst < 0 {
				err = fmt.Errorf("%s=%q: want a non-negative number", name, s)
			}
		}
	}
	num(EnvLatencyScale, &c.LatencyScale)
	num(EnvTailScale, &c.TailScale)
	num(EnvMedianScale, &c.MedianScale)
	num(EnvGrowth, &c.Growth)
	if s := os.Getenv(EnvLeakBytes); s != "" && err == nil {
		if c.LeakBytes, err = strconv.Atoi(s); err != nil || c.LeakBytes < 0 {
			err = fmt.Errorf("%s=%q: want a non-negative byte count", EnvLeakBytes, s)
		}
	}
	if s := os.Getenv(EnvSlow); s != "" && err == nil {
		c.Slow = map[string]float64{}
		for _, part := range strings.Split(s, ",") {
			route, f, ok := strings.Cut(part, "=")
			v, perr := strconv.ParseFloat(f, 64)
			if !ok || perr != nil || v < 0 {
				return c, fmt.Errorf("%s=%q: want ROUTE=FACTOR[,ROUTE=FACTOR]", EnvSlow, s)
			}
			c.Slow[strings.TrimSpace(route)] = v
		}
	}
	return c, err
}

// profile is the lognormal latency of an endpoint: median and p95.
type profile struct{ median, p95 time.Duration }

// The simulated work per route.
var profiles = map[string]profile{
	"POST /orders":     {20 * time.Millisecond, 60 * time.Millisecond},
	"GET /orders/{id}": {8 * time.Millisecond, 20 * time.Millisecond},
	"GET /users/{id}":  {5 * time.Millisecond, 15 * time.Millisecond},
}

// Order is the body of POST /orders, as in the seed's Locust example.
type Order struct {
	ID        string `json:"id,omitempty"`
	UserID    string `json:"user_id"`
	Items     []Item `json:"items"`
	Timestamp string `json:"timestamp"`
}

// Item is one line of an order.
type Item struct {
	ProductID string `json:"product_id"`
	Quantity  int    `json:"quantity"`
}

// Service is the orders service.
type Service struct {
	cfg   Config
	start time.Time

	mu     sync.RWMutex
	orders map[string]Order
	leak   [][]byte
	nextID atomic.Int64

	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// New returns a service with the given knobs.
func New(cfg Config) *Service {
	s := &Service{cfg: cfg, start: time.Now(), orders: map[string]Order{}, reg: prometheus.NewRegistry()}
	s.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "orders_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	s.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name: "orders_http_request_duration_seconds", Help: "Request latency by route.",
		Buckets: prometheus.ExponentialBuckets(0.001, 2, 14),
	}, []string{"route"})
	stored := prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "orders_stored", Help: "Orders held in memory.",
	}, func() float64 {
		s.mu.RLock()
		defer s.mu.RUnlock()
		return float64(len(s.orders))
	})
	s.reg.MustRegister(s.requests, s.latency, stored,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return s
}

// Handler returns the service's routes.
func (s *Service) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("POST /orders", s.route("POST /orders", s.createOrder))
	mux.HandleFunc("GET /orders/{id}", s.route("GET /orders/{id}", s.getOrder))
	mux.HandleFunc("GET /users/{id}", s.route("GET /users/{id}", s.getUser))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("ok\n"))
	})
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.reg, promhttp.HandlerOpts{}))
	return mux
}

type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (s *Service) route(name string, h http.HandlerFunc) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		s.work(r, name)
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		h(sw, r)
		s.requests.WithLabelValues(name, strconv.Itoa(sw.code)).Inc()
		s.latency.WithLabelValues(name).Observe(time.Since(start).Seconds())
	}
}

// work sleeps for the route's simulated latency, drawn from its lognormal
// distribution and shaped by the knobs.
func (s *Service) work(r *http.Request, route string) {
	if s.cfg.NoSleep {
		return
	}
	p := profiles[route]
	sigma := math.Log(float64(p.p95)/float64(p.median)) / 1.6448536269514722
	z := rand.NormFloat64()
	d := float64(p.median) * math.Exp(sigma*z)
	if s.cfg.LatencyScale > 0 {
		d *= s.cfg.LatencyScale
	}
	if f, ok := s.cfg.Slow[route]; ok && f > 0 {
		d *= f
	}
	switch {
	case s.cfg.TailScale > 0 && z > 1.2816: // above p90
		d *= s.cfg.TailScale
	case s.cfg.MedianScale > 0 && z < 1.2816:
		d *= s.cfg.MedianScale
	}
	if s.cfg.Growth > 0 {
		d *= 1 + s.cfg.Growth*time.Since(s.start).Minutes()
	}
	t := time.NewTimer(time.Duration(d))
	defer t.Stop()
	select {
	case <-t.C:
	case <-r.Context().Done():
	}
}

func (s *Service) createOrder(w http.ResponseWriter, r *http.Request) {
	var o Order
	if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&o); err != nil {
		http.Error(w, "bad order: "+err.Error(), http.StatusBadRequest)
		return
	}
	if o.UserID == "" || len(o.Items) == 0 {
		http.Error(w, "bad order: need user_id and items", http.StatusUnprocessableEntity)
		return
	}
	o.ID = strconv.FormatInt(s.nextID.Add(1), 10)
	s.mu.Lock()
	s.orders[o.ID] = o
	if s.cfg.LeakBytes > 0 {
		b := make([]byte, s.cfg.LeakBytes)
		for i := range b {
			b[i] = byte(i) // touch it so it is resident
		}
		s.leak = append(s.leak, b)
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, o)
}

func (s *Service) getOrder(w http.ResponseWriter, r *http.Request) {
	s.mu.RLock()
	o, ok := s.orders[r.PathValue("id")]
	s.mu.RUnlock()
	if !ok {
		http.Error(w, "no such order", http.StatusNotFound)
		return
	}
	writeJSON(w, http.StatusOK, o)
}

// User is the profile served by GET /users/{id}.
type User struct {
	ID    string `json:"id"`
	Name  string `json:"name"`
	Email string `json:"email"`
}

func (s *Service) getUser(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	writeJSON(w, http.StatusOK, User{ID: id, Name: "User " + id, Email: id + "@example.com"})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(v)
}
