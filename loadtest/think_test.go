package loadtest

import (
	"strings"
	"testing"
)

func TestParseWait(t *testing.T) {
	tests := []struct {
		in, want, err string
	}{
		{in: "between:1s:5s", want: "between(1s,5s)"},
		{in: "between:0s:0s", want: "between(0s,0s)"},
		{in: "constant:2s", want: "constant(2s)"},
		{in: "constant:250ms", want: "constant(250ms)"},
		{in: "pacing:10s", want: "constant_pacing(10s)"},
		{in: "none", want: "constant(0s)"},
		{in: "", err: `unknown think time ""`},
		{in: "between:5s:1s", err: "need 0 <= min <= max"},
		{in: "between:1s", err: "between takes 2 duration(s)"},
		{in: "between:1s:2s:3s", err: "between takes 2 duration(s)"},
		{in: "constant", err: "constant takes 1 duration(s) after a colon, e.g. constant:2s"},
		{in: "constant:-1s", err: "is negative"},
		{in: "constant:2", err: `constant: "2" is not a duration`},
		{in: "pacing:0s", err: "pacing must be positive"},
		{in: "none:1s", err: "none takes no duration"},
		{in: "random:1s", err: `unknown think time "random"`},
	}
	for _, tt := range tests {
		w, err := ParseWait(tt.in)
		switch {
		case tt.err != "":
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("ParseWait(%q) = %v, %v; want error containing %q", tt.in, w, err, tt.err)
			}
		case err != nil:
			t.Errorf("ParseWait(%q) = %v; want %s", tt.in, err, tt.want)
		case w.String() != tt.want:
			t.Errorf("ParseWait(%q) = %s; want %s", tt.in, w, tt.want)
		}
	}
}

// TestWaitFlag: -loadtest.wait sets the closed model's think time, and
// turns a rate scenario run with -loadtest.users into users that think.
func TestWaitFlag(t *testing.T) {
	sc := Scenario{Host: "http://127.0.0.1:1", Rate: 5, Tasks: []Task{getTask("GET /x", "/x", 1)}}
	fl := newFlags(newFlagSet())
	if err := fl.fs.Parse([]string{"-loadtest.users=3", "-loadtest.wait=between:1s:5s"}); err != nil {
		t.Fatal(err)
	}
	p, err := resolve(sc, fl)
	if err != nil {
		t.Fatalf("resolve: %v", err)
	}
	if p.open || p.Users != 3 || p.Wait == nil || p.Wait.String() != "between(1s,5s)" {
		t.Errorf("plan: open %t, users %d, wait %v; want closed, 3 users, between(1s,5s)", p.open, p.Users, p.Wait)
	}
}
