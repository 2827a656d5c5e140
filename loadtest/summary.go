package loadtest

import (
	"fmt"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/steadyload/steadyload/loadtest/result"
)

// summary renders the whole-run table: per task and aggregated, requests,
// failures, rate and latency percentiles of successful requests in ms.
func summary(res *result.Run) string {
	var b strings.Builder
	m := res.Meta
	fmt.Fprintf(&b, "%s: %s run, %s model, %s of load, env %q\n", m.Test, m.Status, m.Model, m.Elapsed.Round(time.Millisecond), m.Env)
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "Name\tReqs\tFails\tReq/s\tMin\tMean\tp50\tp90\tp95\tp99\tp99.9\tMax\t")
	rows := append(append([]*result.Task(nil), res.Tasks...), res.Total)
	secs := m.Elapsed.Seconds()
	for _, t := range rows {
		if t == nil {
			continue
		}
		rps := 0.0
		if secs > 0 {
			rps = float64(t.Requests) / secs
		}
		fmt.Fprintf(tw, "%s\t%d\t%d\t%.2f\t", t.Key(), t.Requests, t.Failures, rps)
		h := t.Latency
		if h == nil || h.TotalCount() == 0 {
			fmt.Fprint(tw, "-\t-\t-\t-\t-\t-\t-\t-\t\n")
			continue
		}
		q := h.ValueAtPercentilesSlice([]float64{50, 90, 95, 99, 99.9})
		fmt.Fprintf(tw, "%s\t%.3f\t%s\t%s\t%s\t%s\t%s\t%s\t\n",
			result.FormatMillis(h.Min()), h.Mean()/1000,
			result.FormatMillis(q[0]), result.FormatMillis(q[1]), result.FormatMillis(q[2]),
			result.FormatMillis(q[3]), result.FormatMillis(q[4]), result.FormatMillis(h.Max()))
	}
	tw.Flush()
	b.WriteString("(latencies in ms, of successful requests")
	if m.Model == "open" {
		fmt.Fprintf(&b, ", from the scheduled start; %d starts, %d late", m.Scheduled, m.Late)
		if m.Waited > 0 {
			fmt.Fprintf(&b, ", %d waited for a slot", m.Waited)
		}
		fmt.Fprintf(&b, ", %d dropped; start lag p50 %s, p99 %s, max %s", m.Dropped, m.LagP50, m.LagP99, m.MaxLag.Round(time.Microsecond))
	}
	b.WriteString(")\n")
	if len(res.Failures) > 0 {
		b.WriteString("Failures:\n")
		for _, f := range res.Failures {
			name := f.Name
			if f.Type != "" {
				name = f.Type + " " + f.Name
			}
			fmt.Fprintf(&b, "  %6d× %s: %s (%s)\n", f.Occurrences, name, f.Error, f.Class)
		}
	}
	return b.String()
}

// progressLine is the -v line logged at the end of each window.
func progressLine(r *runner, rows []result.Window) string {
	agg := rows[len(rows)-1]
	end := agg.Offset + agg.Length
	rps := 0.0
	if s := agg.Length.Seconds(); s > 0 {
		rps = float64(agg.Requests) / s
	}
	of, total := r.plan.Duration.String(), "total"
	if r.plan.endless {
		of = "∞"
	}
	if r.plan.Segment > 0 {
		total = "segment"
	}
	return fmt.Sprintf("loadtest: [%6s/%s] %d req (%.1f/s), p95 %s ms, %d errors; %s %d req, %d errors",
		end.Round(time.Second), of, agg.Requests, rps,
		result.FormatMillis(agg.Quantiles[5]), agg.Failures, total, agg.TotalRequests, agg.TotalFailures)
}
