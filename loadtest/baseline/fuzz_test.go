package baseline

import (
	"bytes"
	"strings"
	"testing"

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

func FuzzReadHistograms(f *testing.F) {
	f.Add([]byte("Type,Name,Microseconds,Count\nGET,/a,1000,2\nGET,/a,2047,1\n,OnStart,5,1\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		hs, err := ReadHistograms(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
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

func fuzzRows[T any](f *testing.F, read func(string, *bytes.Reader) ([]T, error)) {
	f.Fuzz(func(t *testing.T, data []byte) {
		rows, err := read(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
		var once, twice bytes.Buffer
		if err := result.MarshalCSV(rows, &once); err != nil {
			t.Fatal(err)
		}
		again, err := read(fuzzName, bytes.NewReader(once.Bytes()))
		if err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, once.Bytes())
		}
		result.MarshalCSV(again, &twice)
		if once.String() != twice.String() {
			t.Fatalf("round trip changed the rows:\n%s\nthen\n%s", once.String(), twice.String())
		}
	})
}

func FuzzReadStats(f *testing.F) {
	fuzzRows(f, func(n string, r *bytes.Reader) ([]result.StatsRow, error) { return ReadStats(n, r) })
}

func FuzzReadWindows(f *testing.F) {
	fuzzRows(f, func(n string, r *bytes.Reader) ([]result.HistoryRow, error) { return ReadWindows(n, r) })
}

func FuzzReadParams(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ReadParams(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
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
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := result.ReadMeta(fuzzName, bytes.NewReader(data))
		checkErr(t, err)
		if err != nil {
			return
		}
		var once bytes.Buffer
		result.MarshalCSV(m.Rows(), &once)
		if _, err := result.ReadMeta(fuzzName, bytes.NewReader(once.Bytes())); err != nil {
			t.Fatalf("re-reading what was written: %v\n%s", err, once.Bytes())
		}
	})
}
