package loadtest

import (
	"math/rand/v2"
	"testing"
	"time"

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

func TestThink(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	tests := []struct {
		wait   Wait
		took   time.Duration
		lo, hi time.Duration
		name   string
	}{
		{Constant(time.Second), 300 * time.Millisecond, time.Second, time.Second, "constant(1s)"},
		{Constant(0), time.Second, 0, 0, "constant(0s)"},
		{ConstantPacing(time.Second), 300 * time.Millisecond, 700 * time.Millisecond, 700 * time.Millisecond, "constant_pacing(1s)"},
		{ConstantPacing(time.Second), 1500 * time.Millisecond, 0, 0, "constant_pacing(1s)"},
		{Between(time.Second, 5*time.Second), 0, time.Second, 5 * time.Second, "between(1s,5s)"},
		{Between(2*time.Second, 2*time.Second), 0, 2 * time.Second, 2 * time.Second, "between(2s,2s)"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.name, tt.wait.String(), "String()")
		for range 1000 {
			got := tt.wait.Think(tt.took, r)
			require.GreaterOrEqual(t, got, tt.lo, "%s.Think(%s); want within [%s, %s]", tt.wait, tt.took, tt.lo, tt.hi)
			require.LessOrEqual(t, got, tt.hi, "%s.Think(%s); want within [%s, %s]", tt.wait, tt.took, tt.lo, tt.hi)
		}
	}
}

// TestBetweenUniform checks Between draws uniformly: the mean and both
// ends of the range show up.
func TestBetweenUniform(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	w := Between(time.Second, 5*time.Second)
	const n = 20000
	var sum time.Duration
	low, high := 0, 0
	for range n {
		d := w.Think(0, r)
		sum += d
		if d < 1100*time.Millisecond {
			low++
		}
		if d > 4900*time.Millisecond {
			high++
		}
	}
	assert.InDelta(t, 3*time.Second, sum/n, float64(50*time.Millisecond), "mean think time; want 3s ± 50ms")
	// Each 100 ms end holds 2.5% of draws: 500 ± 5 sd.
	assert.InDelta(t, 500, low, 100, "draws in the first 100ms")
	assert.InDelta(t, 500, high, 100, "draws in the last 100ms")
}

func TestValidWait(t *testing.T) {
	for _, tt := range []struct {
		w  Wait
		ok bool
	}{
		{Between(time.Second, 5*time.Second), true},
		{Between(5*time.Second, time.Second), false},
		{Between(-time.Second, time.Second), false},
		{Constant(-1), false},
		{ConstantPacing(0), false},
		{ConstantPacing(time.Second), true},
	} {
		if err := validWait(tt.w); tt.ok {
			assert.NoError(t, err, "validWait(%s)", tt.w)
		} else {
			assert.Error(t, err, "validWait(%s)", tt.w)
		}
	}
}
