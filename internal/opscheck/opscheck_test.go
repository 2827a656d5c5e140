package opscheck

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
)

func TestDashboardQueries(t *testing.T) {
	tests := []struct {
		name, json string
		want       []Query
		err        string
	}{
		{
			name: "panels, rows and variables",
			json: `{
				"templating": {"list": [
					{"name": "DS_PROMETHEUS", "type": "datasource", "query": "prometheus"},
					{"name": "test", "type": "query", "query": {"query": "label_values(steadyload_info, test)"}},
					{"name": "task", "type": "query", "query": "label_values(steadyload_requests_total{test=~\"$test\"}, task)"},
					{"name": "interval", "type": "interval", "query": "1m,5m"}
				]},
				"panels": [
					{"title": "Rate", "targets": [{"refId": "A", "expr": "rate(a[1m])"}, {"refId": "B", "expr": "rate(b[1m])"}]},
					{"title": "Row", "type": "row", "panels": [{"title": "Inner", "targets": [{"refId": "A", "expr": "c"}]}]},
					{"title": "Text", "type": "text"}
				]
			}`,
			want: []Query{
				{Source: "variable test", Expr: "count by (test) (steadyload_info)"},
				{Source: "variable task", Expr: `count by (task) (steadyload_requests_total{test=~"$test"})`},
				{Source: `panel "Rate" A`, Expr: "rate(a[1m])"},
				{Source: `panel "Rate" B`, Expr: "rate(b[1m])"},
				{Source: `panel "Inner" A`, Expr: "c"},
			},
		},
		{name: "target without expr", json: `{"panels": [{"title": "P", "targets": [{"refId": "A"}]}]}`, err: `panel "P" A: no expr`},
		{name: "variable of another form", json: `{"templating": {"list": [{"name": "v", "type": "query", "query": "query_result(up)"}]}}`,
			err: "variable v: query \"query_result(up)\": not label_values(selector, label)"},
		{name: "not JSON", json: `{`, err: "read dashboard"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := DashboardQueries([]byte(tt.json))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("DashboardQueries() error = %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("DashboardQueries() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestRuleQueries(t *testing.T) {
	tests := []struct {
		name, yaml string
		want       []Query
		err        string
	}{
		{
			name: "records and alerts in order",
			yaml: `groups:
  - name: one
    rules:
      - record: a:b:rate1m
        expr: sum(rate(b[1m]))
      - alert: Down
        expr: |
          up == 0
        for: 5m
  - name: two
    rules:
      - alert: Other
        expr: x > 1
`,
			want: []Query{
				{Source: "record a:b:rate1m", Expr: "sum(rate(b[1m]))"},
				{Source: "alert Down", Expr: "up == 0\n"},
				{Source: "alert Other", Expr: "x > 1"},
			},
		},
		{name: "no name", yaml: "groups:\n  - name: g\n    rules:\n      - expr: up\n", err: "group g: rule 1: neither record nor alert"},
		{name: "no expr", yaml: "groups:\n  - name: g\n    rules:\n      - alert: A\n", err: "group g: alert A: no expr"},
		{name: "not YAML", yaml: "groups: [", err: "read rules"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := RuleQueries([]byte(tt.yaml))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("RuleQueries() error = %v; want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Errorf("RuleQueries() = %q; want %q", got, tt.want)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	vars := map[string]string{"test": ".*", "task": `POST /a\\.b`, "__rate_interval": "1m"}
	tests := []struct {
		expr, want, err string
	}{
		{expr: `rate(x{test=~"$test", task=~"${task}"}[$__rate_interval])`, want: `rate(x{test=~".*", task=~"POST /a\\.b"}[1m])`},
		{expr: `label_replace(up, "a", "$1", "b", "(.*)")`, want: `label_replace(up, "a", "$1", "b", "(.*)")`},
		{expr: `x{test=~"$tests"}[$__interval] + $tests`, err: "no value for $__interval, $tests"},
		{expr: "up", want: "up"},
	}
	for _, tt := range tests {
		got, err := Expand(tt.expr, vars)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("Expand(%q) error = %v; want one containing %q", tt.expr, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("Expand(%q) = (%q, %v); want (%q, nil)", tt.expr, got, err, tt.want)
		}
	}
}

func TestRegexValue(t *testing.T) {
	for _, tt := range []struct{ in, want string }{
		{"TestCheckout", "TestCheckout"},
		{"POST /checkout", "POST /checkout"},
		{"GET /a.b?c", `GET /a\\.b\\?c`},
	} {
		if got := RegexValue(tt.in); got != tt.want {
			t.Errorf("RegexValue(%q) = %q; want %q", tt.in, got, tt.want)
		}
	}
}

func TestQuery(t *testing.T) {
	answers := map[string]string{
		"two":    `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"value":[1,"1"]},{"metric":{"a":"b"},"value":[1,"2"]}]}}`,
		"none":   `{"status":"success","data":{"resultType":"vector","result":[]}}`,
		"scalar": `{"status":"success","data":{"resultType":"scalar","result":[1,"3"]}}`,
		"native": `{"status":"success","data":{"resultType":"vector","result":[{"metric":{},"histogram":[1,{"count":"3","sum":"1","buckets":[]}]}]}}`,
		"bad":    `{"status":"error","errorType":"bad_data","error":"1:5: parse error: unexpected end of input"}`,
	}
	api := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/v1/query" {
			http.NotFound(w, r)
			return
		}
		if a := answers[r.URL.Query().Get("query")]; a == "" {
			w.WriteHeader(http.StatusBadRequest)
		} else {
			if strings.Contains(a, `"error"`) {
				w.WriteHeader(http.StatusBadRequest)
			}
			w.Write([]byte(a))
		}
	}))
	defer api.Close()
	s := &Server{URL: api.URL, client: api.Client()}
	for _, tt := range []struct {
		expr string
		n    int
		err  string
	}{
		{expr: "two", n: 2},
		{expr: "none", n: 0},
		{expr: "scalar", n: 1},
		{expr: "native", n: 1},
		{expr: "bad", err: "/api/v1/query: 1:5: parse error: unexpected end of input"},
	} {
		n, err := s.Query(context.Background(), tt.expr)
		if tt.err != "" {
			if err == nil || err.Error() != tt.err {
				t.Errorf("Query(%q) error = %v; want %q", tt.expr, err, tt.err)
			}
			continue
		}
		if err != nil || n != tt.n {
			t.Errorf("Query(%q) = (%d, %v); want (%d, nil)", tt.expr, n, err, tt.n)
		}
	}
}

func TestConfigFile(t *testing.T) {
	got := configFile(Config{Targets: []string{"127.0.0.1:1", "127.0.0.1:2"}, RuleFiles: []string{"/r.yml"},
		NativeHistograms: true, KeepClassic: true, Interval: 2e9})
	want := `global:
  scrape_interval: 2s
  scrape_timeout: 2s
  evaluation_interval: 2s
rule_files:
  - "/r.yml"
scrape_configs:
  - job_name: steadyload
    scrape_classic_histograms: true
    static_configs:
      - targets:
          - "127.0.0.1:1"
          - "127.0.0.1:2"
`
	if got != want {
		t.Errorf("configFile() =\n%s\nwant\n%s", got, want)
	}
}
