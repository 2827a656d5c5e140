package main

import (
	"bufio"
	"bytes"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// latencyFile reads the median and 99th percentile latency, in ms, from the
// report a tool wrote to path.
func latencyFile(tool, path string) (p50, p99 float64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	p50, p99, err = parseLatency(tool, b)
	if err != nil {
		return 0, 0, fmt.Errorf("%s: %s report: %w", path, tool, err)
	}
	return p50, p99, nil
}

// parseLatency reads p50 and p99 in ms from a tool's report.
func parseLatency(tool string, b []byte) (p50, p99 float64, err error) {
	switch tool {
	case "wrk":
		return wrkLatency(b)
	case "hey":
		return heyLatency(b)
	case "fortio":
		return fortioLatency(b)
	case "vegeta":
		return vegetaLatency(b)
	case "k6":
		return k6Latency(b, "http_req_duration")
	case "k6-iteration":
		// The same k6 run read from the iteration's start: building the
		// request and taking a connection included, as in the harness's
		// task latency, which http_req_duration leaves out.
		return k6Latency(b, "iteration_duration")
	case "locust", "steadyload":
		return locustLatency(b)
	}
	return 0, 0, fmt.Errorf("unknown tool %q (want wrk, hey, fortio, vegeta, k6, k6-iteration, locust or steadyload)", tool)
}

// wrkLine is a line of wrk's --latency distribution: "     99%    2.18ms".
var wrkLine = regexp.MustCompile(`^\s*(50|99)%\s+([0-9.]+)(us|ms|s|m)\s*$`)

func wrkLatency(b []byte) (float64, float64, error) {
	unit := map[string]float64{"us": 0.001, "ms": 1, "s": 1000, "m": 60000}
	got := map[string]float64{}
	inDist := false
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "Latency Distribution") {
			inDist = true
			continue
		}
		if m := wrkLine.FindStringSubmatch(line); inDist && m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return 0, 0, err
			}
			got[m[1]] = v * unit[m[3]]
		}
	}
	return pair(got)
}

// heyLine is a line of hey's latency distribution: "  99% in 0.0223 secs"
// (some versions print "99%%").
var heyLine = regexp.MustCompile(`^\s*(50|99)%+\s+in\s+([0-9.]+)\s+secs\s*$`)

func heyLatency(b []byte) (float64, float64, error) {
	got := map[string]float64{}
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		if m := heyLine.FindStringSubmatch(sc.Text()); m != nil {
			v, err := strconv.ParseFloat(m[2], 64)
			if err != nil {
				return 0, 0, err
			}
			got[m[1]] = v * 1000
		}
	}
	return pair(got)
}

func fortioLatency(b []byte) (float64, float64, error) {
	var r struct {
		DurationHistogram struct {
			Percentiles []struct {
				Percentile float64
				Value      float64 // seconds
			}
		}
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, err
	}
	got := map[string]float64{}
	for _, p := range r.DurationHistogram.Percentiles {
		got[strconv.FormatFloat(p.Percentile, 'f', -1, 64)] = p.Value * 1000
	}
	return pair(got)
}

func vegetaLatency(b []byte) (float64, float64, error) {
	var r struct {
		Latencies map[string]float64 `json:"latencies"` // ns
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, err
	}
	got := map[string]float64{}
	for k, v := range map[string]string{"50th": "50", "99th": "99"} {
		if ns, ok := r.Latencies[k]; ok {
			got[v] = ns / 1e6
		}
	}
	return pair(got)
}

// k6Latency reads a trend metric from the summary data k6 hands to
// handleSummary (bench/k6.js writes it as is), or the older
// --summary-export file.
func k6Latency(b []byte, metric string) (float64, float64, error) {
	var r struct {
		Metrics map[string]json.RawMessage `json:"metrics"`
	}
	if err := json.Unmarshal(b, &r); err != nil {
		return 0, 0, err
	}
	raw, ok := r.Metrics[metric]
	if !ok {
		return 0, 0, fmt.Errorf("no %s metric", metric)
	}
	var m struct {
		Values map[string]float64 `json:"values"`
	}
	if err := json.Unmarshal(raw, &m); err != nil {
		return 0, 0, err
	}
	vals := m.Values
	if vals == nil { // --summary-export puts the values at the top
		if err := json.Unmarshal(raw, &vals); err != nil {
			return 0, 0, err
		}
	}
	got := map[string]float64{}
	for k, v := range map[string]string{"p(50)": "50", "med": "50", "p(99)": "99"} {
		if ms, ok := vals[k]; ok {
			got[v] = ms
		}
	}
	return pair(got)
}

// locustLatency reads the Aggregated row of a Locust-format _stats.csv
// (Locust's own, or this harness's).
func locustLatency(b []byte) (float64, float64, error) {
	rows, err := csv.NewReader(bytes.NewReader(b)).ReadAll()
	if err != nil {
		return 0, 0, err
	}
	if len(rows) < 2 {
		return 0, 0, errors.New("no rows")
	}
	col := map[string]int{}
	for i, h := range rows[0] {
		col[h] = i
	}
	for _, c := range []string{"Name", "50%", "99%"} {
		if _, ok := col[c]; !ok {
			return 0, 0, fmt.Errorf("no %q column", c)
		}
	}
	for i, row := range rows[1:] {
		if row[col["Name"]] != "Aggregated" {
			continue
		}
		got := map[string]float64{}
		for _, p := range []string{"50", "99"} {
			v, err := strconv.ParseFloat(row[col[p+"%"]], 64)
			if err != nil {
				return 0, 0, fmt.Errorf("line %d: %s%%: %w", i+2, p, err)
			}
			got[p] = v
		}
		return pair(got)
	}
	return 0, 0, errors.New("no Aggregated row")
}

func pair(got map[string]float64) (float64, float64, error) {
	p50, ok50 := got["50"]
	p99, ok99 := got["99"]
	if !ok50 || !ok99 {
		return 0, 0, errors.New("no 50th and 99th percentile latency found")
	}
	return p50, p99, nil
}
