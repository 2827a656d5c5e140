package loadtest

import (
	"flag"
	"net/http"

	"github.com/steadyload/steadyload/internal/alert"
)

// alertFlags are the flags of the alerts.
type alertFlags struct {
	webhook *string
	state   *string
	client  *http.Client // posts the messages; the part's own when nil (tests inject one)
}

func newAlertFlags(fs *flag.FlagSet) *alertFlags {
	return &alertFlags{
		webhook: fs.String("loadtest.webhook", "", "post findings to this `URL` as JSON with a \"text\" field (Slack and others accept it): once when one starts, once when it clears; and each pause and recovery of a run without end"),
		state:   fs.String("loadtest.alert-state", "", "`file` keeping what was announced, so a restarted run does not announce it again (default: in memory)"),
	}
}

// newAlertPart makes the alerts of r, or nil when no webhook is set.
func newAlertPart(r *runner, f *alertFlags) (*alert.Part, error) {
	if *f.webhook == "" {
		return nil, nil
	}
	return alert.New(r.info(), alert.Config{URL: *f.webhook, StateFile: *f.state, RunID: r.runID, Client: f.client})
}
