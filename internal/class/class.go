// Package class names the failure classes of a task's outcome: the one
// list that the harness's classifier (loadtest.Classify, which exports
// them as loadtest.ClassHTTP and so on) and the parts that read outcomes,
// such as the abort guard, both use.
package class

// The failure classes, in the order the summary lists them.
const (
	HTTP    = "http"    // an unexpected status; the error names it
	Timeout = "timeout" // the task's timeout or a network timeout
	Refused = "refused" // connection refused
	Reset   = "reset"   // connection reset, broken pipe, truncated response
	TLS     = "tls"     // TLS handshake or certificate failure
	DNS     = "dns"     // the host name did not resolve
	Check   = "check"   // the response failed a check
	Stopped = "stopped" // cancelled by the end of the run's grace
	Panic   = "panic"   // the task panicked; the harness recovered
	Other   = "other"   // anything else
)
