package secret

import (
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSecretTransport: the header goes to the target's scheme and host
// only, and the caller's request is not modified.
func TestSecretTransport(t *testing.T) {
	var got []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.String()+" "+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	sec := &Secret{header: "Authorization", value: "Bearer x"}
	tr := sec.Transport(base, &url.URL{Scheme: "https", Host: "api.example.com"})
	for _, u := range []string{"https://api.example.com/a", "http://api.example.com/a", "https://evil.example.com/a", "https://api.example.com:8443/a"} {
		req, err := http.NewRequest("GET", u, nil)
		require.NoError(t, err)
		_, err = tr.RoundTrip(req)
		require.NoError(t, err)
		assert.Empty(t, req.Header.Get("Authorization"), "RoundTrip modified the caller's request to %s", u)
	}
	want := []string{"https://api.example.com/a Bearer x", "http://api.example.com/a ", "https://evil.example.com/a ", "https://api.example.com:8443/a "}
	assert.Equal(t, strings.Join(want, "\n"), strings.Join(got, "\n"), "sent")
}

// TestRead: the secret is read from the environment or a file, trimmed;
// a missing or malformed one is an error saying where it looked, never
// what it found.
func TestRead(t *testing.T) {
	const value = "hunter2-hunter2"
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		require.NoError(t, os.WriteFile(p, []byte(s), 0o600))
		return p
	}
	t.Setenv("STEADYLOAD_EMPTY", "")
	t.Setenv("STEADYLOAD_TWO_LINES", value+"\n"+value)
	t.Setenv("STEADYLOAD_OK", " Bearer "+value+" ")
	tests := []struct {
		src     Source
		header  string // want, when the read succeeds
		value   string
		wantErr string
	}{
		{Source{Env: "STEADYLOAD_OK"}, "Authorization", "Bearer " + value, ""},
		{Source{Header: "x-api-key", File: write("key", value+"\r\n")}, "X-Api-Key", value, ""},
		{Source{Env: "STEADYLOAD_UNSET_VAR"}, "", "", "auth: environment variable STEADYLOAD_UNSET_VAR is not set"},
		{Source{Env: "STEADYLOAD_EMPTY"}, "", "", "auth: environment variable STEADYLOAD_EMPTY is empty"},
		{Source{Env: "STEADYLOAD_TWO_LINES"}, "", "", "auth: environment variable STEADYLOAD_TWO_LINES holds several lines or control characters; a header value is one line"},
		{Source{File: filepath.Join(dir, "missing")}, "", "", "auth: read " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{Source{File: write("blank", "\n")}, "", "", "auth: file " + filepath.Join(dir, "blank") + " is empty"},
		{Source{File: write("lines", value+"\n"+value+"\n")}, "", "", "holds several lines"},
		{Source{Env: "STEADYLOAD_EMPTY", File: "x"}, "", "", "auth: both an environment variable and a file are given: pick one"},
		{Source{Header: "Bad Name", File: write("ok", value)}, "", "", `auth header name "Bad Name" is not a valid HTTP header name`},
	}
	for _, tt := range tests {
		sec, err := Read(tt.src)
		if tt.wantErr != "" {
			require.Error(t, err, "Read(%+v)", tt.src)
			assert.Contains(t, err.Error(), tt.wantErr, "Read(%+v)", tt.src)
			assert.NotContains(t, err.Error(), "hunter2", "Read(%+v): the error shows the secret", tt.src)
			continue
		}
		require.NoError(t, err, "Read(%+v)", tt.src)
		assert.Equal(t, tt.header, sec.header, "Read(%+v): header", tt.src)
		assert.Equal(t, tt.value, sec.value, "Read(%+v): value", tt.src)
	}
}

// TestScrub: every piece of the secret's credential of minFragment bytes
// or more is blanked out of a recorded message, whatever its case, and so
// are the whole value and credential; shorter pieces and the scheme are
// kept, and a message with nothing of the secret is returned as it is.
func TestScrub(t *testing.T) {
	const token = "s3cr3t-T0KEN-value-42"
	tests := []struct {
		value string // the secret header's value
		msg   string
		want  string
	}{
		{"Bearer " + token, "bad key Bearer " + token, "bad key " + Redacted},
		{"Bearer " + token, "token " + token + " rejected", "token " + Redacted + " rejected"},
		{"Bearer " + token, `check failed: body "{\"token\":\"s3cr3t-T…\"}"`, `check failed: body "{\"token\":\"` + Redacted + `…\"}"`}, // a prefix of 8
		{"Bearer " + token, "near T0KEN-val here", "near " + Redacted + " here"},                                                        // a middle slice
		{"Bearer " + token, "ends in value-42", "ends in " + Redacted},                                                                  // a suffix
		{"Bearer " + token, "xs3cr3t-T0y", "x" + Redacted + "y"},                                                                        // only the fragment goes
		{"Bearer " + token, "exactly T0KEN- six", "exactly " + Redacted + " six"},                                                       // minFragment bytes
		{"Bearer " + token, "too short: s3cr3 and 42", "too short: s3cr3 and 42"},                                                       // a piece under minFragment is kept
		{"Bearer " + token, "a=s3cr3t-T b=value-42", "a=" + Redacted + " b=" + Redacted},                                                // two fragments
		{"Bearer " + token, "S3CR3T-t0ken echoed upper-cased", Redacted + " echoed upper-cased"},                                        // case folded
		{"Bearer " + token, "BEARER " + strings.ToUpper(token), Redacted},
		{"Bearer " + token, "missing Bearer prefix", "missing Bearer prefix"}, // the scheme is no secret
		{"Bearer " + token, "HTTP 500", "HTTP 500"},
		{token, "key " + token[3:15] + "!", "key " + Redacted + "!"},     // a value without a scheme
		{"abc12", "key abc12 and abc1", "key " + Redacted + " and abc1"}, // shorter than minFragment: whole only
		{"Bearer abcd", "got abcd, Bearer abcd", "got " + Redacted + ", " + Redacted},
	}
	for _, tt := range tests {
		t.Setenv("STEADYLOAD_TEST_SCRUB", tt.value)
		sec, err := Read(Source{Env: "STEADYLOAD_TEST_SCRUB"})
		require.NoError(t, err)
		assert.Equal(t, tt.want, sec.Scrub(tt.msg), "secret %q: Scrub(%q)", tt.value, tt.msg)
	}
}

// TestScrubAllocs: a message holding nothing of the secret costs no
// allocation.
func TestScrubAllocs(t *testing.T) {
	t.Setenv("STEADYLOAD_TEST_SCRUB", "Bearer s3cr3t-T0KEN-value-42")
	sec, err := Read(Source{Env: "STEADYLOAD_TEST_SCRUB"})
	require.NoError(t, err)
	const msg = `GET: read tcp 127.0.0.1:8080: read: connection reset by peer; check failed: body "{\"value\":42,\"token\":\"s3cr3\"}"`
	var got string
	n := testing.AllocsPerRun(100, func() { got = sec.Scrub(msg) })
	assert.Equal(t, msg, got, "Scrub(%q)", msg)
	assert.Zero(t, n, "Scrub(%q): allocations", msg)
}
