// Package history keeps the committed record of a test's complete runs, one
// CSV file per environment and test, so that a slow creep or a step that
// each run's gate lets through shows up across nights.
//
// The file, by default baseline/<env>/<Test>/history.csv, has one row per
// task (and one for all tasks, "Aggregated") per complete run, oldest
// first, in a fixed column order (Header):
//
//	time,commit,shape,task,requests,failures,failure_ratio,rate,p50_ms,p90_ms,p95_ms,p99_ms,se_ln_p95,run_id
//
// Times are RFC 3339 in UTC; latencies milliseconds with three decimals;
// se_ln_p95 is the bootstrap standard error of ln(p95), which lets the gate
// tell run-to-run noise from sampling noise. Rows are appended by
// rewriting the whole file atomically under a lock file, waited for up to
// LockWait, each run's rows in their place by time; the temporary files
// of a process killed mid-write are removed by the next append. A
// malformed file — a value out of range, CR LF line endings, invalid
// UTF-8, a last line cut short — is reported as "file:line: column: what"
// and left alone.
//
// Apache Otava (formerly Hunter) reads one series per CSV file, so Append
// also rewrites, from the same rows, one file per task beside it,
// otava-<Task>.csv (OtavaHeader columns: time, commit, shape, then the
// metrics); see the README for the matching otava.yaml.
//
//	rows, err := history.ReadFile(path)
//	p95 := history.Values(history.Task(rows, "POST /orders"), history.P95)
package history
