// Package explain says, for each latency finding of a segment, which
// server signals moved with it: the gate's regressions against the
// baseline and the leaks within the run over the segment's windows, the
// drift and steps across runs over the history's runs.
//
// The stance: a finding that says latency rose still leaves the on-call
// engineer to find what rose with it. Each signal is ranked by how well
// it follows the task's latency — Spearman's rank correlation ρ, kept
// when |ρ| is large — and listed only when a test that allows for the
// series' own wandering finds it moved with the latency: their AR(1)
// residuals correlate, it stepped at the latency's change point by more
// than it moves elsewhere, or it drifted and accounts for the latency's
// shape (Bonferroni-corrected over the signals tested). Two series that
// both wander correlate by chance far more often than ρ's own p-value
// says. Each is listed with whether it changed at the latency's change
// point and by how much, and the trace ids of the slowest requests in the
// windows whose latency moved most. The wording is "moved with", never
// "caused": a correlation over one run is a lead, not a proof. When
// nothing passes the threshold, nothing is listed.
//
//	p, err := explain.New(info, explain.Config{HistoryPath: path})
//	p.Evaluate(seg) // last of the evaluators: seg.Explanations, and the verdicts' text
//
// Rank is the statistic alone, for a series of latencies and signals
// aligned on the same windows or runs.
package explain
