// Package secret is a run's secret header — a bearer token, an API key —
// read from the environment or a file, never from the code.
//
// Read reads and checks it; Transport sends it with every request to the
// target's scheme and host and to no other host (it is added at the
// transport, after redirects are checked); Scrub blanks it out of a
// message before the run records it, so no log, CSV or report shows it:
// the whole value, and any piece of its credential (the part after a
// scheme such as "Bearer ", or the whole value without one) of 6 bytes or
// more, in any ASCII case. Errors name where the secret comes from, never
// its value.
//
//	sec, err := secret.Read(secret.Source{Env: "API_TOKEN"})
//	client.Transport = sec.Transport(client.Transport, target)
//	msg = sec.Scrub(msg)
package secret

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"
)

// Redacted replaces a secret in recorded text.
const Redacted = "[REDACTED]"

// minFragment is the shortest piece of a credential blanked out wherever
// it appears. A shorter piece tells little: 5 characters of a token are
// at most 30 bits of the 128 or more that a credential worth the name
// holds, and a shorter minimum would start blanking ordinary words and
// numbers that happen to occur in the token. From 6 on, a piece of a
// random token turns up in unrelated text about once in 10¹⁰ tries per
// byte, and a body that echoes part of the token is caught. A credential
// shorter than this is blanked out whole only.
const minFragment = 6

// Source says where the secret header's value is: in the environment
// variable Env or in File, exactly one of them.
type Source struct {
	Header string // header name; "" is Authorization
	Env    string // environment variable holding the value
	File   string // file holding the value; a trailing newline is dropped
}

// Secret is a secret header, read and checked.
type Secret struct {
	header, value string
	words         []string // blanked out whole: the value, and its credential
	// pieces holds every minFragment-byte piece of the credential, ASCII
	// lower-cased; empty when the credential is shorter.
	pieces map[[minFragment]byte]struct{}
}

// Read reads and checks the secret that src names.
func Read(src Source) (*Secret, error) {
	name := src.Header
	if name == "" {
		name = "Authorization"
	}
	if !headerNameOK(name) {
		return nil, fmt.Errorf("auth header name %q is not a valid HTTP header name", name)
	}
	var value, from string
	switch {
	case src.Env != "" && src.File != "":
		return nil, errors.New("auth: both an environment variable and a file are given: pick one")
	case src.Env != "":
		from = "environment variable " + src.Env
		v, ok := os.LookupEnv(src.Env)
		if !ok {
			return nil, fmt.Errorf("auth: %s is not set", from)
		}
		value = v
	default:
		from = "file " + src.File
		b, err := os.ReadFile(src.File)
		if err != nil {
			return nil, fmt.Errorf("auth: read %s: %w", src.File, errors.Unwrap(err))
		}
		value = strings.TrimRight(string(b), "\r\n")
	}
	value = strings.TrimSpace(value)
	switch {
	case value == "":
		return nil, fmt.Errorf("auth: %s is empty", from)
	case strings.ContainsAny(value, "\r\n\x00"):
		return nil, fmt.Errorf("auth: %s holds several lines or control characters; a header value is one line", from)
	}
	sec := &Secret{header: http.CanonicalHeaderKey(name), value: value, words: []string{value}}
	// "Bearer abc": the credential alone must not leak either, nor any
	// piece of it; the scheme is no secret.
	cred := value
	if _, c, ok := strings.Cut(value, " "); ok {
		if cred = strings.TrimSpace(c); len(cred) >= 4 {
			sec.words = append(sec.words, cred)
		}
	}
	for i := 0; i+minFragment <= len(cred); i++ {
		if sec.pieces == nil {
			sec.pieces = map[[minFragment]byte]struct{}{}
		}
		sec.pieces[foldPiece(cred[i:])] = struct{}{}
	}
	return sec, nil
}

// foldPiece returns the first minFragment bytes of s, ASCII lower-cased.
func foldPiece(s string) [minFragment]byte {
	var p [minFragment]byte
	for i := range p {
		p[i] = lowerASCII(s[i])
	}
	return p
}

func lowerASCII(c byte) byte {
	if 'A' <= c && c <= 'Z' {
		return c + 'a' - 'A'
	}
	return c
}

// equalFoldASCII reports whether a and b, of the same length, are equal
// but for ASCII case.
func equalFoldASCII(a, b string) bool {
	for i := range len(a) {
		if lowerASCII(a[i]) != lowerASCII(b[i]) {
			return false
		}
	}
	return true
}

func headerNameOK(s string) bool {
	if s == "" {
		return false
	}
	for _, c := range []byte(s) {
		if c <= ' ' || c >= 0x7f || strings.IndexByte("()<>@,;:\\\"/[]?={}", c) >= 0 {
			return false
		}
	}
	return true
}

// Transport returns a transport that adds the secret header to the
// requests base carries for target's scheme and host, and to no others.
func (sec *Secret) Transport(base http.RoundTripper, target *url.URL) http.RoundTripper {
	return &transport{base: base, scheme: target.Scheme, host: target.Host, sec: sec}
}

// transport adds the secret header to requests for the target's scheme
// and host only.
type transport struct {
	base         http.RoundTripper
	scheme, host string
	sec          *Secret
}

// RoundTrip sends req through the base transport, with the secret header
// on a copy of it when it goes to the target.
func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme == t.scheme && req.URL.Host == t.host {
		req = req.Clone(req.Context())
		req.Header.Set(t.sec.header, t.sec.value)
	}
	return t.base.RoundTrip(req)
}

// CloseIdleConnections closes the base transport's idle connections.
func (t *transport) CloseIdleConnections() {
	if c, ok := t.base.(interface{ CloseIdleConnections() }); ok {
		c.CloseIdleConnections()
	}
}

// Scrub replaces with Redacted each run of msg's bytes that belong to a
// whole word of the secret or to a piece of its credential of minFragment
// bytes or more, in any ASCII case. It looks up every minFragment bytes of
// msg in the credential's pieces, so it takes O(len(msg)·minFragment) time
// and allocates nothing for a message that holds no part of the secret.
func (sec *Secret) Scrub(msg string) string {
	var hide []bool // bytes of msg to blank out, made on the first match
	mark := func(i, n int) {
		if hide == nil {
			hide = make([]bool, len(msg))
		}
		for j := i; j < i+n; j++ {
			hide[j] = true
		}
	}
	for _, w := range sec.words {
		for i := 0; i+len(w) <= len(msg); i++ {
			if equalFoldASCII(msg[i:i+len(w)], w) {
				mark(i, len(w))
			}
		}
	}
	if len(sec.pieces) > 0 {
		for i := 0; i+minFragment <= len(msg); i++ {
			if _, ok := sec.pieces[foldPiece(msg[i:])]; ok {
				mark(i, minFragment)
			}
		}
	}
	if hide == nil {
		return msg
	}
	var b strings.Builder
	for i := 0; i < len(msg); {
		j := i
		for j < len(msg) && hide[j] == hide[i] {
			j++
		}
		if hide[i] {
			b.WriteString(Redacted)
		} else {
			b.WriteString(msg[i:j])
		}
		i = j
	}
	return b.String()
}
