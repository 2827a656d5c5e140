// Package alert tells people what a run found while it goes on: a sink
// that, at the end of each judged segment, posts what started and what
// stopped to a webhook as JSON with a text field that Slack and most chat
// tools show as is.
//
// An alert is one thing wrong, keyed by test, task, metric and kind:
//
//	regression  a gate row whose verdict is Regressed (task, metric)
//	leak, drift, step, signal
//	            a finding of that kind (its task and metric); severity
//	            "fail" when it failed the test, else "warn"
//	abort       the segment was stopped by the abort guard
//
// A key seen for the first time is posted as "firing"; while it stays in
// the segments that follow nothing more is posted; when a later complete
// segment is without it — and for a regression, the gate compared that
// segment — it is posted as "resolved", with how long it lasted. A segment
// that did not run its whole length (aborted, interrupted) resolves
// nothing. What was announced is kept in memory for the run and, with
// Config.StateFile, in a file, so that a restarted run does not announce it
// again.
//
// Delivery never fails the test and never holds the load for long: each
// segment's posts (retries on network errors, 429 and 5xx included) are
// bounded by Config.Timeout, and a post that did not go through is a
// warning on the segment and is tried again at the next one. Errors name
// the webhook by scheme and host only: a webhook's path is often its
// secret.
//
//	a, err := alert.New(info, alert.Config{URL: url, StateFile: "baseline/alerts.csv", RunID: id})
//	// in the pipeline: a.Write(seg) with the sinks, after the evaluators
package alert
