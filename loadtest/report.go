package loadtest

import (
	"flag"

	"github.com/steadyload/steadyload/internal/reportsink"
)

// reportFlags are the flags of the report.
type reportFlags struct {
	html *bool
}

func newReportFlags(fs *flag.FlagSet) *reportFlags {
	return &reportFlags{
		html: fs.Bool("loadtest.report", true, "write <Test>_report.html, the run's self-contained HTML report, to the results folder"),
	}
}

// newReportPart makes r's report from flags f, drawing the history file
// at historyPath (none when empty).
func newReportPart(r *runner, f *reportFlags, historyPath string) *reportsink.Part {
	return reportsink.New(r.info(), reportsink.Config{HTML: *f.html, HistoryPath: historyPath})
}
