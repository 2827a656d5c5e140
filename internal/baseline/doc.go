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
// Readers are strict: a wrong header, field count or value (not finite,
// negative, a latency above an hour, a duration above 31 days), CR LF
// line endings, invalid UTF-8 or a last line cut short is an error of the
// form "file:line: column: what is wrong", and a baseline is never
// rewritten in place nor removed for being malformed.
//
// Record adds a run and drops the oldest runs beyond K and any run of
// another load shape, under a lock file (.baseline.lock, waited for up to
// LockWait) so that two recorders keep K runs between them. It writes the
// run into a hidden temporary directory (.tmp-*), renames the runs it
// drops to hidden names (.trash-*) before it renames the new run into
// place, and only then deletes them: a process killed at any moment
// leaves whole runs, at most K, and hidden leftovers that Load ignores and
// the next Record removes.
//
//	runs, err := baseline.Load(baseline.Dir("baseline", "local", t.Name()))
package baseline
