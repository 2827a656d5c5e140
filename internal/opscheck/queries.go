package opscheck

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"

	"go.yaml.in/yaml/v3"
)

// A Query is one PromQL expression of an operations file and where it
// comes from.
type Query struct {
	Source string // e.g. `panel "Request rate" A`, `variable task`, `alert SteadyloadDown`
	Expr   string
}

// DashboardQueries returns the PromQL of a Grafana dashboard, in the
// dashboard's order: every panel target's expr (panels in rows
// included), and every query variable's label_values(selector, label)
// as count by (label) (selector), which has data exactly when the
// variable has values. A query variable of another form is an error.
func DashboardQueries(data []byte) ([]Query, error) {
	var d dashboard
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("read dashboard: %w", err)
	}
	var qs []Query
	for _, v := range d.Templating.List {
		if v.Type != "query" {
			continue
		}
		expr, err := labelValues(v.query())
		if err != nil {
			return nil, fmt.Errorf("variable %s: %w", v.Name, err)
		}
		qs = append(qs, Query{Source: "variable " + v.Name, Expr: expr})
	}
	var walk func(ps []panel) error
	walk = func(ps []panel) error {
		for _, p := range ps {
			for _, t := range p.Targets {
				if strings.TrimSpace(t.Expr) == "" {
					return fmt.Errorf("panel %q %s: no expr", p.Title, t.RefID)
				}
				qs = append(qs, Query{Source: fmt.Sprintf("panel %q %s", p.Title, t.RefID), Expr: t.Expr})
			}
			if err := walk(p.Panels); err != nil {
				return err
			}
		}
		return nil
	}
	if err := walk(d.Panels); err != nil {
		return nil, err
	}
	return qs, nil
}

type dashboard struct {
	Panels     []panel `json:"panels"`
	Templating struct {
		List []variable `json:"list"`
	} `json:"templating"`
}

type panel struct {
	Title   string `json:"title"`
	Targets []struct {
		RefID string `json:"refId"`
		Expr  string `json:"expr"`
	} `json:"targets"`
	Panels []panel `json:"panels"` // a row's
}

type variable struct {
	Name  string          `json:"name"`
	Type  string          `json:"type"`
	Query json.RawMessage `json:"query"`
}

// query returns the variable's query: a string, or an object with a
// query field (Grafana 10 and later).
func (v variable) query() string {
	var s string
	if json.Unmarshal(v.Query, &s) == nil {
		return s
	}
	var o struct {
		Query string `json:"query"`
	}
	_ = json.Unmarshal(v.Query, &o)
	return o.Query
}

var labelValuesCall = regexp.MustCompile(`^\s*label_values\((.+),\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*\)\s*$`)

func labelValues(q string) (string, error) {
	m := labelValuesCall.FindStringSubmatch(q)
	if m == nil {
		return "", fmt.Errorf("query %q: not label_values(selector, label)", q)
	}
	return fmt.Sprintf("count by (%s) (%s)", m[2], m[1]), nil
}

// RuleQueries returns the expressions of a Prometheus rule file, group by
// group in the file's order. A rule without a name or an expression is an
// error; promtool check rules does the rest of the checking.
func RuleQueries(data []byte) ([]Query, error) {
	var f struct {
		Groups []struct {
			Name  string `yaml:"name"`
			Rules []struct {
				Record string `yaml:"record"`
				Alert  string `yaml:"alert"`
				Expr   string `yaml:"expr"`
			} `yaml:"rules"`
		} `yaml:"groups"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		return nil, fmt.Errorf("read rules: %w", err)
	}
	var qs []Query
	for _, g := range f.Groups {
		for i, r := range g.Rules {
			var src string
			switch {
			case r.Record != "":
				src = "record " + r.Record
			case r.Alert != "":
				src = "alert " + r.Alert
			default:
				return nil, fmt.Errorf("group %s: rule %d: neither record nor alert", g.Name, i+1)
			}
			if strings.TrimSpace(r.Expr) == "" {
				return nil, fmt.Errorf("group %s: %s: no expr", g.Name, src)
			}
			qs = append(qs, Query{Source: src, Expr: r.Expr})
		}
	}
	return qs, nil
}

var templateVariable = regexp.MustCompile(`\$\{(\w+)\}|\$(\w+)`)

// Expand replaces the Grafana variables of expr, $name and ${name}, with
// their values in vars. A variable missing from vars is an error, so that
// a misspelt one is caught; $1 and the like (label_replace's groups) are
// left alone.
func Expand(expr string, vars map[string]string) (string, error) {
	var missing []string
	out := templateVariable.ReplaceAllStringFunc(expr, func(s string) string {
		m := templateVariable.FindStringSubmatch(s)
		name := m[1] + m[2]
		if strings.Trim(name, "0123456789") == "" {
			return s // $1: a label_replace group, not a variable
		}
		v, ok := vars[name]
		if !ok {
			missing = append(missing, "$"+name)
			return s
		}
		return v
	})
	if len(missing) > 0 {
		slices.Sort(missing)
		return "", fmt.Errorf("expand %q: no value for %s", expr, strings.Join(slices.Compact(missing), ", "))
	}
	return out, nil
}

// RegexValue returns value as the value of a multi-value variable
// holding just it, as Grafana writes it into a regular-expression
// matcher (=~"$var"): its metacharacters escaped, in a PromQL string.
func RegexValue(value string) string {
	return strings.ReplaceAll(regexp.QuoteMeta(value), `\`, `\\`)
}
