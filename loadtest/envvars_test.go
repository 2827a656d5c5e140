package loadtest

import (
	"flag"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestEnvVar(t *testing.T) {
	tests := []struct{ flag, want string }{
		{"loadtest.host", "STEADYLOAD_HOST"},
		{"loadtest.duration", "STEADYLOAD_DURATION"},
		{"loadtest.auth-header-env", "STEADYLOAD_AUTH_HEADER_ENV"},
		{"loadtest.max-failure-ratio", "STEADYLOAD_MAX_FAILURE_RATIO"},
		{"loadtest.threshold", "STEADYLOAD_THRESHOLD"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, envVar(tt.flag), "envVar(%q)", tt.flag)
	}
}

// envLookup looks keys up in env, as os.LookupEnv would, counting the
// lookups.
func envLookup(env map[string]string, n *int) func(string) (string, bool) {
	return func(key string) (string, bool) {
		*n++
		v, ok := env[key]
		return v, ok
	}
}

// TestFlagsFromEnv: every flag of the command line, the core's and the
// parts', takes its STEADYLOAD_* variable when the command line leaves it
// unset, and then counts as set: it overrides the scenario's field.
func TestFlagsFromEnv(t *testing.T) {
	out := t.TempDir()
	tests := []struct {
		name  string
		env   map[string]string
		args  []string
		check func(t *testing.T, c *flagSet, p *plan)
	}{
		{"nothing in the environment", nil, nil, func(t *testing.T, c *flagSet, p *plan) {
			assert.Equal(t, "http://127.0.0.1:1", p.Host, "host: the scenario's")
			assert.Equal(t, 2.0, p.Rate, "rate: the scenario's")
			assert.False(t, isSetIn(c.core.fs, "loadtest.host"), "isSetIn(host)")
		}},
		{"the environment overrides the scenario",
			map[string]string{"STEADYLOAD_HOST": "http://127.0.0.1:2", "STEADYLOAD_DURATION": "3s", "STEADYLOAD_USERS": "4",
				"STEADYLOAD_WAIT": "constant:1s", "STEADYLOAD_OUT": out},
			nil, func(t *testing.T, c *flagSet, p *plan) {
				assert.Equal(t, "http://127.0.0.1:2", p.Host, "host")
				assert.Equal(t, 3*time.Second, p.Duration, "duration")
				assert.Equal(t, 4, p.Users, "users")
				assert.Equal(t, 0.0, p.Rate, "rate: the closed model, from the environment, wins over the scenario's open model")
				assert.Equal(t, out, p.out, "out")
				assert.True(t, isSetIn(c.core.fs, "loadtest.host"), "isSetIn(host)")
			}},
		{"a flag wins over the environment",
			map[string]string{"STEADYLOAD_HOST": "http://127.0.0.1:2", "STEADYLOAD_RATE": "5"},
			[]string{"-loadtest.host=http://127.0.0.1:3"}, func(t *testing.T, c *flagSet, p *plan) {
				assert.Equal(t, "http://127.0.0.1:3", p.Host, "host: the flag's")
				assert.Equal(t, 5.0, p.Rate, "rate: the environment's")
			}},
		{"empty is unset",
			map[string]string{"STEADYLOAD_HOST": "", "STEADYLOAD_DURATION": ""},
			nil, func(t *testing.T, c *flagSet, p *plan) {
				assert.Equal(t, "http://127.0.0.1:1", p.Host, "host: the scenario's")
				assert.Equal(t, DefaultDuration, p.Duration, "duration")
				assert.False(t, isSetIn(c.core.fs, "loadtest.duration"), "isSetIn(duration)")
			}},
		{"the parts' flags too",
			map[string]string{"STEADYLOAD_AUTH_HEADER_ENV": "MY_TOKEN", "STEADYLOAD_ABORT": "false", "STEADYLOAD_LEAK": "fail",
				"STEADYLOAD_THRESHOLD": "p95 < 300ms, GET /: failures < 0.5%"},
			[]string{"-loadtest.threshold=rate > 1/s"}, func(t *testing.T, c *flagSet, p *plan) {
				assert.Equal(t, "MY_TOKEN", *c.parts.safety.authHeaderEnv, "auth-header-env")
				assert.True(t, isSetIn(c.core.fs, "loadtest.auth-header-env"), "isSetIn(auth-header-env)")
				assert.False(t, *c.parts.safety.abort, "abort")
				assert.Equal(t, "fail", *c.parts.leak.mode, "leak")
				assert.Equal(t, stringList{"rate > 1/s"}, *c.parts.limits.list, "threshold: the flag's, not the environment's")
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			lookups := 0
			c := newCommandLine(flag.NewFlagSet("loadtest", flag.ContinueOnError), envLookup(tt.env, &lookups))
			require.NoError(t, c.core.fs.Parse(append([]string{"-loadtest.out=" + out}, tt.args...)))
			sc := Scenario{Host: "http://127.0.0.1:1", Rate: 2, Tasks: []Task{getTask("GET /", "/", 1)}}
			p, err := resolve(sc, c.core)
			require.NoError(t, err, "resolve with environment %v, flags %q", tt.env, tt.args)
			tt.check(t, c, p)
			n := lookups
			_, err = resolve(sc, c.core)
			require.NoError(t, err, "resolve again")
			assert.Equal(t, n, lookups, "the environment is read once, at the first run")
		})
	}
}

// TestFlagsFromEnvThresholds: the thresholds of the environment are a
// comma-separated list, as the flag's.
func TestFlagsFromEnvThresholds(t *testing.T) {
	lookups := 0
	c := newCommandLine(flag.NewFlagSet("loadtest", flag.ContinueOnError),
		envLookup(map[string]string{"STEADYLOAD_THRESHOLD": "p95 < 300ms, GET /: failures < 0.5%"}, &lookups))
	require.NoError(t, c.core.fs.Parse(nil))
	_, err := resolve(Scenario{Host: "http://127.0.0.1:1", Rate: 2, Tasks: []Task{getTask("GET /", "/", 1)}}, c.core)
	require.NoError(t, err)
	assert.Equal(t, stringList{"p95 < 300ms", "GET /: failures < 0.5%"}, *c.parts.limits.list)
	assert.True(t, isSetIn(c.core.fs, "loadtest.threshold"))
}

// TestFlagsFromEnvInvalid: a value a flag refuses is an error naming the
// variable, before any request, every such variable reported, and again
// at every run; a password in a URL is not shown.
func TestFlagsFromEnvInvalid(t *testing.T) {
	env := map[string]string{
		"STEADYLOAD_DURATION":  "ten",
		"STEADYLOAD_USERS":     "many",
		"STEADYLOAD_ABORT":     "maybe",
		"STEADYLOAD_RATE":      "3",
		"STEADYLOAD_HOST":      "ftp://user:secret@127.0.0.1",
		"STEADYLOAD_UNRELATED": "x",
	}
	lookups := 0
	c := newCommandLine(flag.NewFlagSet("loadtest", flag.ContinueOnError), envLookup(env, &lookups))
	require.NoError(t, c.core.fs.Parse([]string{"-loadtest.out=" + t.TempDir()}))
	sc := Scenario{Rate: 2, Tasks: []Task{getTask("GET /", "/", 1)}}
	for range 2 {
		_, err := resolve(sc, c.core)
		require.Error(t, err)
		msg := err.Error()
		assert.Contains(t, msg, `environment STEADYLOAD_ABORT="maybe": invalid value for -loadtest.abort: parse error`)
		assert.Contains(t, msg, `environment STEADYLOAD_DURATION="ten": invalid value for -loadtest.duration: parse error`)
		assert.Contains(t, msg, `environment STEADYLOAD_USERS="many": invalid value for -loadtest.users: parse error`)
		assert.Contains(t, msg, `host "ftp://user:xxxxx@127.0.0.1": scheme "ftp" is not http or https`, "a value the flag takes is checked as the flag's")
		assert.NotContains(t, msg, "secret")
		assert.NotContains(t, msg, "STEADYLOAD_RATE")
	}
}
