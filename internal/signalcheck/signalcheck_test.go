package signalcheck

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"

	"github.com/steadyload/steadyload/internal/pipeline"
	"github.com/steadyload/steadyload/internal/signals"
)

func TestSplitSelectors(t *testing.T) {
	tests := []struct{ in, want string }{
		{"a,b", "a|b"},
		{` q{a="1",b="2"} , c `, `q{a="1",b="2"}|c`},
		{`q{a="x,}y"},z`, `q{a="x,}y"}|z`},
		{"", ""},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, strings.Join(SplitSelectors(tt.in), "|"), "SplitSelectors(%q)", tt.in)
	}
}

// TestNew: a part only when there is something to collect.
func TestNew(t *testing.T) {
	info := pipeline.Info{Window: time.Second, Logf: t.Logf}
	probe := signals.Probe{Name: "q"}
	tests := []struct {
		name string
		cfg  Config
		want bool
	}{
		{"nothing", Config{Interval: time.Second}, false},
		{"an endpoint", Config{URL: "http://127.0.0.1:9/metrics", Interval: time.Second}, true},
		{"a probe", Config{Probes: []signals.Probe{probe}, Interval: time.Second}, true},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, New(info, tt.cfg) != nil, "New(%s) != nil", tt.name)
	}
}

// TestValidate: the collector's own checks of the settings.
func TestValidate(t *testing.T) {
	ok := Config{URL: "http://127.0.0.1:9/metrics", Signals: signals.DefaultSignals, Interval: time.Second}
	assert.NoError(t, ok.Validate())
	bad := ok
	bad.Signals = append([]string{`queue{name=orders}`}, ok.Signals...)
	bad.Probes = []signals.Probe{{Name: "q"}}
	err := bad.Validate()
	if assert.Error(t, err) {
		assert.Contains(t, err.Error(), `signal "queue{name=orders}"`)
		assert.Contains(t, err.Error(), `probe "q": no Sample function`)
	}
}
