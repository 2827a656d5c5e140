package signals

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"sync"
	"time"
)

// DefaultInterval is how often a Collector scrapes by default: 60 samples
// in a 5-minute run, enough for the trend test to see a +5 % leak.
const DefaultInterval = 5 * time.Second

// maxExposition caps the bytes read from one scrape.
const maxExposition = 16 << 20

// A Probe is a number the scenario reads from the target itself — a queue
// length from an admin API, a row count — sampled once per window and
// trend-tested like the gauges. An error skips the sample with a warning.
type Probe struct {
	Name   string // the signal's name in the CSV and the report, e.g. "orders queue"
	Sample func(ctx context.Context) (float64, error)
}

// Sample is one value of one signal.
type Sample struct {
	Signal string
	At     time.Time     // when it was read
	Offset time.Duration // from the start of the run
	Value  float64
}

// A Collector samples a target's signals while the load runs: it scrapes a
// Prometheus text endpoint every Interval and samples its probes each time
// Tick is called. Problems (endpoint down, malformed exposition, a signal
// not exposed, a probe error) are reported once each through Warn and kept
// in the Report; collection goes on.
type Collector struct {
	URL      string        // the Prometheus text endpoint; empty: none, probes only
	Signals  []string      // selectors, e.g. DefaultSignals plus `queue_depth{queue="orders"}`
	Probes   []Probe       // sampled on each Tick
	Interval time.Duration // between scrapes (default DefaultInterval)
	Timeout  time.Duration // for one scrape or one probe (default Interval, at least 1 s)
	Client   *http.Client  // default: a client that never uses a proxy
	Warn     func(msg string)

	sels   []Selector
	t0     time.Time
	ctx    context.Context
	stop   chan struct{}
	ticks  chan struct{}
	wg     sync.WaitGroup
	once   sync.Once
	report *Report

	mu       sync.Mutex
	samples  []Sample
	warned   map[string]bool
	warnings []string
	scrapes  int
	failed   int
	prev     map[string]counterPoint // last reading of each counter
}

type counterPoint struct {
	at    time.Time
	value float64
}

// Check reports every problem with the collector's settings: a URL that is
// not http(s), a bad selector, a probe without a name or function, two
// signals with one name.
func (c *Collector) Check() error {
	var errs []error
	if c.URL != "" {
		u, err := url.Parse(c.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			errs = append(errs, fmt.Errorf("metrics URL %q: want http://host[:port]/path", c.URL))
		}
	}
	sels, err := ParseSelectors(c.Signals)
	if err != nil {
		errs = append(errs, err)
	}
	names := map[string]bool{}
	for _, s := range sels {
		names[s.String()] = true
	}
	for i, p := range c.Probes {
		switch {
		case strings.TrimSpace(p.Name) == "":
			errs = append(errs, fmt.Errorf("probe %d: no name", i))
		case p.Sample == nil:
			errs = append(errs, fmt.Errorf("probe %q: no Sample function", p.Name))
		case names[p.Name]:
			errs = append(errs, fmt.Errorf("probe %q: the name is used twice", p.Name))
		}
		names[p.Name] = true
	}
	if c.Interval < 0 || c.Timeout < 0 {
		errs = append(errs, fmt.Errorf("signals: negative interval or timeout"))
	}
	return errors.Join(errs...)
}

// Start checks the settings and starts scraping; t0 is the start of the
// run, from which sample offsets are counted. Collection stops at Stop or
// when ctx is done.
func (c *Collector) Start(ctx context.Context, t0 time.Time) error {
	if err := c.Check(); err != nil {
		return err
	}
	c.sels, _ = ParseSelectors(c.Signals)
	if c.Interval == 0 {
		c.Interval = DefaultInterval
	}
	if c.Timeout == 0 {
		c.Timeout = max(c.Interval, time.Second)
	}
	if c.Client == nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.Proxy = nil
		c.Client = &http.Client{Transport: tr}
	}
	c.t0, c.ctx = t0, ctx
	c.stop = make(chan struct{})
	c.ticks = make(chan struct{}, 1)
	c.warned = map[string]bool{}
	c.prev = map[string]counterPoint{}
	if c.URL != "" && len(c.sels) > 0 {
		c.wg.Add(1)
		go c.scrapeLoop()
	}
	if len(c.Probes) > 0 {
		c.wg.Add(1)
		go c.probeLoop()
	}
	return nil
}

// Tick asks for the probes to be sampled now. It does not wait; a tick
// that comes while the previous round still runs is merged with it.
func (c *Collector) Tick() {
	select {
	case c.ticks <- struct{}{}:
	default:
	}
}

// Stop ends collection — a last scrape, the probe round in progress — and
// returns what was collected since the last Cut, samples sorted by signal
// then time. Later calls return the same report.
func (c *Collector) Stop() *Report {
	c.once.Do(func() {
		close(c.stop)
		c.wg.Wait()
		if t, ok := c.Client.Transport.(interface{ CloseIdleConnections() }); ok {
			t.CloseIdleConnections()
		}
		c.report = c.Cut()
	})
	return c.report
}

// Cut returns what was collected since the start or the last Cut, and
// starts afresh while collection goes on: a run without end cuts once a
// segment, so its memory stays flat.
func (c *Collector) Cut() *Report {
	c.mu.Lock()
	defer c.mu.Unlock()
	sort.SliceStable(c.samples, func(i, j int) bool {
		a, b := c.samples[i], c.samples[j]
		if a.Signal != b.Signal {
			return a.Signal < b.Signal
		}
		return a.Offset < b.Offset
	})
	rep := &Report{
		Source: c.URL, Interval: c.Interval,
		Scrapes: c.scrapes, Failed: c.failed,
		Samples: c.samples, Warnings: c.warnings,
	}
	if c.scrapes > 0 && c.failed == c.scrapes {
		rep.Warnings = append(rep.Warnings, fmt.Sprintf("all %d scrapes of %s failed: no server signals were recorded", c.scrapes, c.URL))
	}
	c.samples, c.warnings, c.scrapes, c.failed = nil, nil, 0, 0
	return rep
}

func (c *Collector) scrapeLoop() {
	defer c.wg.Done()
	c.scrape()
	tk := time.NewTicker(c.Interval)
	defer tk.Stop()
	for {
		select {
		case <-tk.C:
			c.scrape()
		case <-c.stop:
			c.scrape() // the state at the end of the load
			return
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *Collector) probeLoop() {
	defer c.wg.Done()
	for {
		select {
		case <-c.ticks:
			c.sampleProbes()
		case <-c.stop:
			select {
			case <-c.ticks: // the last window's tick, not yet taken
				c.sampleProbes()
			default:
			}
			return
		case <-c.ctx.Done():
			return
		}
	}
}

func (c *Collector) sampleProbes() {
	for _, p := range c.Probes {
		ctx, cancel := context.WithTimeout(c.ctx, c.Timeout)
		v, err := callProbe(ctx, p)
		cancel()
		at := time.Now()
		switch {
		case err != nil:
			c.warn("probe:"+p.Name+":"+err.Error(), fmt.Sprintf("probe %q: %v; sample skipped", p.Name, err))
		case math.IsNaN(v) || math.IsInf(v, 0):
			c.warn("probe:"+p.Name+":nan", fmt.Sprintf("probe %q returned %g; sample skipped", p.Name, v))
		default:
			c.add(Sample{Signal: p.Name, At: at, Offset: at.Sub(c.t0), Value: v})
		}
	}
}

// callProbe calls p, turning a panic into an error: a probe is the
// scenario's code and must not take the run down.
func callProbe(ctx context.Context, p Probe) (v float64, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("panic: %v", r)
		}
	}()
	return p.Sample(ctx)
}

func (c *Collector) scrape() {
	if c.ctx.Err() != nil {
		return
	}
	c.mu.Lock()
	c.scrapes++
	c.mu.Unlock()
	readings, missing, err := c.fetch()
	at := time.Now()
	if err != nil {
		c.mu.Lock()
		c.failed++
		c.mu.Unlock()
		c.warn("scrape:"+err.Error(), fmt.Sprintf("metrics %s: %v; server signals are not recorded while this lasts, the load goes on", c.URL, err))
		return
	}
	if len(missing) > 0 {
		c.warn("missing:"+strings.Join(missing, ";"), fmt.Sprintf("metrics %s: not recorded: %s", c.URL, strings.Join(missing, "; ")))
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, rd := range readings {
		if !rd.Counter {
			c.samples = append(c.samples, Sample{Signal: rd.Signal, At: at, Offset: at.Sub(c.t0), Value: rd.Value})
			continue
		}
		prev, ok := c.prev[rd.Signal]
		c.prev[rd.Signal] = counterPoint{at, rd.Value}
		dt := at.Sub(prev.at).Seconds()
		if !ok || dt <= 0 {
			continue
		}
		delta := rd.Value - prev.value
		if delta < 0 { // the counter was reset: it counted rd.Value since
			delta = rd.Value
		}
		c.samples = append(c.samples, Sample{Signal: RateName(rd.Signal), At: at, Offset: at.Sub(c.t0), Value: delta / dt})
	}
}

// RateName is the name under which a counter's per-second rate is
// recorded.
func RateName(signal string) string { return "rate(" + signal + ")" }

func (c *Collector) fetch() ([]Reading, []string, error) {
	ctx, cancel := context.WithTimeout(c.ctx, c.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.URL, nil)
	if err != nil {
		return nil, nil, err
	}
	req.Header.Set("Accept", "text/plain;version=0.0.4;q=1,*/*;q=0.1")
	resp, err := c.Client.Do(req)
	if err != nil {
		var uerr *url.Error
		if errors.As(err, &uerr) {
			err = uerr.Err // the URL is in the message already
		}
		return nil, nil, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
		return nil, nil, fmt.Errorf("status %s", resp.Status)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "" && !strings.HasPrefix(ct, "text/plain") {
		return nil, nil, fmt.Errorf("content type %q, want the Prometheus text format (text/plain)", ct)
	}
	return Read(io.LimitReader(resp.Body, maxExposition), c.sels)
}

func (c *Collector) add(s Sample) {
	c.mu.Lock()
	c.samples = append(c.samples, s)
	c.mu.Unlock()
}

// warn reports msg once per key.
func (c *Collector) warn(key, msg string) {
	c.mu.Lock()
	if c.warned[key] {
		c.mu.Unlock()
		return
	}
	c.warned[key] = true
	c.warnings = append(c.warnings, msg)
	c.mu.Unlock()
	if c.Warn != nil {
		c.Warn(msg)
	}
}
