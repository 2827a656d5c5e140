// Package duet judges a duet run: one run that drives two targets, the
// base version (A) and the candidate (B), with the same schedule, so that
// each start gives a pair of outcomes measured at the same moment on the
// same machine. Noise that hits both sides (a busy runner, a slow
// moment) cancels in the pair; no stored baseline is needed.
//
// Pairs keeps the latencies of each task's both-successful starts
// (bounded: a uniform sample of at most MaxPairs per task) and counts
// every start's Outcomes (which side failed). Compare judges one latency
// percentile of the pairs: the ratio B/A of the percentile, with a paired
// bootstrap (the pairs resampled together, seeded from the data) of the
// shift of a band of levels at and above it, and the gate's tolerance and
// level:
//
//	row := duet.Compare("GET /orders", base, cand, gate.P95, gate.Config{})
//	fmt.Println(row.Message()) // GET /orders: p95 +32% (B/A 1.32, 98% CI 1.21-1.44): FAIL
//
// CompareFailures judges the failure ratios on the same starts, by an
// exact test on the starts where one side failed and the other did not.
// Judge does both for every task and gated metric; the Report renders
// the rows as text, Markdown and CSV.
package duet
