package loadtest

import (
	"flag"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/engine"
	"github.com/steadyload/steadyload/loadtest/result"
)

// TestParseStages: -loadtest.stages's syntax, and errors that say where.
func TestParseStages(t *testing.T) {
	tests := []struct {
		in   string
		want []Stage
		err  string
	}{
		{"30s:10,2m:10,30s:0", []Stage{{30 * time.Second, 10}, {2 * time.Minute, 10}, {30 * time.Second, 0}}, ""},
		{"1h:0.5", []Stage{{time.Hour, 0.5}}, ""},
		{"0s:5, 10s:5", []Stage{{0, 5}, {10 * time.Second, 5}}, ""},
		{"30s", nil, `column 1: stage 1 "30s": want duration:target`},
		{"30s:10,2x:10", nil, `column 8: stage 2 "2x:10": duration "2x"`},
		{"30s:10,2m:10,30s:-1", nil, `column 14: stage 3 "30s:-1": target "-1": want a number of 0 or more`},
		{"30s:10,-1s:3", nil, `column 8: stage 2 "-1s:3": duration "-1s"`},
		{"30s:NaN", nil, `column 1: stage 1 "30s:NaN": target "NaN"`},
		{"", nil, `column 1: stage 1 "": want duration:target`},
	}
	for _, tt := range tests {
		got, err := parseStages(tt.in)
		if tt.err != "" {
			if assert.Error(t, err, "parseStages(%q)", tt.in) {
				assert.Contains(t, err.Error(), tt.err, "parseStages(%q)", tt.in)
			}
			continue
		}
		require.NoError(t, err, "parseStages(%q)", tt.in)
		assert.Equal(t, tt.want, got, "parseStages(%q)", tt.in)
	}
}

// TestStagesResolve: stages make the run's duration and its peak rate or
// users; the flag and its variable override the field; settings that
// contradict them are errors.
func TestStagesResolve(t *testing.T) {
	ok := []Task{getTask("GET /", "/", 1)}
	open := Scenario{Host: "http://127.0.0.1:1", Rate: 1, Tasks: ok,
		Stages: []Stage{{10 * time.Second, 20}, {time.Minute, 20}, {10 * time.Second, 0}}}
	closed := Scenario{Host: "http://127.0.0.1:1", Users: 1, Wait: Constant(time.Second), Tasks: ok,
		Stages: []Stage{{10 * time.Second, 4}, {10 * time.Second, 0}}}
	withDuration, fractional, withPacer, zero, endless := open, closed, open, open, open
	withDuration.Duration = time.Minute
	endless.Duration = Endless
	fractional.Stages = []Stage{{10 * time.Second, 2.5}}
	withPacer.Pacer = engine.ConstantRate{Freq: 3}
	zero.Stages = []Stage{{10 * time.Second, 0}}
	tests := []struct {
		name     string
		sc       Scenario
		args     []string
		env      map[string]string
		duration time.Duration
		rate     float64
		users    int
		err      string
	}{
		{"open", open, nil, nil, 80 * time.Second, 20, 0, ""},
		{"closed", closed, nil, nil, 20 * time.Second, 0, 4, ""},
		{"flag", open, []string{"-loadtest.stages=1m:5,1m:0"}, nil, 2 * time.Minute, 5, 0, ""},
		{"variable", closed, nil, map[string]string{"STEADYLOAD_STAGES": "30s:2"}, 30 * time.Second, 0, 2, ""},
		{"flag on a constant load", Scenario{Host: "http://127.0.0.1:1", Rate: 7, Tasks: ok}, []string{"-loadtest.stages=5s:3"}, nil, 5 * time.Second, 3, 0, ""},
		{"bad flag", open, []string{"-loadtest.stages=1m:5,1m"}, nil, 0, 0, 0, `-loadtest.stages=1m:5,1m: column 6: stage 2 "1m": want duration:target`},
		{"duration flag", open, []string{"-loadtest.duration=1m"}, nil, 0, 0, 0, "-loadtest.duration and stages are both set"},
		{"without end", endless, nil, nil, 0, 0, 0, "a run without end cannot have stages"},
		{"duration field", withDuration, nil, nil, 0, 0, 0, "duration 1m0s and stages of 1m20s"},
		{"users are whole", fractional, nil, nil, 0, 0, 0, "stage 1: target 2.5: the closed model's targets are users"},
		{"pacer and stages", withPacer, nil, nil, 0, 0, 0, "both Pacer and stages are set"},
		{"no load", zero, nil, nil, 0, 0, 0, "no load: every target is 0"},
		{"shard", open, []string{"-loadtest.shard=1/2", "-loadtest.run-id=r"}, nil, 0, 0, 0, "a load in stages is not split into shards"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCommandLine(flag.NewFlagSet("loadtest", flag.ContinueOnError), envLookup(tt.env, new(int)))
			require.NoError(t, c.core.fs.Parse(append([]string{"-loadtest.out=" + t.TempDir()}, tt.args...)))
			p, err := resolve(tt.sc, c.core)
			if tt.err != "" {
				if assert.Error(t, err) {
					assert.Contains(t, err.Error(), tt.err)
				}
				return
			}
			require.NoError(t, err)
			assert.Equal(t, tt.duration, p.Duration, "duration")
			assert.Equal(t, tt.rate, p.Rate, "rate: the stages' peak")
			assert.Equal(t, tt.users, p.Users, "users: the stages' peak")
		})
	}
}

// TestStagesRun: a run in stages makes each window's starts as its stage
// says (the window's length is the stages'), none in a stage of rate 0,
// none late or dropped; the log and the metadata say the stages.
func TestStagesRun(t *testing.T) {
	target := &fakeTarget{delay: 20 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Rate, sc.Window = 1, 10*time.Second
	sc.Stages = []Stage{{10 * time.Second, 10}, {10 * time.Second, 10}, {10 * time.Second, 0}, {10 * time.Second, 0}, {10 * time.Second, 4}}
	res, tb, _ := runFake(t, sc)
	require.Empty(t, tb.messages(), "run failed")
	var per []int64
	for _, w := range res.Windows {
		if w.Name == result.AggregateName {
			per = append(per, w.Requests)
		}
	}
	assert.Equal(t, []int64{50, 100, 50, 0, 20}, per, "requests per window")
	assert.Equal(t, int64(220), res.Meta.Scheduled, "meta: scheduled")
	assert.Zero(t, res.Meta.Late+res.Meta.Waited+res.Meta.Dropped, "meta: late, waited and dropped")
	assert.Equal(t, "10s:10,10s:10,10s:0,10s:0,10s:4", res.Meta.Stages, "meta: stages")
	assert.Equal(t, 10.0, res.Meta.Rate, "meta: rate, the stages' peak")
	assert.Equal(t, 50*time.Second, res.Meta.Duration, "meta: duration")
	assert.Contains(t, tb.logText(), "open model, stages 10s:10,10s:10,10s:0,10s:0,10s:4 (peak 10/s)", "log")
}

// TestStagesClosedRun: a closed-model run in stages has as many users in
// each window as its stage says.
func TestStagesClosedRun(t *testing.T) {
	target := &fakeTarget{delay: 100 * time.Millisecond}
	sc := fakeScenario(t, target)
	sc.Users, sc.Window, sc.Wait = 1, 10*time.Second, Constant(900*time.Millisecond)
	sc.Stages = []Stage{{0, 1}, {10 * time.Second, 1}, {0, 3}, {10 * time.Second, 3}, {0, 0}, {10 * time.Second, 0}}
	res, tb, _ := runFake(t, sc)
	require.Empty(t, tb.messages(), "run failed")
	var per []int64
	for _, w := range res.Windows {
		if w.Name == result.AggregateName {
			per = append(per, w.Requests)
		}
	}
	// A task a second per user: 1 user, then 3, then none.
	assert.Equal(t, []int64{10, 30, 0}, per, "requests per window")
	assert.Equal(t, "0s:1,10s:1,0s:3,10s:3,0s:0,10s:0", res.Meta.Stages, "meta: stages")
	assert.Equal(t, 3, res.Meta.Users, "meta: users, the stages' peak")
}

// TestCeilingStages: a stage above the load ceiling refuses the run
// before any request, naming the stage.
func TestCeilingStages(t *testing.T) {
	ok := []Task{getTask("GET /x", "/x", 1)}
	tests := []struct {
		sc   Scenario
		args []string
		want string
	}{
		{Scenario{Rate: 1, Tasks: ok, Stages: []Stage{{time.Second, 10}, {time.Second, 60}, {time.Second, 0}}}, nil,
			"stage 2 (1s:60): rate 60/s is above the ceiling of 50/s"},
		{Scenario{Rate: 1, Tasks: ok}, []string{"-loadtest.stages=1s:5,1s:6", "-loadtest.max-rate=5"},
			"stage 2 (1s:6): rate 6/s is above the ceiling of 5/s"},
		{Scenario{Users: 1, Wait: Constant(time.Second), Tasks: ok, Stages: []Stage{{time.Second, 51}}}, nil,
			"stage 1 (1s:51): 51 users is above the ceiling of 50"},
	}
	for i, tt := range tests {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			target := &fakeTarget{}
			tt.sc.Host, tt.sc.Transport = "http://target.test", target
			res, tb := runGuardedFake(t, tt.sc, tt.args...)
			msg := tb.messages()
			assert.Contains(t, msg, tt.want, "messages")
			assert.True(t, strings.Contains(msg, "no request sent"), "messages: %s", msg)
			assert.Nil(t, res, "Run's result; want no run")
			assert.Zero(t, target.total.Load(), "requests the target saw; want none")
		})
	}
}
