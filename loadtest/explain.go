package loadtest

import (
	"github.com/steadyload/steadyload/internal/drift"
	"github.com/steadyload/steadyload/internal/explain"
	"github.com/steadyload/steadyload/internal/signalcheck"
)

// newExplainPart makes the part that says which server signals moved
// with the latency findings; nil when the run records no signals, so
// there is nothing to explain with. The history, when the run reads one,
// explains the drift and step findings.
func newExplainPart(r *runner, ps parts, sig *signalcheck.Part, hist *drift.Part) (*explain.Part, error) {
	if sig == nil {
		return nil, nil
	}
	cfg := explain.Config{}
	if hist != nil && ps.history != nil {
		cfg.HistoryPath = historyFile(r, ps.history)
	}
	return explain.New(r.info(), cfg)
}
