package baseline

import (
	"bytes"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/steadyload/steadyload/loadtest/result"
)

// The fuzz tests check each reader: it never panics, every error names the
// file and a line, and what it accepts survives a write and a re-read
// unchanged. Seed corpora are under testdata/fuzz/.

const fuzzName = "f.csv"

func checkErr(t *testing.T, err error) {
	t.Helper()
	if err != nil && !strings.HasPrefix(err.Error(), fuzzName+":") {
		t.Fatalf("error %q does not start with %q", err, fuzzName+":")
	}
}

// seedCommitted adds the committed baseline run's file and each damaged
// version of it in corruptions to the seed corpus.
func seedCommitted(f *testing.F, file string) {
	good, err := os.ReadFile(filepath.Join(committedRun, file))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	for _, c := range corruptions {
		if c.file == file {
			f.Add(c.edit(bytes.Clone(good)))
		}
	}
}

// checkText fails when a reader accepted text the harness never writes.
func checkText(t *testing.T, data []byte) {
	t.Helper()
	if bytes.ContainsRune(data, '\r') || !utf8.Valid(data) || len(data) > 0 && data[len(data)-1] != '\n' {
		t.Fatalf("accepted text the harness never writes: %q", data)
	}
}

// checkValues fails when a row accepted holds a number out of its range:
// latencies above result.MaxReadLatency, numbers negative or not finite.
func checkValues(t *testing.T, row any) {
	t.Helper()
	v := reflect.ValueOf(row)
	for i := range v.NumField() {
		f, name := v.Field(i), v.Type().Field(i).Name
		switch x := f.Interface().(type) {
		case result.Millis:
			if x < 0 || int64(x) > result.MaxReadLatency {
				t.Fatalf("accepted %s = %d µs", name, x)
			}
			continue
		case result.Ratio:
			if x > 1 {
				t.Fatalf("accepted %s = %g", name, x)
			}
		}
		switch f.Kind() {
		case reflect.Float64:
			if x := f.Float(); math.IsNaN(x) || math.IsInf(x, 0) || x < 0 {
				t.Fatalf("accepted %s = %g", name, x)
			}
		case reflect.Int64:
			if x := f.Int(); x < 0 {
				t.Fatalf("accepted %s = %d", name, x)
			}
		}
	}
}

func FuzzReadHistograms(f *testing.F) {
	f.Add([]byte("Type,Name,Microseconds,Count\nGET,/a,1000,2\nGET,/a,2047,1\n,OnStart,5,1\n"))
	seedCommitted(f, HistogramsFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := ReadHistograms(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
		checkText(t, data)
		var out bytes.Buffer
		if err := WriteHistograms(&out, hs); err != nil {
			t.Fatal(err)
		}
		again, err := ReadHistograms(fuzzName, bytes.NewReader(out.Bytes()))
		if err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, out.Bytes())
		}
		if len(again) != len(hs) {
			t.Fatalf("round trip: %d tasks, then %d", len(hs), len(again))
		}
		for i := range hs {
			if again[i].Key() != hs[i].Key() || !again[i].Latency.Equals(hs[i].Latency) {
				t.Fatalf("round trip changed task %q", hs[i].Key())
			}
		}
	})
}

func fuzzRows[T result.Row](f *testing.F, read func(string, *bytes.Reader) ([]T, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := read(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
		checkText(t, data)
		for _, r := range rows {
			checkValues(t, r)
		}
		var once, twice bytes.Buffer
		if err := result.WriteRows(&once, rows); err != nil {
			t.Fatal(err)
		}
		again, err := read(fuzzName, bytes.NewReader(once.Bytes()))
		if err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, once.Bytes())
		}
		result.WriteRows(&twice, again)
		if once.String() != twice.String() {
			t.Fatalf("round trip changed the rows:\n%s\nthen\n%s", once.String(), twice.String())
		}
	})
}

func FuzzReadStats(f *testing.F) {
	seedCommitted(f, StatsFile)
	fuzzRows(f, func(n string, r *bytes.Reader) ([]result.StatsRow, error) {
		return result.ReadRows[result.StatsRow](n, r)
	})
}

func FuzzReadWindows(f *testing.F) {
	seedCommitted(f, WindowsFile)
	fuzzRows(f, func(n string, r *bytes.Reader) ([]result.HistoryRow, error) {
		return result.ReadRows[result.HistoryRow](n, r)
	})
}

func FuzzReadParams(f *testing.F) {
	seedCommitted(f, GateFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadParams(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
		checkText(t, data)
		var once, twice bytes.Buffer
		WriteParams(&once, p)
		again, err := ReadParams(fuzzName, bytes.NewReader(once.Bytes()))
		if err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, once.Bytes())
		}
		WriteParams(&twice, again)
		if once.String() != twice.String() {
			t.Fatalf("round trip changed the parameters:\n%s\nthen\n%s", once.String(), twice.String())
		}
	})
}

// FuzzReadMeta checks result.ReadMeta as the baseline uses it.
func FuzzReadMeta(f *testing.F) {
	seedCommitted(f, MetaFile)
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := result.ReadMeta(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
		checkText(t, data)
		if x := m.Rate; math.IsNaN(x) || math.IsInf(x, 0) || x < 0 || m.Model == "open" && x == 0 {
			t.Fatalf("accepted a rate of %g in the %s model", x, m.Model)
		}
		var once bytes.Buffer
		result.WriteMeta(&once, m)
		if _, err := result.ReadMeta(fuzzName, bytes.NewReader(once.Bytes())); err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, once.Bytes())
		}
	})
}
