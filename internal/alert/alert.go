package alert

import (
	"cmp"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/url"
	"path/filepath"
	"slices"
	"sync"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/internal/gate"
	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/loadtest/result"
)

// DefaultTimeout bounds the posts of one segment when Config.Timeout is 0.
const DefaultTimeout = 10 * time.Second

// The kinds of alert beyond the findings' own (leak, drift, step, signal).
const (
	Regression = "regression" // a gate row regressed
	Abort      = "abort"      // the abort guard stopped the segment
)

// The severities of an alert.
const (
	Fail = "fail" // it failed the test
	Warn = "warn" // a warning
)

// The statuses of a message.
const (
	Firing   = "firing"
	Resolved = "resolved"
)

// Config is where alerts go, resolved from the flags before the part is
// made.
type Config struct {
	URL       string        // the webhook, http or https
	StateFile string        // where announced alerts are kept across restarts; empty: in memory for the run
	Timeout   time.Duration // bounds one segment's posts, retries included; DefaultTimeout when 0
	RunID     string        // the run's id, as its X-Loadtest-Run header says it
	Client    *http.Client  // posts the messages; a client of its own when nil
}

// Message is the JSON body posted to the webhook.
type Message struct {
	Text       string `json:"text"`   // one line a person reads, e.g. in Slack
	Status     string `json:"status"` // Firing or Resolved
	Test       string `json:"test"`
	Task       string `json:"task"`   // empty for an abort and a server signal
	Metric     string `json:"metric"` // e.g. "p95", "window p50", a signal's name; empty for an abort
	Kind       string `json:"kind"`   // regression, leak, drift, step, signal or abort
	Severity   string `json:"severity"`
	Segment    string `json:"segment"` // the segment that fired it, or the clean one that resolved it
	RunID      string `json:"run_id"`
	Env        string `json:"env"`
	StartedAt  string `json:"started_at"`            // RFC 3339: the start of the segment it was first seen in
	ResolvedAt string `json:"resolved_at,omitempty"` // RFC 3339: the start of the clean segment; resolved only
	Details    string `json:"details"`               // the finding's or the gate row's text and the server signals that moved with it, or the abort's reason
}

// Part is the alerts of one run: what is firing, and what was announced.
type Part struct {
	info    pipeline.Info
	cfg     Config
	hook    *url.URL
	client  *http.Client
	retry   time.Duration     // the wait before the first retry; doubled for each one after
	entries map[string]*entry // by key, of this test in this env

	events    sync.WaitGroup // posts of pauses and recoveries under way
	mu        sync.Mutex     // guards failed and lastEvent
	failed    []string       // warnings of those posts, for the next segment
	lastEvent chan struct{}  // closed when the last event's post is done
}

var _ pipeline.Sink = (*Part)(nil)

// entry is one alert the run knows of.
type entry struct {
	Kind, Task, Metric string
	Severity           string
	Details            string
	Segment            string    // the segment it was first seen in
	Started            time.Time // that segment's start
	Sent               bool      // its firing message was delivered
	Resolved           time.Time // when it cleared, while its resolved message is undelivered; zero while it fires
}

func key(kind, task, metric string) string { return kind + "|" + task + "|" + metric }

// New makes the alerts of the run info describes. An invalid URL and a
// state file that cannot be read, or whose folder cannot be written, are
// errors before any load.
func New(info pipeline.Info, cfg Config) (*Part, error) {
	hook, err := parseURL(cfg.URL)
	if err != nil {
		return nil, err
	}
	if cfg.Timeout < 0 {
		return nil, fmt.Errorf("alert: timeout %s is negative", cfg.Timeout)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = DefaultTimeout
	}
	p := &Part{info: info, cfg: cfg, hook: hook, client: cfg.Client, retry: 500 * time.Millisecond, entries: map[string]*entry{}}
	if p.client == nil {
		p.client = &http.Client{}
	}
	if cfg.StateFile != "" {
		if err := atomicfile.Probe(filepath.Dir(cfg.StateFile)); err != nil {
			return nil, fmt.Errorf("alert state: %w", err)
		}
		if p.entries, err = loadState(cfg.StateFile, info.Test, info.Env); err != nil {
			return nil, fmt.Errorf("alert state: %w", err)
		}
	}
	return p, nil
}

// parseURL checks a webhook URL. Its errors never repeat the URL, whose
// path may be a secret.
func parseURL(s string) (*url.URL, error) {
	if s == "" {
		return nil, errors.New("alert: no webhook URL")
	}
	u, err := url.Parse(s)
	if err != nil {
		return nil, errors.New("alert: the webhook URL does not parse")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return nil, fmt.Errorf("alert: webhook URL: scheme %q, want http or https", u.Scheme)
	}
	if u.Host == "" {
		return nil, errors.New("alert: webhook URL: no host")
	}
	return u, nil
}

// Write posts what started and what stopped in the segment, and keeps
// the state. It records warnings only.
func (p *Part) Write(seg *pipeline.Segment) {
	if seg.Last {
		p.flushEvents(seg)
	} else {
		p.mu.Lock()
		failed := p.failed
		p.failed = nil
		p.mu.Unlock()
		for _, f := range failed {
			seg.Warnf("%s", f)
		}
	}
	active := alerts(seg)
	name := segmentName(seg)
	start := seg.Meta.Start

	var fire, resolve []string
	for _, k := range slices.Sorted(maps.Keys(active)) {
		a, e := active[k], p.entries[k]
		if e == nil {
			e = &entry{Kind: a.Kind, Task: a.Task, Metric: a.Metric, Severity: a.Severity, Details: a.Details, Segment: name, Started: start}
			p.entries[k] = e
		}
		e.Resolved = time.Time{} // back before its resolution was delivered: it never stopped firing
		if !e.Sent {
			fire = append(fire, k)
		}
	}
	for _, k := range slices.Sorted(maps.Keys(p.entries)) {
		e := p.entries[k]
		if _, ok := active[k]; ok {
			continue
		}
		switch {
		case !e.Resolved.IsZero(): // cleared before, its message not yet delivered
			resolve = append(resolve, k)
		case !clean(seg, e.Kind):
		case !e.Sent: // never announced: nothing to take back
			delete(p.entries, k)
		default:
			e.Resolved = start
			resolve = append(resolve, k)
		}
	}
	p.deliver(seg, name, fire, resolve)
	if p.cfg.StateFile != "" {
		if err := saveState(p.cfg.StateFile, p.info.Test, p.info.Env, p.entries); err != nil {
			seg.Warnf("alert: state not saved (a restarted run may announce again what was announced): %v", err)
		}
	}
}

// alerts are the alerts active in a segment, by key.
func alerts(seg *pipeline.Segment) map[string]entry {
	out := map[string]entry{}
	add := func(a entry) {
		k := key(a.Kind, a.Task, a.Metric)
		if old, ok := out[k]; ok && (old.Severity == Fail || a.Severity != Fail) {
			return // the first of the most severe
		}
		out[k] = a
	}
	if seg.Gate != nil {
		for _, row := range seg.Gate.Rows {
			if row.Verdict == gate.Regressed {
				add(entry{Kind: Regression, Task: row.Task, Metric: string(row.Metric), Severity: Fail,
					Details: explained(row.Message(), seg.Explained(Regression, row.Task, string(row.Metric)))})
			}
		}
	}
	for _, f := range seg.Findings {
		sev := Warn
		if f.Fail {
			sev = Fail
		}
		add(entry{Kind: f.Kind, Task: f.Task, Metric: f.Metric, Severity: sev, Details: explained(f.Text, seg.Explained(f.Kind, f.Task, f.Metric))})
	}
	if seg.Meta.Status == result.Aborted {
		add(entry{Kind: Abort, Severity: Fail, Details: seg.Meta.Reason})
	}
	return out
}

// explained is a finding's text with what moved with it, when something
// did.
func explained(text, movedWith string) string {
	if movedWith == "" {
		return text
	}
	return text + "; " + movedWith
}

// clean reports whether an alert of kind missing from seg has stopped: the
// segment ran its whole length and, for a regression, the gate compared it.
func clean(seg *pipeline.Segment, kind string) bool {
	if seg.Meta.Status != result.Complete {
		return false
	}
	if kind == Regression {
		return seg.Gate != nil && len(seg.Gate.Rows) > 0
	}
	return true
}

// segmentName is the name of the segment's files, or the test's.
func segmentName(seg *pipeline.Segment) string {
	if seg.Name != "" {
		return seg.Name
	}
	return result.FileBase(seg.Meta.Test)
}

// message is the message saying e's status.
func (p *Part) message(e *entry, status, segment string) Message {
	m := Message{
		Status: status, Test: p.info.Test, Task: e.Task, Metric: e.Metric, Kind: e.Kind, Severity: e.Severity,
		Segment: segment, RunID: p.cfg.RunID, Env: p.info.Env, StartedAt: stamp(e.Started), Details: e.Details,
	}
	subject := m.subject()
	env := ""
	if p.info.Env != "" {
		env = fmt.Sprintf(" (env %s)", p.info.Env)
	}
	switch status {
	case Firing:
		m.Text = fmt.Sprintf("FIRING [%s] %s: %s%s: %s", e.Severity, e.Kind, subject, env, cmp.Or(e.Details, "no details"))
	case Resolved:
		m.ResolvedAt = stamp(e.Resolved)
		m.Text = fmt.Sprintf("RESOLVED %s: %s%s cleared after %s (first seen in segment %s; clean in segment %s)",
			e.Kind, subject, env, lasted(e.Started, e.Resolved), e.Segment, segment)
	}
	return m
}

func stamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// lasted is how long an alert fired, to the second.
func lasted(from, to time.Time) time.Duration {
	return max(to.Sub(from), 0).Round(time.Second)
}
