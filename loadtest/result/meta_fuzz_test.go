package result

import (
	"bytes"
	"reflect"
	"strings"
	"testing"
)

// FuzzReadMeta: whatever the bytes, ReadMeta does not panic; an error
// names the file and, when it is about a line, the line; what it accepts
// writes back to rows it reads again unchanged.
func FuzzReadMeta(f *testing.F) {
	var good bytes.Buffer
	if err := MarshalCSV(sampleRun().Meta.Rows(), &good); err != nil {
		f.Fatal(err)
	}
	f.Add(good.Bytes())
	f.Add([]byte(""))
	f.Add([]byte("Key,Value\n"))
	f.Add([]byte("Key,Value\ntest,\"a\nb\"\n"))
	f.Add([]byte(strings.Replace(good.String(), "status,complete", "status,aborted", 1)))
	f.Add([]byte(strings.Replace(good.String(), "rate,", "rate,NaN", 1)))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := ReadMeta("meta.csv", bytes.NewReader(data))
		if err != nil {
			if !strings.HasPrefix(err.Error(), "meta.csv:") {
				t.Fatalf("error %q does not start with the file name", err)
			}
			return
		}
		rows := m.Rows()
		var b bytes.Buffer
		if err := MarshalCSV(rows, &b); err != nil {
			t.Fatalf("MarshalCSV of accepted meta: %v", err)
		}
		m2, err := ReadMeta("meta.csv", &b)
		if err != nil {
			t.Fatalf("ReadMeta of its own output: %v\n%s", err, b.String())
		}
		if rows2 := m2.Rows(); !reflect.DeepEqual(rows, rows2) {
			t.Fatalf("round trip changed the rows:\n%v\n%v", rows, rows2)
		}
	})
}
