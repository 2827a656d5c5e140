package loadtest

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/internal/pipeline"
)

// duetScenario is a short open-model duet of one task: the candidate is
// cand, the base base.
func duetScenario(cand, base string, rate float64, d time.Duration) Scenario {
	return Scenario{
		Host: cand, Duet: Duet{Base: base}, Rate: rate, Duration: d, Grace: 2 * time.Second,
		// The generator's own timeliness is not under test: a busy
		// machine must not fail these runs for it.
		LateTolerance: time.Second, MaxLateRatio: 0.5,
		Tasks: []Task{{Name: "GET /work", Do: func(ctx context.Context, u *User) error {
			_, err := u.Get(ctx, "/work")
			return err
		}}},
	}
}

// runDuet runs sc with the core, the gate's flags and the guard rails,
// on their own flags, and returns the last segment, the captured
// messages and the results folder.
func runDuet(t *testing.T, sc Scenario, args ...string) (*pipeline.Segment, *captureTB, string) {
	t.Helper()
	out := t.TempDir()
	fs := newFlagSet()
	fl, bf, sf := newFlags(fs), newBaselineFlags(fs), newSafetyFlags(fs)
	require.NoError(t, fs.Parse(append([]string{"-loadtest.out=" + out}, args...)))
	tb := newCaptureTB(t)
	seg := runWith(tb, sc, runOptions{flags: fl, parts: parts{baseline: bf, safety: sf}})
	return seg, tb, out
}

// TestDuetEndToEnd runs duets of 400 pairs against two loopback servers
// with lognormal latency: the same speed passes, a candidate ×2.5 slower
// fails p95, and each side gets its own result files.
func TestDuetEndToEnd(t *testing.T) {
	for _, tc := range []struct {
		name  string
		shape func(float64) float64
		fail  bool
	}{
		{"same speed", unchanged, false},
		{"candidate x2.5", slower(2.5), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			base, nb := lognormalServer(t, 11, unchanged)
			cand, nc := lognormalServer(t, 12, tc.shape)
			seg, tb, out := runDuet(t, duetScenario(cand.URL, base.URL, 200, 2*time.Second), "-loadtest.seed=7", "-loadtest.allow-high-load")
			require.Empty(t, tb.fatals)
			require.NotNil(t, seg)
			assert.Equal(t, nb.Load(), nc.Load(), "both targets get every start")
			var duetErrs []string
			for _, e := range tb.errs {
				if strings.HasPrefix(e, "loadtest: duet: ") {
					duetErrs = append(duetErrs, e)
				}
			}
			if tc.fail {
				require.NotEmpty(t, duetErrs, "errors: %q", tb.errs)
				assert.Contains(t, strings.Join(duetErrs, "\n"), "Aggregated: p95 +")
			} else {
				assert.Empty(t, tb.errs)
			}
			name := strings.ReplaceAll(t.Name(), "/", "_")
			for _, f := range []string{name + "_stats.csv", name + "_base_stats.csv", name + "_base_meta.csv", name + "_duet.csv"} {
				assert.FileExists(t, filepath.Join(out, f))
			}
			csv, err := os.ReadFile(filepath.Join(out, name+"_duet.csv"))
			require.NoError(t, err)
			assert.True(t, strings.HasPrefix(string(csv), "task,metric,unit,base,candidate,ratio,delta,shift,ci_low,ci_high,p,"), "%s", csv)
			assert.Contains(t, string(csv), "\nAggregated,failures,ratio,0.000000,0.000000,,0.000000,")
		})
	}
}

// flakyServer answers after 2 ms, and with a 500 every every-th request
// (never when every is 0).
func flakyServer(t *testing.T, every int64) *httptest.Server {
	var n atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		time.Sleep(2 * time.Millisecond)
		if i := n.Add(1); every > 0 && i%every == 0 {
			http.Error(w, "flaky", http.StatusInternalServerError)
			return
		}
		w.Write([]byte("ok"))
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestDuetFailures runs a duet of 400 starts whose candidate fails one
// request in ten and whose base fails none: the run fails on the paired
// failure ratios, naming the task, how much and how sure, with the
// failures rows in the duet CSV; the sides' own failure checks are off,
// so the duet's rule is the one under test.
func TestDuetFailures(t *testing.T) {
	base, cand := flakyServer(t, 0), flakyServer(t, 10)
	sc := duetScenario(cand.URL, base.URL, 200, 2*time.Second)
	sc.MaxFailureRatio = -1
	seg, tb, out := runDuet(t, sc, "-loadtest.seed=5", "-loadtest.allow-high-load")
	require.Empty(t, tb.fatals)
	require.NotNil(t, seg)
	var failures []string
	for _, e := range tb.errs {
		if strings.Contains(e, ": failures ") {
			failures = append(failures, e)
		}
	}
	t.Logf("%s", strings.Join(failures, "\n"))
	require.Len(t, failures, 2, "errors: %q", tb.errs)
	for i, task := range []string{"GET /work", "Aggregated"} {
		assert.Regexp(t, `^loadtest: duet: `+regexp.QuoteMeta(task)+`: failures \+\d+\.\d\d pts \(0\.00% → \d+\.\d\d%; 98% CI \+\d+\.\d\d \.\. \+\d+\.\d\d pts, p=0\.0000; discordant starts 0 A only, \d+ B only; tolerance \+1\.00 pts; \d+ pairs\): FAIL$`,
			failures[i])
	}
	csv, err := os.ReadFile(filepath.Join(out, strings.ReplaceAll(t.Name(), "/", "_")+"_duet.csv"))
	require.NoError(t, err)
	assert.Regexp(t, `(?m)^GET /work,failures,ratio,0\.000000,0\.\d+,,0\.\d+,,0\.\d+,0\.\d+,0\.0000,0\.0100,0\.0100,\d+,\d+,FAIL,$`, string(csv))
}

// TestDuetSecretGoesToBothTargets checks that the secret header reaches
// the base and the candidate, and the redirect of one to a third host
// never carries it.
func TestDuetSecretGoesToBothTargets(t *testing.T) {
	var third atomic.Int64
	other := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Authorization") != "" {
			third.Add(1)
		}
	}))
	t.Cleanup(other.Close)
	var got [2]atomic.Int64
	serve := func(i int) *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") == "Bearer s3cret-t0ken-value" {
				got[i].Add(1)
			}
			if r.URL.Path == "/away" {
				http.Redirect(w, r, other.URL+"/x", http.StatusFound)
			}
		}))
		t.Cleanup(s.Close)
		return s
	}
	base, cand := serve(0), serve(1)
	t.Setenv("DUET_TOKEN", "Bearer s3cret-t0ken-value")
	sc := duetScenario(cand.URL, base.URL, 20, time.Second)
	sc.Tasks = append(sc.Tasks, Task{Name: "GET /away", Do: func(ctx context.Context, u *User) error {
		_, err := u.Get(ctx, "/away")
		return err
	}})
	sc.MaxFailureRatio = -1
	_, tb, _ := runDuet(t, sc, "-loadtest.auth-header-env=DUET_TOKEN", "-loadtest.seed=3")
	require.Empty(t, tb.fatals)
	assert.Positive(t, got[0].Load(), "the base got the secret")
	assert.Equal(t, got[0].Load(), got[1].Load(), "both targets got it on every request")
	assert.Zero(t, third.Load(), "a third host never gets it")
}

// TestDuetBadSettings checks that a duet's settings are checked before
// any request.
func TestDuetBadSettings(t *testing.T) {
	srv, hits := lognormalServer(t, 13, unchanged)
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"bad base", []string{"-loadtest.duet=ftp://x"}, "duet base"},
		{"same target", []string{"-loadtest.duet=" + srv.URL}, "the same target"},
		{"bad order", []string{"-loadtest.duet=http://127.0.0.1:1", "-loadtest.duet-order=zigzag"}, `duet order "zigzag"`},
		{"update", []string{"-loadtest.duet=http://127.0.0.1:1", "-loadtest.update"}, "a duet records no baseline"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			sc := duetScenario(srv.URL, "", 10, time.Second)
			_, tb, _ := runDuet(t, sc, tc.args...)
			require.Len(t, tb.fatals, 1)
			assert.Contains(t, tb.fatals[0], tc.want)
		})
	}
	assert.Zero(t, hits.Load())
}
