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
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/")

// golden compares got with testdata/<name>, or rewrites it with -update.
func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update to create it)", err)
	}
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
	if err := HTML(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name()+".html", b.Bytes())

	page := b.String()
	for _, bad := range []string{"<script", "<link", "src=\"http", "href=\"http", "@import", "url("} {
		if strings.Contains(page, bad) {
			t.Errorf("report contains %q: it must have no external assets", bad)
		}
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
		if got := len(regexp.MustCompile(c.re).FindAllString(page, -1)); got != c.want {
			t.Errorf("%s: %d matches of %q; want %d", c.what, got, c.re, c.want)
		}
	}
	if !strings.Contains(page, `<text class="title" x="64" y="16">process_open_fds</text><text class="note" x="64" y="30">rose from`) {
		t.Errorf("the leaking fd count's chart does not say it rose")
	}
}

func TestHTMLMinimal(t *testing.T) {
	in := fixture()
	in = Input{Run: in.Run}
	in.Run.Windows = nil
	var b bytes.Buffer
	if err := HTML(&b, in); err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name()+".html", b.Bytes())
	if err := HTML(&b, Input{}); err == nil {
		t.Errorf("HTML(Input{}) = nil error; want one")
	}
}

func TestMarkdown(t *testing.T) {
	var b bytes.Buffer
	if err := Markdown(&b, fixture()); err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name()+".md", b.Bytes())
	md := b.String()
	if n := strings.Count(md, "```mermaid\nxychart-beta\n"); n != 2 {
		t.Errorf("%d Mermaid charts; want 2 (p95 per window, history)", n)
	}
	if !strings.Contains(md, "step at 03-09") {
		t.Errorf("history chart does not name the step's run")
	}
}

func TestExemplarsCSV(t *testing.T) {
	in := fixture()
	var b bytes.Buffer
	if err := WriteExemplarsCSV(&b, in.Run); err != nil {
		t.Fatal(err)
	}
	golden(t, t.Name()+".csv", b.Bytes())
	lines := strings.Split(strings.TrimSpace(b.String()), "\n")
	if want := 1 + 30*2*3; len(lines) != want {
		t.Errorf("%d lines; want %d (header + 3 per task per window)", len(lines), want)
	}
	if lines[0] != strings.Join(ExemplarsHeader, ",") {
		t.Errorf("header = %q", lines[0])
	}
	for i, l := range lines {
		if n := strings.Count(l, ",") + 1; n != len(ExemplarsHeader) {
			t.Errorf("line %d has %d fields; want %d", i+1, n, len(ExemplarsHeader))
		}
	}
	_ = result.AggregateName
}
