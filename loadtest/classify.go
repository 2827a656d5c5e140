package loadtest

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"strconv"
	"syscall"

	"github.com/steadyload/steadyload/internal/class"
	"github.com/steadyload/steadyload/internal/engine"
)

// The failure classes, in the order the summary lists them.
const (
	ClassHTTP    = class.HTTP    // an unexpected status; the error names it
	ClassTimeout = class.Timeout // the task's timeout or a network timeout
	ClassRefused = class.Refused // connection refused
	ClassReset   = class.Reset   // connection reset, broken pipe, truncated response
	ClassTLS     = class.TLS     // TLS handshake or certificate failure
	ClassDNS     = class.DNS     // the host name did not resolve
	ClassCheck   = class.Check   // the response failed a check
	ClassStopped = class.Stopped // cancelled by the end of the run's grace
	ClassPanic   = class.Panic   // the task panicked; the harness recovered
	ClassOther   = class.Other
)

// A ClassedError is an error that names its own failure class, so that
// code outside this package (a gRPC helper, a queue client) can class its
// failures: "grpc_UNAVAILABLE", say. Classify returns the class of the
// first such error in the chain, unless it is empty.
type ClassedError interface {
	error
	FailureClass() string
}

// Classify names the class of a task's error. The order matters: a
// panic, then an error naming its own class (ClassedError), then a status
// or check error, which is what the task saw, whatever wraps it.
func Classify(err error) string {
	var own ClassedError
	var se *StatusError
	var ce *CheckError
	var dnsErr *net.DNSError
	var netErr net.Error
	var certErr *tls.CertificateVerificationError
	var recErr tls.RecordHeaderError
	var unkAuth x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var alertErr tls.AlertError
	var pe *PanicError
	switch {
	case err == nil:
		return ""
	case errors.As(err, &pe):
		return ClassPanic
	case errors.As(err, &own) && own.FailureClass() != "":
		return own.FailureClass()
	case errors.As(err, &se):
		return ClassHTTP
	case errors.As(err, &ce):
		return ClassCheck
	case errors.Is(err, context.DeadlineExceeded):
		return ClassTimeout
	case errors.Is(err, engine.ErrStopped), errors.Is(err, context.Canceled):
		return ClassStopped
	case errors.As(err, &dnsErr):
		if dnsErr.IsTimeout {
			return ClassTimeout
		}
		return ClassDNS
	case errors.Is(err, syscall.ECONNREFUSED):
		return ClassRefused
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE),
		errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return ClassReset
	case errors.As(err, &certErr), errors.As(err, &recErr), errors.As(err, &unkAuth),
		errors.As(err, &hostErr), errors.As(err, &alertErr):
		return ClassTLS
	case errors.As(err, &netErr) && netErr.Timeout():
		return ClassTimeout
	}
	return ClassOther
}

// describe returns the text recorded for a failure: the status for HTTP
// errors (so failures group by status), else the error's message.
func describe(err error) string {
	var se *StatusError
	if errors.As(err, &se) {
		return "HTTP " + strconv.Itoa(se.Code)
	}
	return err.Error()
}
