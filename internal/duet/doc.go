// Package duet judges a duet run: one run that drives two targets, the
// base version (A) and the candidate (B), with the same schedule, so that
// each start gives a pair of latencies measured at the same moment on the
// same machine. Noise that hits both sides (a busy runner, a slow
// moment) cancels in the pair; no stored baseline is needed.
//
// Pairs keeps the pairs of each task (bounded: a uniform sample of at
// most MaxPairs per task); Compare judges one latency percentile of
// them: the ratio B/A of the percentile, with a paired bootstrap (the
// pairs resampled together, seeded from the data) of the shift of a band
// of levels around it, and the gate's tolerance and level:
//
//	row := duet.Compare("GET /orders", base, cand, gate.P95, gate.Config{})
//	fmt.Println(row.Message()) // GET /orders: p95 +32% (B/A 1.32, 98% CI 1.21-1.44): FAIL
//
// Judge does it for every task and gated metric; the Report renders the
// rows as text, Markdown and CSV.
package duet
