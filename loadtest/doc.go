// Package loadtest runs continuous load scenarios as Go tests: a small,
// steady, representative load — a few users with think time, or a fixed
// low arrival rate — against a service, with per-task latencies recorded
// exactly, results written as Locust-compatible CSV files, and the run
// compared with a committed baseline, so that a performance regression is a
// red test with an explanation instead of an outage.
//
// A scenario is a test, usually behind the loadtest build tag:
//
//	//go:build loadtest
//
//	func TestCheckout(t *testing.T) {
//		loadtest.Run(t, loadtest.Scenario{
//			Users: 5,
//			Wait:  loadtest.Between(1*time.Second, 5*time.Second),
//			Tasks: []loadtest.Task{
//				{Name: "POST /orders", Weight: 3, Do: placeOrder},
//				{Name: "GET /users/{id}", Weight: 1, Do: getProfile},
//			},
//		})
//	}
//
// The stance:
//
//   - Two load shapes, both first-class: the closed model (Users with a
//     Wait between tasks, spawned at SpawnRate) and the open model (a fixed
//     Rate of starts, at most MaxInFlight at once). In the open model latency
//     counts from the scheduled start, so a stalled target cannot hide
//     behind a stalled generator; late and dropped starts are counted and
//     fail the test when the rate was not held. Above 1/Coalesce starts
//     per second, starts due within one Coalesce share a wake-up of the
//     scheduler, which saves most of the generator's CPU; the wait is
//     reported as start lag, not latency.
//     Either model ramps and holds in Stages (a Pacer of the scenario's
//     own can schedule the open model's starts).
//   - A request's outcome is data (latency in an HDR histogram, failure
//     class, exemplar), never a test failure; pass or fail is decided once,
//     at the end, from all the evidence, and every problem is reported.
//   - The test's context is the only stop signal. No task starts after the
//     Duration; tasks in flight get a bounded Grace, then are cancelled; a
//     run that cannot finish before go test's -timeout refuses to start.
//   - Settings are a plain Scenario whose zero fields mean the defaults;
//     -loadtest.* flags, registered by this package, override them. Invalid
//     settings fail the test before any request is sent.
//   - Everything beyond load and measurement — the abort guard, server
//     signals, the baseline gate, history and drift, the report — is a part
//     of the run's pipeline, in a package of its own, switched by its flags
//     and Scenario fields: observers see each closed window while the load
//     runs, evaluators judge the segment at its end, sinks write it. The
//     order is fixed in one place (see ARCHITECTURE.md).
package loadtest
