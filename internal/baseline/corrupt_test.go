package baseline

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/steadyload/steadyload/loadtest/result"
)

// committedRun is a run of the repository's own baseline, as recorded by
// the harness.
const committedRun = "../../baseline/local/TestOrdersSteadyRate/20261127T033038Z-dc4fca298835e1ef"

// corruption is one damage done to one file of a recorded run.
type corruption struct {
	name string
	file string
	edit func([]byte) []byte
	want string // the error names the file, then this: line, column, what
}

// setCSVField sets field col (from 1) of line n (from 1) of a CSV file with
// no quoted fields.
func setCSVField(n, col int, v string) func([]byte) []byte {
	return func(b []byte) []byte {
		lines := strings.Split(string(b), "\n")
		f := strings.Split(lines[n-1], ",")
		f[col-1] = v
		lines[n-1] = strings.Join(f, ",")
		return []byte(strings.Join(lines, "\n"))
	}
}

// setMeta sets the value of a key of a meta or gate file.
func setMeta(key, v string) func([]byte) []byte {
	return func(b []byte) []byte {
		lines := strings.Split(string(b), "\n")
		for i, l := range lines {
			if k, _, ok := strings.Cut(l, ","); ok && k == key {
				lines[i] = key + "," + v
			}
		}
		return []byte(strings.Join(lines, "\n"))
	}
}

// dropColumn removes the last column of every line.
func dropColumn(b []byte) []byte {
	lines := strings.Split(string(b), "\n")
	for i, l := range lines {
		if j := strings.LastIndexByte(l, ','); j >= 0 {
			lines[i] = l[:j]
		}
	}
	return []byte(strings.Join(lines, "\n"))
}

func crlf(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }

// corruptions are one damaged field each, as found in the field: by hand,
// by a tool, by a checkout or a crash of something else.
var corruptions = []corruption{
	{"meta rate NaN", MetaFile, setMeta("rate", "NaN"), `meta.csv:11: rate: bad value "NaN"`},
	{"meta rate negative", MetaFile, setMeta("rate", "-20"), `meta.csv:11: rate: bad value "-20"`},
	{"meta rate Inf", MetaFile, setMeta("rate", "Inf"), `meta.csv:11: rate: bad value "Inf"`},
	{"meta rate zero", MetaFile, setMeta("rate", "0"), `meta.csv:11: rate: 0 in the open model`},
	{"meta duration negative", MetaFile, setMeta("duration", "-30s"), `meta.csv:13: duration: bad value "-30s"`},
	{"meta elapsed a year", MetaFile, setMeta("elapsed", "8760h"), `meta.csv:17: elapsed: bad value "8760h": out of range`},
	{"meta scheduled negative", MetaFile, setMeta("scheduled", "-1"), `meta.csv:23: scheduled: bad value "-1"`},
	{"meta CRLF", MetaFile, crlf, `meta.csv:1: line ends with CR LF`},
	{"meta invalid UTF-8", MetaFile, setMeta("target", "http://h\xff/"), `meta.csv:18: Value: "http://h\xff/" is not valid UTF-8`},
	{"meta truncated", MetaFile, func(b []byte) []byte { return b[:len(b)-4] }, `meta.csv:28: the last line has no line ending`},
	{"gate tau NaN", GateFile, setMeta("tau", "NaN"), `gate.csv:8: tau: bad value "NaN"`},
	{"gate empty", GateFile, func([]byte) []byte { return nil }, `gate.csv:1: empty file`},
	{"stats p95 1e14 ms", StatsFile, setCSVField(2, 17, "1e14"), `stats.csv:2: 95%: milliseconds "1e14" out of range`},
	{"stats mean Inf", StatsFile, setCSVField(2, 6, "Inf"), `stats.csv:2: Average Response Time: bad number "Inf"`},
	{"stats mean 1e14 ms", StatsFile, setCSVField(2, 6, "1e14"), `stats.csv:2: Average Response Time: bad number "1e14": out of range`},
	{"stats failure ratio above 1", StatsFile, setCSVField(3, 23, "1.5"), `stats.csv:3: Failure Ratio: bad number "1.5": out of range`},
	{"stats requests negative", StatsFile, setCSVField(3, 3, "-20"), `stats.csv:3: Request Count: bad count "-20"`},
	{"stats name invalid UTF-8", StatsFile, setCSVField(2, 2, "/ord\xe9rs"), `stats.csv:2: Name: "/ord\xe9rs" is not valid UTF-8`},
	{"stats missing column", StatsFile, dropColumn, `stats.csv:1: header is`},
	{"stats CRLF", StatsFile, crlf, `stats.csv:1: line ends with CR LF`},
	{"windows rate NaN", WindowsFile, setCSVField(2, 5, "NaN"), `windows.csv:2: Requests/s: bad number "NaN"`},
	{"windows p95 1e14 ms", WindowsFile, setCSVField(4, 12, "1e14"), `windows.csv:4: 95%: milliseconds "1e14" out of range`},
	{"windows extra column", WindowsFile, setCSVField(3, 29, "10.351,7"), `windows.csv:3: wrong number of fields: 30, want 29`},
	{"windows truncated", WindowsFile, func(b []byte) []byte { return b[:len(b)-30] }, `windows.csv:14: the last line has no line ending`},
	{"histograms count negative", HistogramsFile, setCSVField(2, 4, "-20"), `histograms.csv:2: Count "-20"`},
	{"histograms 1e14 us", HistogramsFile, setCSVField(2, 3, "100000000000000"), `histograms.csv:2: Microseconds "100000000000000"`},
	{"histograms empty", HistogramsFile, func([]byte) []byte { return nil }, `histograms.csv:1: empty file`},
	{"histograms truncated", HistogramsFile, func(b []byte) []byte { return b[:len(b)-3] }, `histograms.csv:291: the last line has no line ending`},
}

// TestCorruptRunRefused damages one field of a committed baseline run at
// a time: Load (what a run does before its first request) reports
// file:line: column: what, and Record (-loadtest.update) refuses to touch
// the baseline: the damaged file keeps its bytes, no run is removed.
func TestCorruptRunRefused(t *testing.T) {
	if _, err := Load(filepath.Dir(committedRun)); err != nil {
		t.Fatalf("the committed baseline does not load: %v", err)
	}
	for _, c := range corruptions {
		t.Run(c.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "local", "TestOrdersSteadyRate")
			run := filepath.Join(dir, filepath.Base(committedRun))
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.CopyFS(run, os.DirFS(committedRun)); err != nil {
				t.Fatal(err)
			}
			path := filepath.Join(run, c.file)
			good, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			bad := c.edit(bytes.Clone(good))
			if bytes.Equal(bad, good) {
				t.Fatal("the corruption changed nothing")
			}
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			_, err = Load(dir)
			if want := run + string(filepath.Separator) + c.want; err == nil || !strings.Contains(err.Error(), want) {
				t.Fatalf("Load = %v;\nwant an error containing %q", err, want)
			}
			// A new run of another shape would remove every old run: not
			// these, which cannot be read.
			newer := fakeRun(1_000_000, 7)
			if _, err := Record(dir, newer, params, 1); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Errorf("Record over the damaged run = %v; want it refused with %q", err, c.want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
				t.Errorf("%s was rewritten", c.file)
			}
			for _, f := range []string{MetaFile, GateFile, StatsFile, HistogramsFile, WindowsFile} {
				if _, err := os.Stat(filepath.Join(run, f)); err != nil {
					t.Errorf("the damaged run lost %s: %v", f, err)
				}
			}
			if _, err := os.Stat(filepath.Join(dir, RunName(newer.Meta))); err == nil {
				t.Errorf("Record wrote a run beside the damaged one")
			}
		})
	}
}

// TestCorruptTestdataRefused damages the golden result files under
// testdata/csv, which the baseline files share their formats with, and
// reads them with the baseline's readers.
func TestCorruptTestdataRefused(t *testing.T) {
	const dir = "../../testdata/csv"
	tests := []struct {
		name, file string
		edit       func([]byte) []byte
		read       func(string, []byte) error
		want       string
	}{
		{"meta users 0", "TestSample_sub_meta.csv", setMeta("users", "0"), readMeta, ":8: users: 0 in the closed model"},
		{"meta spawn rate NaN", "TestSample_sub_meta.csv", setMeta("spawn_rate", "NaN"), readMeta, `:9: spawn_rate: bad value "NaN"`},
		{"meta window Inf", "TestSample_sub_meta.csv", setMeta("window", "Inf"), readMeta, `:14: window: bad value "Inf"`},
		{"meta CRLF", "TestSample_sub_meta.csv", crlf, readMeta, ":1: line ends with CR LF"},
		{"meta missing column", "TestSample_sub_meta.csv", dropColumn, readMeta, `:1: header is "Key", want "Key,Value" (missing column "Value")`},
		{"meta truncated", "TestSample_sub_meta.csv", func(b []byte) []byte { return b[:len(b)-1] }, readMeta, ":29: the last line has no line ending"},
		{"stats p95 1e14 ms", "TestSample_sub_stats.csv", setCSVField(2, 17, "1e14"), readStats, `:2: 95%: milliseconds "1e14" out of range`},
		{"stats requests/s -20", "TestSample_sub_stats.csv", setCSVField(2, 10, "-20"), readStats, `:2: Requests/s: bad number "-20"`},
		{"stats invalid UTF-8", "TestSample_sub_stats.csv", setCSVField(2, 1, "G\xc3T"), readStats, `:2: Type: "G\xc3T" is not valid UTF-8`},
		{"stats empty", "TestSample_sub_stats.csv", func([]byte) []byte { return nil }, readStats, ":1: empty file"},
		{"history NaN", "TestSample_sub_stats_history.csv", setCSVField(2, 29, "NaN"), readWindows, `:2: Window Average Response Time: bad number "NaN"`},
		{"history extra column", "TestSample_sub_stats_history.csv", func(b []byte) []byte { return bytes.Replace(b, []byte("\n"), []byte(",x\n"), 1) }, readWindows, `:1: header is`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			good, err := os.ReadFile(filepath.Join(dir, tt.file))
			if err != nil {
				t.Fatal(err)
			}
			if err := tt.read(tt.file, good); err != nil {
				t.Fatalf("the committed %s does not read: %v", tt.file, err)
			}
			bad := tt.edit(bytes.Clone(good))
			if bytes.Equal(bad, good) {
				t.Fatal("the corruption changed nothing")
			}
			if err := tt.read(tt.file, bad); err == nil || !strings.Contains(err.Error(), tt.file+tt.want) {
				t.Errorf("reading the damaged %s = %v;\nwant an error containing %q", tt.file, err, tt.file+tt.want)
			}
		})
	}
}

func readMeta(name string, b []byte) error {
	_, err := result.ReadMeta(name, bytes.NewReader(b))
	return err
}

func readStats(name string, b []byte) error {
	_, err := result.ReadRows[result.StatsRow](name, bytes.NewReader(b))
	return err
}

func readWindows(name string, b []byte) error {
	_, err := result.ReadRows[result.HistoryRow](name, bytes.NewReader(b))
	return err
}
