package tracing

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"

	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	semconv "go.opentelemetry.io/otel/semconv/v1.43.0"
	"go.opentelemetry.io/otel/trace"
)

// redacted replaces a query value in a recorded URL.
const redacted = "REDACTED"

// transport makes each request within a task a client span, as the
// semantic conventions for HTTP clients describe it, and sends its
// context in the traceparent header. It records the method, the URL
// without credentials and with every query value redacted, the server's
// address and port, the status and the error; never a header's value.
type transport struct {
	base   http.RoundTripper
	tracer trace.Tracer
	scrub  func(string) string
}

// RoundTrip is part of http.RoundTripper.
func (t *transport) RoundTrip(r *http.Request) (*http.Response, error) {
	if !trace.SpanContextFromContext(r.Context()).IsValid() {
		return t.base.RoundTrip(r)
	}
	host, port := serverAddress(r.URL)
	ctx, span := t.tracer.Start(r.Context(), r.Method,
		trace.WithSpanKind(trace.SpanKindClient),
		trace.WithAttributes(
			semconv.HTTPRequestMethodKey.String(r.Method),
			semconv.URLFull(redactURL(r.URL)),
			semconv.ServerAddress(host),
			semconv.ServerPort(port),
		))
	r = r.Clone(ctx) // a RoundTripper must not change its request
	propagation.TraceContext{}.Inject(ctx, propagation.HeaderCarrier(r.Header))
	resp, err := t.base.RoundTrip(r)
	if err != nil {
		msg := err.Error()
		if t.scrub != nil {
			msg = t.scrub(msg)
		}
		span.SetAttributes(semconv.ErrorType(err))
		span.SetStatus(codes.Error, msg)
		span.End()
		return resp, err
	}
	span.SetAttributes(semconv.HTTPResponseStatusCode(resp.StatusCode))
	if resp.StatusCode >= 400 {
		span.SetAttributes(semconv.ErrorTypeKey.String(strconv.Itoa(resp.StatusCode)))
		span.SetStatus(codes.Error, "")
	}
	if resp.Body == nil || resp.StatusCode == http.StatusSwitchingProtocols {
		span.End() // the connection is the caller's from here
		return resp, nil
	}
	resp.Body = &spanBody{ReadCloser: resp.Body, span: span}
	return resp, nil
}

// spanBody ends the request's span when the body is read to its end or
// closed, whichever comes first.
type spanBody struct {
	io.ReadCloser
	span trace.Span
	once sync.Once
}

func (b *spanBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.end()
	}
	return n, err
}

func (b *spanBody) Close() error {
	err := b.ReadCloser.Close()
	b.end()
	return err
}

func (b *spanBody) end() { b.once.Do(func() { b.span.End() }) }

// serverAddress returns the host and port a request goes to, the port
// defaulting to the scheme's.
func serverAddress(u *url.URL) (string, int) {
	host, port := u.Hostname(), u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	p, _ := strconv.Atoi(port)
	return host, p
}

// redactURL returns u as text without its user info and fragment and
// with every query value (and every item without a key) replaced by
// REDACTED, the keys in their order: a token in a query is not recorded.
func redactURL(u *url.URL) string {
	c := *u
	c.User, c.Fragment, c.RawFragment = nil, "", ""
	if c.RawQuery != "" {
		pairs := strings.Split(c.RawQuery, "&")
		for i, p := range pairs {
			if k, _, ok := strings.Cut(p, "="); ok {
				pairs[i] = k + "=" + redacted
			} else if p != "" {
				pairs[i] = redacted // a bare item may be a token itself
			}
		}
		c.RawQuery = strings.Join(pairs, "&")
	}
	return c.String()
}
