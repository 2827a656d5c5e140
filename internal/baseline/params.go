package baseline

import (
	"encoding/csv"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"

	"github.com/steadyload/steadyload/internal/strictcsv"
)

// Params are the gate parameters in force when a run was recorded, kept
// with the run so a reader of the baseline knows how it was judged.
type Params struct {
	Tolerance        float64  // relative, latency and rate
	FailureTolerance float64  // absolute rise of the failure ratio
	Alpha            float64  // one-sided significance level
	K                int      // baseline runs kept
	Metrics          []string // gated metrics, e.g. p95 failures rate
	MinRequests      int      // per run, for any verdict
	Tau              float64  // run-to-run noise of ln(quantile) used by default
	TauSource        string   // where Tau came from, e.g. "default (not calibrated)"
	Taus             []Tau    // per task and metric, when calibrated
}

// Tau is the run-to-run noise used for one task and metric.
type Tau struct {
	Task, Metric string
	Tau          float64
	Source       string // e.g. "history, 30 runs"
}

// The rows of gate.csv, "Key,Value", in this order; then, per calibrated
// task and metric, "tau <metric> <task>" and "tau_source <metric> <task>".
var paramKeys = []string{"tolerance", "failure_tolerance", "alpha", "k", "metrics", "min_requests", "tau", "tau_source"}

// WriteParams writes p as gate.csv.
func WriteParams(w io.Writer, p Params) error {
	f := func(x float64) string { return strconv.FormatFloat(x, 'g', -1, 64) }
	cw := csv.NewWriter(w)
	cw.Write([]string{"Key", "Value"})
	vals := []string{f(p.Tolerance), f(p.FailureTolerance), f(p.Alpha), strconv.Itoa(p.K),
		strings.Join(p.Metrics, " "), strconv.Itoa(p.MinRequests), f(p.Tau), p.TauSource}
	for i, k := range paramKeys {
		cw.Write([]string{k, vals[i]})
	}
	for _, t := range p.Taus {
		cw.Write([]string{"tau " + t.Metric + " " + t.Task, f(t.Tau)})
		cw.Write([]string{"tau_source " + t.Metric + " " + t.Task, t.Source})
	}
	cw.Flush()
	return cw.Error()
}

// ReadParams parses gate.csv. name is used in errors, which have the form
// "name:line: what is wrong".
func ReadParams(name string, r io.Reader) (Params, error) {
	var p Params
	cr, err := strictcsv.NewReader(name, r, []string{"Key", "Value"})
	if err != nil {
		return p, err
	}
	seen := map[string]bool{}
	frac := func(s string, lo, hi float64) (float64, error) {
		x, err := strconv.ParseFloat(s, 64)
		if err != nil || math.IsNaN(x) || x < lo || x >= hi {
			return 0, fmt.Errorf("bad value %q: want a number in [%g, %g)", s, lo, hi)
		}
		return x, nil
	}
	count := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 || n > 1_000_000 {
			return 0, fmt.Errorf("bad value %q: want a whole number >= 0", s)
		}
		return n, nil
	}
	for {
		rec, line, err := cr.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return p, err
		}
		k, v := rec[0], rec[1]
		if seen[k] {
			return p, fmt.Errorf("%s:%d: key %q appears twice", name, line, k)
		}
		seen[k] = true
		switch {
		case k == "tolerance":
			p.Tolerance, err = frac(v, 0, 1)
		case k == "failure_tolerance":
			p.FailureTolerance, err = frac(v, 0, 1)
		case k == "alpha":
			p.Alpha, err = frac(v, 0, 0.5)
		case k == "k":
			p.K, err = count(v)
		case k == "metrics":
			p.Metrics = strings.Fields(v)
		case k == "min_requests":
			p.MinRequests, err = count(v)
		case k == "tau":
			p.Tau, err = frac(v, 0, 1)
		case k == "tau_source":
			p.TauSource = v
		case strings.HasPrefix(k, "tau "):
			metric, task, ok := strings.Cut(strings.TrimPrefix(k, "tau "), " ")
			if !ok || task == "" {
				return p, fmt.Errorf("%s:%d: key %q: want \"tau <metric> <task>\"", name, line, k)
			}
			var x float64
			if x, err = frac(v, 0, 1); err == nil {
				p.Taus = append(p.Taus, Tau{Task: task, Metric: metric, Tau: x})
			}
		case strings.HasPrefix(k, "tau_source "):
			metric, task, _ := strings.Cut(strings.TrimPrefix(k, "tau_source "), " ")
			if len(p.Taus) == 0 || p.Taus[len(p.Taus)-1].Task != task || p.Taus[len(p.Taus)-1].Metric != metric {
				return p, fmt.Errorf("%s:%d: key %q does not follow its \"tau %s %s\" row", name, line, k, metric, task)
			}
			p.Taus[len(p.Taus)-1].Source = v
		default:
			return p, fmt.Errorf("%s:%d: unknown key %q", name, line, k)
		}
		if err != nil {
			return p, fmt.Errorf("%s:%d: %s: %v", name, line, k, err)
		}
	}
	for _, k := range paramKeys {
		if !seen[k] {
			return p, fmt.Errorf("%s: key %q is missing", name, k)
		}
	}
	return p, nil
}
