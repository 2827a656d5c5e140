package report

import (
	"encoding/csv"
	"io"
	"strconv"

	"github.com/steadyload/steadyload/loadtest/result"
)

// ExemplarsHeader is the header of the exemplars CSV file, in column order.
var ExemplarsHeader = []string{"Timestamp", "Window Offset (s)", "Type", "Name", "Rank", "Response Time", "Status", "Class", "Trace ID"}

// WriteExemplarsCSV writes the run's exemplars — each task's slowest
// requests of each window — one row per request: in window order, then by
// task as in the stats history file, then slowest first (Rank 1).
// Timestamp is when the request ended (Unix seconds, three decimals),
// Response Time is in milliseconds, Status is the HTTP status (0 when no
// response came), Class the failure class (empty for a success) and Trace
// ID the trace id of the traceparent header the harness sent.
func WriteExemplarsCSV(w io.Writer, run *result.Run) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(ExemplarsHeader); err != nil {
		return err
	}
	for _, win := range run.Windows {
		for i, e := range win.Exemplars {
			rec := []string{
				strconv.FormatFloat(float64(e.At.UnixMilli())/1000, 'f', 3, 64),
				strconv.FormatFloat(win.Offset.Seconds(), 'f', 3, 64),
				win.Type, win.Name,
				strconv.Itoa(i + 1),
				result.FormatMillis(e.LatencyUS),
				strconv.Itoa(e.Status),
				e.Class,
				e.TraceID,
			}
			if err := cw.Write(rec); err != nil {
				return err
			}
		}
	}
	cw.Flush()
	return cw.Error()
}
