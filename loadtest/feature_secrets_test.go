package loadtest

import (
	"context"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// headerServer records one header of every request it gets.
type headerServer struct {
	*httptest.Server
	name string
	mu   sync.Mutex
	seen []string
}

func newHeaderServer(t *testing.T, name string, h http.HandlerFunc) *headerServer {
	s := &headerServer{name: name}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		s.seen = append(s.seen, r.Header.Get(name))
		s.mu.Unlock()
		if h != nil {
			h(w, r)
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *headerServer) values() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

// TestSecretNeverLeaks: a token from the environment or a file reaches the
// target on every request, never another host, and appears in no file
// written, no log line and no message — even when the target echoes it
// into an error the task returns, or 8 of its characters into a body that
// a check message quotes.
func TestSecretNeverLeaks(t *testing.T) {
	const token = "s3cr3t-T0KEN-value-42"
	tests := []struct {
		name   string
		header string // as the target sees it
		value  string
		args   func(t *testing.T) []string
	}{
		{"env", "Authorization", "Bearer " + token, func(t *testing.T) []string {
			t.Setenv("STEADYLOAD_TEST_TOKEN", "Bearer "+token)
			return []string{"-loadtest.auth-header-env=STEADYLOAD_TEST_TOKEN"}
		}},
		{"file", "X-Api-Key", token, func(t *testing.T) []string {
			path := filepath.Join(t.TempDir(), "key")
			os.WriteFile(path, []byte(token+"\n"), 0o600)
			return []string{"-loadtest.auth-file=" + path, "-loadtest.auth-header=X-Api-Key"}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			other := newHeaderServer(t, tt.header, nil)
			target := newHeaderServer(t, tt.header, func(w http.ResponseWriter, r *http.Request) {
				switch r.URL.Path {
				case "/echo": // a careless server quoting the request back
					http.Error(w, "bad key "+r.Header.Get(tt.header), http.StatusInternalServerError)
				case "/whoami": // a careless server quoting part of it
					v := r.Header.Get(tt.header)
					fmt.Fprintf(w, `{"token":"%s…"}`, v[strings.LastIndexByte(v, ' ')+1:][:8])
				case "/away":
					http.Redirect(w, r, other.URL+"/steal", http.StatusFound)
				default:
					io.WriteString(w, "ok")
				}
			})
			echo := Task{Name: "GET /echo", Do: func(ctx context.Context, u *User) error {
				resp, err := u.Get(ctx, "/echo")
				if err != nil && resp != nil {
					return fmt.Errorf("server said %q", resp.Body) // its own words, not the status
				}
				return err
			}}
			whoami := Task{Name: "GET /whoami", Do: func(ctx context.Context, u *User) error {
				_, err := u.Do(ctx, Request{Path: "/whoami", Check: func(r *Response) error {
					return fmt.Errorf("unexpected body %s", r.Body)
				}})
				return err
			}}
			res, tb, out := runGuarded(t, Scenario{
				Host: target.URL, Rate: 30, Duration: 600 * time.Millisecond, MaxFailureRatio: -1, MaxLateRatio: 0.5,
				Tasks: []Task{echo, whoami, getTask("GET /away", "/away", 1), getTask("GET /ok", "/ok", 1)},
			}, append(tt.args(t), "-loadtest.abort=false")...)
			if res == nil {
				t.Fatalf("no run: %s", tb.messages())
			}
			seen := target.values()
			for i, v := range seen {
				if v != tt.value {
					t.Fatalf("target request %d carried %s %q; want the secret", i, tt.header, v)
				}
			}
			if len(seen) == 0 {
				t.Fatal("target saw no request")
			}
			if n := len(other.values()); n != 0 {
				t.Errorf("another host saw %d requests; want none", n)
			}
			text := tb.logText() + "\n" + tb.messages()
			if strings.Contains(text, token[:8]) {
				t.Errorf("the secret or a part of it is in the log or messages:\n%s", text)
			}
			found := false
			filepath.WalkDir(out, func(path string, d fs.DirEntry, err error) error {
				if err != nil || d.IsDir() {
					return err
				}
				b, _ := os.ReadFile(path)
				if strings.Contains(string(b), token[:8]) {
					t.Errorf("%s holds the secret or a part of it", path)
				}
				found = found || strings.Contains(string(b), redacted)
				return nil
			})
			if !found {
				t.Errorf("no file shows %s where the echoed secret was", redacted)
			}
		})
	}
}

// TestSecretTransport: the header goes to the target's scheme and host
// only, and the caller's request is not modified.
func TestSecretTransport(t *testing.T) {
	var got []string
	base := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		got = append(got, r.URL.String()+" "+r.Header.Get("Authorization"))
		return &http.Response{StatusCode: 200, Body: http.NoBody, Request: r}, nil
	})
	tr := &secretTransport{base: base, scheme: "https", host: "api.example.com", sec: &secret{header: "Authorization", value: "Bearer x"}}
	for _, u := range []string{"https://api.example.com/a", "http://api.example.com/a", "https://evil.example.com/a", "https://api.example.com:8443/a"} {
		req, _ := http.NewRequest("GET", u, nil)
		tr.RoundTrip(req)
		if req.Header.Get("Authorization") != "" {
			t.Errorf("RoundTrip modified the caller's request to %s", u)
		}
	}
	want := []string{"https://api.example.com/a Bearer x", "http://api.example.com/a ", "https://evil.example.com/a ", "https://api.example.com:8443/a "}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("sent:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestSecretErrors: a missing or malformed secret fails before any
// request, saying where it looked, never what it found.
func TestSecretErrors(t *testing.T) {
	const value = "hunter2-hunter2"
	dir := t.TempDir()
	write := func(name, s string) string {
		p := filepath.Join(dir, name)
		os.WriteFile(p, []byte(s), 0o600)
		return p
	}
	t.Setenv("STEADYLOAD_EMPTY", "")
	t.Setenv("STEADYLOAD_TWO_LINES", value+"\n"+value)
	tests := []struct {
		args []string
		sc   Auth
		want string
	}{
		{[]string{"-loadtest.auth-header-env=STEADYLOAD_UNSET_VAR"}, Auth{}, "environment variable STEADYLOAD_UNSET_VAR is not set"},
		{[]string{"-loadtest.auth-header-env=STEADYLOAD_EMPTY"}, Auth{}, "environment variable STEADYLOAD_EMPTY is empty"},
		{[]string{"-loadtest.auth-header-env=STEADYLOAD_TWO_LINES"}, Auth{}, "holds several lines"},
		{[]string{"-loadtest.auth-file=" + filepath.Join(dir, "missing")}, Auth{}, "read " + filepath.Join(dir, "missing") + ": no such file"},
		{[]string{"-loadtest.auth-file=" + write("blank", "\n")}, Auth{}, "is empty"},
		{[]string{"-loadtest.auth-file=" + write("lines", value+"\n"+value+"\n")}, Auth{}, "holds several lines"},
		{nil, Auth{Env: "STEADYLOAD_EMPTY", File: "x"}, "pick one"},
		{[]string{"-loadtest.auth-header=Bad Name", "-loadtest.auth-file=" + write("ok", value)}, Auth{}, `auth header name "Bad Name" is not a valid`},
	}
	srv := newHeaderServer(t, "Authorization", nil)
	for _, tt := range tests {
		_, tb, _ := runGuarded(t, Scenario{Host: srv.URL, Rate: 1, Tasks: []Task{getTask("GET /x", "/x", 1)}, Auth: tt.sc}, tt.args...)
		msg := tb.messages()
		if !strings.Contains(msg, tt.want) || !strings.Contains(msg, "no request sent") {
			t.Errorf("args %q: message = %q; want %q before any request", tt.args, msg, tt.want)
		}
		if strings.Contains(msg, "hunter2") {
			t.Errorf("args %q: message shows the secret: %q", tt.args, msg)
		}
	}
	if n := len(srv.values()); n != 0 {
		t.Errorf("server saw %d requests; want none", n)
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
		{"Bearer " + token, "bad key Bearer " + token, "bad key " + redacted},
		{"Bearer " + token, "token " + token + " rejected", "token " + redacted + " rejected"},
		{"Bearer " + token, `check failed: body "{\"token\":\"s3cr3t-T…\"}"`, `check failed: body "{\"token\":\"` + redacted + `…\"}"`}, // a prefix of 8
		{"Bearer " + token, "near T0KEN-val here", "near " + redacted + " here"},                                                        // a middle slice
		{"Bearer " + token, "ends in value-42", "ends in " + redacted},                                                                  // a suffix
		{"Bearer " + token, "xs3cr3t-T0y", "x" + redacted + "y"},                                                                        // only the fragment goes
		{"Bearer " + token, "exactly T0KEN- six", "exactly " + redacted + " six"},                                                       // minFragment bytes
		{"Bearer " + token, "too short: s3cr3 and 42", "too short: s3cr3 and 42"},                                                       // a piece under minFragment is kept
		{"Bearer " + token, "a=s3cr3t-T b=value-42", "a=" + redacted + " b=" + redacted},                                                // two fragments
		{"Bearer " + token, "S3CR3T-t0ken echoed upper-cased", redacted + " echoed upper-cased"},                                        // case folded
		{"Bearer " + token, "BEARER " + strings.ToUpper(token), redacted},
		{"Bearer " + token, "missing Bearer prefix", "missing Bearer prefix"}, // the scheme is no secret
		{"Bearer " + token, "HTTP 500", "HTTP 500"},
		{token, "key " + token[3:15] + "!", "key " + redacted + "!"},     // a value without a scheme
		{"abc12", "key abc12 and abc1", "key " + redacted + " and abc1"}, // shorter than minFragment: whole only
		{"Bearer abcd", "got abcd, Bearer abcd", "got " + redacted + ", " + redacted},
	}
	for _, tt := range tests {
		t.Setenv("STEADYLOAD_TEST_SCRUB", tt.value)
		sec, err := readSecret(Auth{Env: "STEADYLOAD_TEST_SCRUB"})
		if err != nil {
			t.Fatal(err)
		}
		if got := sec.scrub(tt.msg); got != tt.want {
			t.Errorf("secret %q: scrub(%q) = %q; want %q", tt.value, tt.msg, got, tt.want)
		}
	}
}

// TestScrubAllocs: a message holding nothing of the secret costs no
// allocation.
func TestScrubAllocs(t *testing.T) {
	t.Setenv("STEADYLOAD_TEST_SCRUB", "Bearer s3cr3t-T0KEN-value-42")
	sec, err := readSecret(Auth{Env: "STEADYLOAD_TEST_SCRUB"})
	if err != nil {
		t.Fatal(err)
	}
	const msg = `GET: read tcp 127.0.0.1:8080: read: connection reset by peer; check failed: body "{\"value\":42,\"token\":\"s3cr3\"}"`
	var got string
	if n := testing.AllocsPerRun(100, func() { got = sec.scrub(msg) }); n != 0 || got != msg {
		t.Errorf("scrub(%q) = %q with %v allocations; want it unchanged, with none", msg, got, n)
	}
}
