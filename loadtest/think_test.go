package loadtest

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
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
		if tt.err != "" {
			assert.ErrorContains(t, err, tt.err, "ParseWait(%q) (wait %v)", tt.in, w)
		} else if assert.NoError(t, err, "ParseWait(%q); want %s", tt.in, tt.want) {
			assert.Equal(t, tt.want, w.String(), "ParseWait(%q)", tt.in)
		}
	}
}

// TestWaitFlag: -loadtest.wait sets the closed model's think time, and
// turns a rate scenario run with -loadtest.users into users that think.
func TestWaitFlag(t *testing.T) {
	sc := Scenario{Host: "http://127.0.0.1:1", Rate: 5, Tasks: []Task{getTask("GET /x", "/x", 1)}}
	fl := newFlags(newFlagSet())
	require.NoError(t, fl.fs.Parse([]string{"-loadtest.users=3", "-loadtest.wait=between:1s:5s"}))
	p, err := resolve(sc, fl)
	require.NoError(t, err, "resolve")
	assert.False(t, p.open, "plan: open; want closed")
	assert.Equal(t, 3, p.Users, "plan: users")
	if assert.NotNil(t, p.Wait, "plan: wait") {
		assert.Equal(t, "between(1s,5s)", p.Wait.String(), "plan: wait")
	}
}
