// Package baseline keeps the recorded runs a load test is compared with:
// small, text, diff-friendly CSV files committed with the code.
//
// The layout is one directory per environment and test, one directory per
// recorded run inside it, the newest K runs kept:
//
//	baseline/<env>/<Test>/<start UTC>-<run id>/
//		meta.csv        the run's metadata (load shape, target, commit, Go version...): Key,Value
//		gate.csv        the gate parameters in force (tolerance, α, K, metrics, τ and its source): Key,Value
//		stats.csv       Locust-compatible stats, as <Test>_stats.csv
//		histograms.csv  whole-run latency histogram per task: Type,Name,Microseconds,Count
//		windows.csv     per-window rows, as <Test>_stats_history.csv
//
// Readers are strict: a wrong header, field count or value is an error of
// the form "file:line: what is wrong", and a baseline is never rewritten
// in place. Record adds a run atomically (a temporary directory renamed
// into place) and drops the oldest runs beyond K and any run of another
// load shape.
//
//	runs, err := baseline.Load(baseline.Dir("baseline", "local", t.Name()))
package baseline
