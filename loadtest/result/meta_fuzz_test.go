package result

import (
	"bytes"
	"math"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// FuzzReadMeta: whatever the bytes, ReadMeta does not panic; an error
// names the file and, when it is about a line, the line; what it accepts
// writes back to rows it reads again unchanged.
func FuzzReadMeta(f *testing.F) {
	var good bytes.Buffer
	if err := WriteMeta(&good, sampleRun().Meta); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte(""))
	f.Add([]byte("Key,Value\n"))
	f.Add([]byte("Key,Value\ntest,\"a\nb\"\n"))
	f.Add([]byte(strings.Replace(good.String(), "status,complete", "status,aborted", 1)))
	f.Add([]byte(strings.Replace(good.String(), "rate,", "rate,NaN", 1)))
	// One damaged value each: none may be accepted.
	for _, bad := range [][2]string{
		{"\nrate,0\n", "\nrate,NaN\n"}, {"\nrate,0\n", "\nrate,-20\n"}, {"\nrate,0\n", "\nrate,Inf\n"},
		{"\nusers,2\n", "\nusers,-2\n"}, {"\nusers,2\n", "\nusers,0\n"}, {"\nspawn_rate,1\n", "\nspawn_rate,+Inf\n"},
		{"\nduration,20s\n", "\nduration,-20s\n"}, {"\nelapsed,20s\n", "\nelapsed,9000h\n"},
		{"\nlate,0\n", "\nlate,-1\n"}, {"\n", "\r\n"}, {"\ntarget,", "\ntarget,\xff"}, {"0s\n", "0s"},
	} {
		s := strings.ReplaceAll(good.String(), bad[0], bad[1])
		if s == good.String() {
			f.Fatalf("seed %q changed nothing", bad)
		}
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMeta("meta.csv", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "meta.csv:") {
				t.Fatalf("error %q does not start with the file name", err)
			}
			return
		}
		if bytes.ContainsRune(data, '\r') || !utf8.Valid(data) || data[len(data)-1] != '\n' {
			t.Fatalf("accepted text the harness never writes: %q", data)
		}
		for _, x := range []float64{m.Rate, m.SpawnRate} {
			if math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				t.Fatalf("accepted a rate of %g", x)
			}
		}
		for _, d := range []time.Duration{m.Duration, m.Window, m.Grace, m.Elapsed, m.MaxLag, m.LagP50, m.LagP99, m.Coalesce} {
			if d < 0 || d > 31*24*time.Hour {
				t.Fatalf("accepted a duration of %s", d)
			}
		}
		if m.Users < 0 || m.MaxInFlight < 0 || m.Scheduled < 0 || m.Late < 0 || m.Dropped < 0 ||
			m.Model == "open" && m.Rate == 0 || m.Model == "closed" && m.Users == 0 {
			t.Fatalf("accepted meta out of range: %+v", m)
		}
		var once, twice bytes.Buffer
		if err := WriteMeta(&once, m); err != nil {
			t.Fatalf("WriteMeta of accepted meta: %v", err)
		}
		m2, err := ReadMeta("meta.csv", bytes.NewReader(once.Bytes()))
		if err != nil {
			t.Fatalf("ReadMeta of its own output: %v\n%s", err, once.String())
		}
		if err := WriteMeta(&twice, m2); err != nil {
			t.Fatalf("WriteMeta of re-read meta: %v", err)
		}
		if once.String() != twice.String() {
			t.Fatalf("round trip changed the rows:\n%s\n%s", once.String(), twice.String())
		}
	})
}
