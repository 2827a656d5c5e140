package threshold

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Kind is what a threshold's metric measures, and so the unit of its
// limit.
type Kind int

// The kinds of metric.
const (
	Latency  Kind = iota // a latency of successful requests, in microseconds: pNN, max, mean
	Failures             // the failure ratio, failures over requests
	Rate                 // requests per second of the segment's elapsed time
)

// Threshold is one absolute limit on a figure of a task, or of all tasks
// together: "p95 < 300ms", "GET /orders/{id}: failures < 0.5%".
type Threshold struct {
	Expr     string  // as written
	Task     string  // the task's key, e.g. "GET /orders/{id}"; empty for the aggregate
	Metric   string  // as written, normalized: "p95", "p99.9", "max", "mean", "failures", "rate"
	Kind     Kind    // what Metric measures
	Quantile float64 // the percentile of a pNN metric, e.g. 95; 0 otherwise
	Op       string  // "<", "<=", ">" or ">="
	Limit    float64 // in the metric's unit: microseconds, a ratio, or per second
}

// Holds reports whether figure (in the metric's unit) is within the
// threshold.
func (t Threshold) Holds(figure float64) bool {
	switch t.Op {
	case "<":
		return figure < t.Limit
	case "<=":
		return figure <= t.Limit
	case ">":
		return figure > t.Limit
	default:
		return figure >= t.Limit
	}
}

// SyntaxError is a threshold that does not parse, with the column (from
// 1, in characters) where it goes wrong.
type SyntaxError struct {
	Expr string
	Col  int
	Msg  string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("%q: col %d: %s", e.Expr, e.Col, e.Msg)
}

// wantMetric lists the metrics, for messages.
const wantMetric = "want p50 … p99.9, max, mean, failures or rate"

// Parse reads one threshold: an optional task key and a colon, a metric,
// a comparison and a limit.
//
//	p95 < 300ms                    the aggregate's 95th percentile latency
//	GET /orders/{id}: p99 <= 1s    one task's
//	max < 2s, mean < 100ms         the slowest and the mean successful request
//	failures < 0.5%                failures over requests (or a ratio, 0.005)
//	rate > 9.5/s                   requests per second (also /m, /h; bare: /s)
//
// The task is everything before the last colon, so a task's key may hold
// colons; the rest holds none.
func Parse(expr string) (Threshold, error) {
	t := Threshold{Expr: expr}
	bad := func(off int, format string, args ...any) (Threshold, error) {
		return Threshold{}, &SyntaxError{Expr: expr, Col: utf8.RuneCountInString(expr[:off]) + 1, Msg: fmt.Sprintf(format, args...)}
	}
	pos := 0
	if i := strings.LastIndexByte(expr, ':'); i >= 0 {
		t.Task = strings.TrimSpace(expr[:i])
		if t.Task == "" {
			return bad(0, "no task before the colon: write the task's key, e.g. \"GET /orders/{id}: p95 < 300ms\", or leave out the colon for all tasks")
		}
		pos = i + 1
	}
	skip := func() {
		for pos < len(expr) && (expr[pos] == ' ' || expr[pos] == '\t') {
			pos++
		}
	}

	skip()
	start := pos
	for pos < len(expr) && strings.IndexByte("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.()", expr[pos]) >= 0 {
		pos++
	}
	word := expr[start:pos]
	if word == "" {
		return bad(start, "no metric: %s", wantMetric)
	}
	switch m := strings.ToLower(word); {
	case m == "max" || m == "mean" || m == "failures" || m == "rate":
		t.Metric = m
		t.Kind = map[string]Kind{"max": Latency, "mean": Latency, "failures": Failures, "rate": Rate}[m]
	case strings.HasPrefix(m, "p"):
		num := strings.TrimPrefix(m, "p")
		if strings.HasPrefix(num, "(") && strings.HasSuffix(num, ")") { // k6's p(95)
			num = num[1 : len(num)-1]
		}
		q, err := strconv.ParseFloat(num, 64)
		if err != nil || q <= 0 || q >= 100 || math.IsNaN(q) {
			return bad(start, "unknown metric %q: a percentile is p and a number between 0 and 100, e.g. p95 or p99.9 (max for the slowest)", word)
		}
		t.Metric, t.Kind, t.Quantile = "p"+strconv.FormatFloat(q, 'f', -1, 64), Latency, q
	default:
		return bad(start, "unknown metric %q: %s", word, wantMetric)
	}

	skip()
	start = pos
	for pos < len(expr) && strings.IndexByte("<>=!", expr[pos]) >= 0 {
		pos++
	}
	switch op := expr[start:pos]; op {
	case "<", "<=", ">", ">=":
		t.Op = op
	case "":
		return bad(start, "no comparison after %s: want <, <=, > or >=", t.Metric)
	default:
		return bad(start, "comparison %q: want <, <=, > or >=", op)
	}

	skip()
	start = pos
	value := strings.TrimRight(expr[pos:], " \t")
	if value == "" {
		return bad(start, "no limit after %s %s", t.Metric, t.Op)
	}
	limit, err := parseLimit(t.Kind, value)
	if err != nil {
		return bad(start, "limit %q: %v", value, err)
	}
	t.Limit = limit
	return t, nil
}

// parseLimit reads a limit of a metric of kind k, in its unit.
func parseLimit(k Kind, s string) (float64, error) {
	switch k {
	case Latency:
		d, err := time.ParseDuration(s)
		if err != nil {
			if _, nerr := strconv.ParseFloat(s, 64); nerr == nil {
				return 0, errors.New("a latency needs its unit, e.g. 300ms or 1.5s")
			}
			return 0, errors.New("not a duration, e.g. 300ms or 1.5s")
		}
		if d < 0 {
			return 0, errors.New("a latency is not negative")
		}
		return float64(d) / float64(time.Microsecond), nil
	case Failures:
		num, scale := s, 1.0
		if strings.HasSuffix(s, "%") {
			num, scale = strings.TrimSpace(strings.TrimSuffix(s, "%")), 100
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, errors.New("not a ratio: write a percentage, e.g. 0.5%, or a fraction, e.g. 0.005")
		}
		if f < 0 || f/scale > 1 {
			return 0, errors.New("a failure ratio is between 0 and 100%")
		}
		return f / scale, nil
	default: // Rate
		num, per := s, 1.0
		for _, u := range []struct {
			suffix string
			secs   float64
		}{{"/s", 1}, {"/min", 60}, {"/m", 60}, {"/h", 3600}} {
			if strings.HasSuffix(s, u.suffix) {
				num, per = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.secs
				break
			}
		}
		f, err := strconv.ParseFloat(num, 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return 0, errors.New("not a rate: write requests per second, e.g. 9.5/s (or /m, /h)")
		}
		if f < 0 {
			return 0, errors.New("a rate is not negative")
		}
		return f / per, nil
	}
}

// ParseList reads every threshold of exprs, reporting every one that does
// not parse, each with its position.
func ParseList(exprs []string) ([]Threshold, error) {
	var ts []Threshold
	var errs []error
	for _, e := range exprs {
		t, err := Parse(e)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		ts = append(ts, t)
	}
	return ts, errors.Join(errs...)
}
