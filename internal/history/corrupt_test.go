package history

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// setField sets field col (from 1) of line n (from 1) of a CSV text whose
// line n has no quoted field.
func setField(n, col int, v string) func([]byte) []byte {
	return func(b []byte) []byte {
		lines := strings.Split(string(b), "\n")
		f := strings.Split(lines[n-1], ",")
		f[col-1] = v
		lines[n-1] = strings.Join(f, ",")
		return []byte(strings.Join(lines, "\n"))
	}
}

// TestCorruptHistoryRefused damages one field of a history file written
// by the harness (the golden file of TestWrite) and of a signals history:
// reading it, as a run does before its first request, reports
// file:line: column: what, and appending to it is refused, the file
// keeping its bytes.
func TestCorruptHistoryRefused(t *testing.T) {
	hist, err := os.ReadFile(filepath.Join("testdata", "TestWrite.golden"))
	if err != nil {
		t.Fatal(err)
	}
	var sigs bytes.Buffer
	if err := WriteSignals(&sigs, signalRows()); err != nil {
		t.Fatal(err)
	}
	type file struct {
		name string
		good []byte
	}
	h, s := file{FileName, hist}, file{SignalsFileName, sigs.Bytes()}
	tests := []struct {
		name string
		file file
		edit func([]byte) []byte
		want string
	}{
		{"rate NaN", h, setField(2, 8, "NaN"), `:2: rate: not a non-negative number: "NaN"`},
		{"rate Inf", h, setField(3, 8, "Inf"), `:3: rate: not a non-negative number: "Inf"`},
		{"rate -20", h, setField(2, 8, "-20"), `:2: rate: not a non-negative number: "-20"`},
		{"p95 1e14 ms", h, setField(2, 11, "1e14"), `:2: p95_ms: milliseconds "1e14" out of range`},
		{"failure ratio 2", h, setField(3, 7, "2"), `:3: failure_ratio: not a non-negative number: "2": out of range`},
		{"se Inf", h, setField(2, 13, "Inf"), `:2: se_ln_p95: not a non-negative number: "Inf"`},
		{"requests -20", h, setField(2, 5, "-20"), `:2: requests: not a count: "-20"`},
		{"CRLF", h, func(b []byte) []byte { return bytes.ReplaceAll(b, []byte("\n"), []byte("\r\n")) }, ":1: line ends with CR LF"},
		{"invalid UTF-8", h, setField(3, 4, "Aggr\xe9gated"), `:3: task: "Aggr\xe9gated" is not valid UTF-8`},
		{"missing column", h, func(b []byte) []byte { return bytes.Replace(b, []byte(",run_id\n"), []byte("\n"), 1) }, `:1: header is "` + strings.Join(Header[:13], ",") + `", want "` + strings.Join(Header, ",") + `" (missing column "run_id")`},
		{"extra column", h, setField(2, 14, "0011223344556677,x"), ":2: wrong number of fields: 15, want 14"},
		{"empty", h, func([]byte) []byte { return nil }, ":1: empty file"},
		{"truncated", h, func(b []byte) []byte { return b[:len(b)-6] }, ":4: the last line has no line ending"},
		{"signal mean Inf", s, setField(2, 8, "Inf"), `:2: mean: bad value "Inf"`},
		{"signal first NaN", s, setField(3, 6, "NaN"), `:3: first: bad value "NaN"`},
		{"signal p_rise -20", s, setField(2, 11, "-20"), `:2: p_rise: bad value "-20"`},
		{"signal samples 0", s, setField(2, 5, "0"), `:2: samples: bad value "0"`},
		{"signal CRLF", s, func(b []byte) []byte { return bytes.Replace(b, []byte("\n"), []byte("\r\n"), 2) }, ":1: line ends with CR LF"},
		{"signal name invalid UTF-8", s, setField(4, 4, "queue\xffdepth"), `:4: signal: "queue\xffdepth" is not valid UTF-8`},
		{"signal truncated", s, func(b []byte) []byte { return b[:len(b)-1] }, ":4: the last line has no line ending"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), tt.file.name)
			bad := tt.edit(bytes.Clone(tt.file.good))
			if bytes.Equal(bad, tt.file.good) {
				t.Fatal("the corruption changed nothing")
			}
			if err := os.WriteFile(path, bad, 0o644); err != nil {
				t.Fatal(err)
			}
			want := path + tt.want
			var readErr, appendErr error
			if tt.file.name == FileName {
				if _, err := ReadFile(path); err != nil {
					readErr = err
				}
				row := sample()[2]
				row.Time, row.RunID = row.Time.AddDate(1, 0, 0), "next"
				appendErr = Append(path, []Row{row})
			} else {
				if _, err := ReadSignalsFile(path); err != nil {
					readErr = err
				}
				row := signalRows()[2]
				row.Time, row.RunID = row.Time.AddDate(1, 0, 0), "next"
				appendErr = AppendSignals(path, []SignalRow{row})
			}
			if readErr == nil || !strings.Contains(readErr.Error(), want) {
				t.Errorf("reading the damaged file = %v;\nwant an error containing %q", readErr, want)
			}
			if appendErr == nil || !strings.Contains(appendErr.Error(), want) {
				t.Errorf("appending to the damaged file = %v;\nwant it refused with %q", appendErr, want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(after, bad) {
				t.Errorf("the damaged file was rewritten")
			}
		})
	}
	for _, f := range []file{h, s} {
		path := filepath.Join(t.TempDir(), f.name)
		os.WriteFile(path, f.good, 0o644)
		_, err1 := ReadFile(path)
		_, err2 := ReadSignalsFile(path)
		if f.name == FileName && err1 != nil || f.name == SignalsFileName && err2 != nil {
			t.Errorf("the undamaged %s does not read: %v %v", f.name, err1, err2)
		}
	}
}
