package signals

import (
	"fmt"
	"io"
	"math"
	"strings"

	dto "github.com/prometheus/client_model/go"
	"github.com/prometheus/common/expfmt"
	"github.com/prometheus/common/model"
)

// A Reading is the value of one selector in one exposition: the sum of
// the series it matches.
type Reading struct {
	Signal  string // the selector, in canonical form
	Value   float64
	Counter bool // a counter (or a histogram's _count or _sum): a rate is made of two readings
}

// Read parses a Prometheus text exposition and returns the readings of the
// selectors it holds, in the selectors' order, and a note for each selector
// it does not hold ("process_open_fds: not exposed"). A malformed
// exposition is an error carrying the parser's line number.
func Read(r io.Reader, sels []Selector) (found []Reading, missing []string, err error) {
	parser := expfmt.NewTextParser(model.UTF8Validation)
	fams, err := parser.TextToMetricFamilies(r)
	if err != nil {
		return nil, nil, fmt.Errorf("malformed exposition: %w", err)
	}
	for _, sel := range sels {
		rd, why := read(fams, sel)
		if why != "" {
			missing = append(missing, sel.String()+": "+why)
			continue
		}
		found = append(found, rd)
	}
	return found, missing, nil
}

func read(fams map[string]*dto.MetricFamily, sel Selector) (Reading, string) {
	rd := Reading{Signal: sel.String()}
	fam, part := fams[sel.Name], ""
	if fam == nil {
		for _, suffix := range []string{"_count", "_sum"} {
			if base, ok := strings.CutSuffix(sel.Name, suffix); ok {
				if f := fams[base]; f != nil && isDistribution(f.GetType()) {
					fam, part = f, suffix
				}
			}
		}
	}
	if fam == nil {
		return rd, "not exposed"
	}
	if part == "" && isDistribution(fam.GetType()) {
		return rd, fmt.Sprintf("a %s: name %s_count or %s_sum", strings.ToLower(fam.GetType().String()), sel.Name, sel.Name)
	}
	matched := 0
	for _, m := range fam.GetMetric() {
		if !matches(m, sel.Labels) {
			continue
		}
		var v float64
		switch {
		case part == "_count" && fam.GetType() == dto.MetricType_SUMMARY:
			v = float64(m.GetSummary().GetSampleCount())
		case part == "_sum" && fam.GetType() == dto.MetricType_SUMMARY:
			v = m.GetSummary().GetSampleSum()
		case part == "_count":
			v = float64(m.GetHistogram().GetSampleCount())
		case part == "_sum":
			v = m.GetHistogram().GetSampleSum()
		case fam.GetType() == dto.MetricType_COUNTER:
			v = m.GetCounter().GetValue()
		case fam.GetType() == dto.MetricType_GAUGE:
			v = m.GetGauge().GetValue()
		default:
			v = m.GetUntyped().GetValue()
		}
		if math.IsNaN(v) {
			continue
		}
		rd.Value += v
		matched++
	}
	if matched == 0 {
		if len(sel.Labels) > 0 {
			return rd, "no series with these labels"
		}
		return rd, "no value"
	}
	rd.Counter = part != "" || fam.GetType() == dto.MetricType_COUNTER
	return rd, ""
}

func isDistribution(t dto.MetricType) bool {
	return t == dto.MetricType_HISTOGRAM || t == dto.MetricType_SUMMARY || t == dto.MetricType_GAUGE_HISTOGRAM
}

// matches reports whether m has the wanted label values; an absent label
// has the empty value, as in PromQL.
func matches(m *dto.Metric, want map[string]string) bool {
	for k, v := range want {
		got := ""
		for _, lp := range m.GetLabel() {
			if lp.GetName() == k {
				got = lp.GetValue()
				break
			}
		}
		if got != v {
			return false
		}
	}
	return true
}
