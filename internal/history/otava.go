package history

import (
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"time"

	"github.com/steadyload/steadyload/internal/atomicfile"
	"github.com/steadyload/steadyload/loadtest/result"
)

// OtavaHeader is the header of the per-task files for Apache Otava's CSV
// importer: a time column, the commit (an attribute), then the metrics.
var OtavaHeader = []string{
	"time", "commit", "shape",
	"requests", "failure_ratio", "rate", "p50_ms", "p90_ms", "p95_ms", "p99_ms",
}

// OtavaFile names the Otava file of one task in dir: "otava-" and the task
// key made safe for file systems, e.g. "otava-POST__orders.csv". They are
// files, not a directory, because the baseline gate takes every directory
// beside the history for a recorded run.
func OtavaFile(dir, task string) string {
	return filepath.Join(dir, "otava-"+result.FileBase(task)+".csv")
}

// WriteOtava rewrites, atomically, one file per task of rows in dir (the
// history file's directory), in the OtavaHeader layout: the same runs as
// the history file, one series per file, as Otava reads them. The history
// file stays the source: these are derived and may be deleted.
func WriteOtava(dir string, rows []Row) error {
	for _, task := range Tasks(rows) {
		rs := Task(rows, task)
		err := atomicfile.Write(OtavaFile(dir, task), func(w io.Writer) error { return writeOtava(w, rs) })
		if err != nil {
			return fmt.Errorf("write otava view: %w", err)
		}
	}
	return nil
}

func writeOtava(w io.Writer, rows []Row) error {
	return writeRows(w, OtavaHeader, rows, Row.otavaRecord)
}

// otavaRecord is the row in OtavaHeader's columns.
func (r Row) otavaRecord() []string {
	return []string{
		r.Time.UTC().Format(time.RFC3339), r.Commit, r.Shape,
		strconv.FormatInt(r.Requests, 10),
		strconv.FormatFloat(r.FailureRatio(), 'f', 6, 64),
		strconv.FormatFloat(r.Rate, 'f', 3, 64),
		result.FormatMillis(r.P50), result.FormatMillis(r.P90), result.FormatMillis(r.P95), result.FormatMillis(r.P99),
	}
}
