package signals

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	"github.com/prometheus/common/model"
)

// DefaultSignals are the gauges recorded from every Prometheus endpoint:
// the ones that reveal a memory, goroutine or file-handle leak.
var DefaultSignals = []string{
	"process_resident_memory_bytes",
	"go_memstats_heap_inuse_bytes",
	"go_goroutines",
	"process_open_fds",
}

// A Selector picks series of one metric: all of them, or those whose
// labels have the given values.
type Selector struct {
	Name   string
	Labels map[string]string
}

// ParseSelector parses `name` or `name{label="value",...}`.
func ParseSelector(s string) (Selector, error) {
	s = strings.TrimSpace(s)
	name, rest, hasLabels := strings.Cut(s, "{")
	name = strings.TrimSpace(name)
	if !model.UTF8Validation.IsValidMetricName(name) || strings.ContainsAny(name, " \t\"}") {
		return Selector{}, fmt.Errorf("signal %q: %q is not a metric name", s, name)
	}
	sel := Selector{Name: name}
	if !hasLabels {
		return sel, nil
	}
	rest = strings.TrimSpace(rest)
	if !strings.HasSuffix(rest, "}") {
		return Selector{}, fmt.Errorf("signal %q: missing closing brace", s)
	}
	rest = strings.TrimSpace(strings.TrimSuffix(rest, "}"))
	sel.Labels = map[string]string{}
	for rest != "" {
		k, v, ok := strings.Cut(rest, "=")
		k = strings.TrimSpace(k)
		if !ok || !model.LegacyValidation.IsValidLabelName(k) {
			return Selector{}, fmt.Errorf(`signal %q: want label="value" pairs`, s)
		}
		v = strings.TrimSpace(v)
		q, err := strconv.QuotedPrefix(v)
		if err != nil || !strings.HasPrefix(q, `"`) {
			return Selector{}, fmt.Errorf(`signal %q: label %s: want a double-quoted value`, s, k)
		}
		val, _ := strconv.Unquote(q)
		if _, dup := sel.Labels[k]; dup {
			return Selector{}, fmt.Errorf("signal %q: label %s given twice", s, k)
		}
		sel.Labels[k] = val
		rest = strings.TrimSpace(v[len(q):])
		if rest != "" {
			if rest[0] != ',' {
				return Selector{}, fmt.Errorf("signal %q: want a comma between label matchers", s)
			}
			rest = strings.TrimSpace(rest[1:])
		}
	}
	return sel, nil
}

// String returns the selector in its canonical form: labels sorted by name.
func (s Selector) String() string {
	if len(s.Labels) == 0 {
		return s.Name
	}
	keys := make([]string, 0, len(s.Labels))
	for k := range s.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	b.WriteString(s.Name)
	b.WriteByte('{')
	for i, k := range keys {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(k)
		b.WriteByte('=')
		b.WriteString(strconv.Quote(s.Labels[k]))
	}
	b.WriteByte('}')
	return b.String()
}

// ParseSelectors parses each selector, reporting every bad one, and drops
// duplicates (after canonical form), keeping the first.
func ParseSelectors(list []string) ([]Selector, error) {
	var out []Selector
	var bad []string
	seen := map[string]bool{}
	for _, s := range list {
		sel, err := ParseSelector(s)
		if err != nil {
			bad = append(bad, err.Error())
			continue
		}
		if k := sel.String(); !seen[k] {
			seen[k] = true
			out = append(out, sel)
		}
	}
	if len(bad) > 0 {
		return out, fmt.Errorf("%s", strings.Join(bad, "; "))
	}
	return out, nil
}
