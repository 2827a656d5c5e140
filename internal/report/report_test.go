package report

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/steadyload/steadyload/loadtest/result"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites it with -update.
// A mismatch names the first line that differs, each side cut to 300
// bytes: the pages are single long lines that a full diff would bury.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		require.NoError(t, os.MkdirAll("testdata", 0o755))
		require.NoError(t, os.WriteFile(path, got, 0o644), "update %s", path)
		return
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "read the golden file (run with -update to create it)")
	if !bytes.Equal(got, want) {
		gl, wl := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
		for i := 0; i < len(gl) || i < len(wl); i++ {
			var g, w string
			if i < len(gl) {
				g = gl[i]
			}
			if i < len(wl) {
				w = wl[i]
			}
			if g != w {
				t.Fatalf("%s differs from the golden file at line %d:\ngot:  %.300s\nwant: %.300s\n(run with -update if the change is intended)", path, i+1, g, w)
			}
		}
	}
}

func TestHTML(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, HTML(&b, fixture()), "HTML")
	golden(t, t.Name()+".html", b.Bytes())

	page := b.String()
	for _, bad := range []string{"<script", "<link", "src=\"http", "href=\"http", "@import", "url("} {
		assert.NotContains(t, page, bad, "the report must have no external assets")
	}
	counts := []struct {
		what string
		re   string
		want int
	}{
		{"charts", `<svg class="chart"`, 2 + 1 + 2 + 1}, // two tasks, throughput, two signals, history
		{"baseline bands", `<polygon class="band"`, 2},
		{"exemplar circles", `<circle class="exemplar"`, 60},
		{"step markers", `<line class="marker"`, 1},
		{"rising fit", `stroke="#d62728" fill="none" stroke-width="1.8" stroke-dasharray`, 1},
		{"gate rows", `<td>POST /orders</td><td>p95</td>`, 1},
		{"findings", `<li class="(fail|warn)">`, 4},
	}
	for _, c := range counts {
		assert.Len(t, regexp.MustCompile(c.re).FindAllString(page, -1), c.want, "%s: matches of %q", c.what, c.re)
	}
	assert.Contains(t, page, `<text class="title" x="64" y="16">process_open_fds</text><text class="note" x="64" y="30">rose from`,
		"the leaking fd count's chart does not say it rose")
}

func TestHTMLMinimal(t *testing.T) {
	in := fixture()
	in = Input{Run: in.Run}
	in.Run.Windows = nil
	var b bytes.Buffer
	require.NoError(t, HTML(&b, in), "HTML")
	golden(t, t.Name()+".html", b.Bytes())
	assert.Error(t, HTML(&b, Input{}), "HTML(Input{})")
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	require.NoError(t, Markdown(&b, fixture()), "Markdown")
	golden(t, t.Name()+".md", b.Bytes())
	md := b.String()
	assert.Equal(t, 2, strings.Count(md, "```mermaid\nxychart-beta\n"), "Mermaid charts (p95 per window, history)")
	assert.Contains(t, md, "step at 03-09", "the history chart names the step's run")
}

func TestExemplarsCSV(t *testing.T) {
	in := fixture()
	var b bytes.Buffer
	require.NoError(t, WriteExemplarsCSV(&b, in.Run), "WriteExemplarsCSV")
	golden(t, t.Name()+".csv", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	assert.Len(t, lines, 1+30*2*3, "lines: header + 3 per task per window")
	assert.Equal(t, strings.Join(ExemplarsHeader, ","), lines[0], "header")
	for i, l := range lines {
		assert.Equal(t, len(ExemplarsHeader), strings.Count(l, ",")+1, "fields on line %d", i+1)
	}
	_ = result.AggregateName
}
