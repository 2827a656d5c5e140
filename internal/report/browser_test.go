package report

import (
	"bytes"
	"context"
	"image"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// browser returns the path of a Chromium-family browser, or "".
func browser() string {
	if p := os.Getenv("CHROME_BIN"); p != "" {
		return p
	}
	for _, name := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable", "chrome", "headless_shell"} {
		if p, err := exec.LookPath(name); err == nil {
			return p
		}
	}
	return ""
}

// TestBrowserRendersCharts opens the report in a real headless browser: the
// DOM it builds must hold every chart as SVG, and a screenshot must show
// the series drawn in their colours.
func TestBrowserRendersCharts(t *testing.T) {
	bin := browser()
	if bin == "" {
		t.Skip("no Chromium-family browser found (install Debian's chromium, or set CHROME_BIN)")
	}
	dir := t.TempDir()
	page := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	require.NoError(t, HTML(&b, fixture()), "HTML")
	require.NoError(t, os.WriteFile(page, b.Bytes(), 0o644), "write the page")
	ctx, cancel := context.WithTimeout(t.Context(), 90*time.Second)
	defer cancel()
	run := func(args ...string) []byte {
		t.Helper()
		args = append([]string{"--headless", "--no-sandbox", "--disable-gpu", "--no-first-run", "--disable-extensions",
			"--hide-scrollbars", "--user-data-dir=" + filepath.Join(dir, "profile")}, args...)
		cmd := exec.CommandContext(ctx, bin, append(args, "file://"+page)...)
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		require.NoError(t, err, "%s %s\n%s", bin, strings.Join(args, " "), stderr.String())
		return out
	}

	dom := string(run("--dump-dom"))
	for what, want := range map[string]int{
		`<svg class="chart"`:       6,
		`<path class="series"`:     2*4 + 2 + 2*2 + 1,
		`<polygon class="band"`:    2,
		`<circle class="exemplar"`: 60,
		`<line class="marker"`:     1,
	} {
		assert.Equal(t, want, strings.Count(dom, what), "count of %s…> in the browser's DOM", what)
	}

	shot := filepath.Join(dir, "shot.png")
	run("--window-size=1600,3400", "--screenshot="+shot)
	f, err := os.Open(shot)
	require.NoError(t, err, "open the screenshot")
	defer f.Close()
	img, err := png.Decode(f)
	require.NoError(t, err, "decode the screenshot")
	// The series colours must cover a fair number of pixels: lines drawn,
	// not an empty frame.
	for _, c := range []struct {
		name    string
		r, g, b int
		min     int
	}{
		{"p50 blue", 0x1f, 0x77, 0xb4, 2000},
		{"p90 orange", 0xff, 0x7f, 0x0e, 800},
		{"p95 green", 0x2c, 0xa0, 0x2c, 800},
		{"p99 / rising red", 0xd6, 0x27, 0x28, 800},
	} {
		assert.GreaterOrEqual(t, countColor(img, c.r, c.g, c.b), c.min, "pixels of %s in the screenshot (charts not drawn?)", c.name)
	}
	if t.Failed() {
		keep := filepath.Join(os.TempDir(), "steadyload-report-shot.png")
		if data, err := os.ReadFile(shot); err == nil && os.WriteFile(keep, data, 0o644) == nil {
			t.Logf("screenshot kept at %s", keep)
		}
	}
}

func countColor(img image.Image, r, g, b int) int {
	n := 0
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y++ {
		for x := bounds.Min.X; x < bounds.Max.X; x++ {
			pr, pg, pb, _ := img.At(x, y).RGBA()
			if near(int(pr>>8), r) && near(int(pg>>8), g) && near(int(pb>>8), b) {
				n++
			}
		}
	}
	return n
}

func near(a, b int) bool { return a-b < 24 && b-a < 24 }
