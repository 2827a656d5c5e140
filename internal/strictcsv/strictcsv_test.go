package strictcsv

import (
	"io"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
)

// TestReader: what the harness writes reads; each thing it never writes
// is refused with the file, the line and, where one is at fault, the
// column.
func TestReader(t *testing.T) {
	header := []string{"a", "b"}
	tests := []struct {
		in, want string // want "" reads fine
	}{
		{"a,b\n1,2\n3,\"x,y\"\n", ""},
		{"a,b\n", ""},
		{"", "f.csv:1: empty file, want the header a,b"},
		{"\n\n", "f.csv:1: no header, want a,b"},
		{"a,b\r\n1,2\r\n", "f.csv:1: line ends with CR LF"},
		{"a,b\n1,2\r\n", "f.csv:2: line ends with CR LF"},
		{"a,b\n1,\"x\ry\"\n", "f.csv:2: carriage return in the line"},
		{"a,b\n1,2", "f.csv:2: the last line has no line ending: the file was cut short"},
		{"a,b\n1,2\n3,\xff\n", "f.csv:3: b: \"\\xff\" is not valid UTF-8"},
		{"a,b\n1,2,3\n", "f.csv:2: wrong number of fields: 3, want 2 (a,b)"},
		{"a,b\n1\n", "f.csv:2: wrong number of fields: 1, want 2 (a,b)"},
		{"a\n", `f.csv:1: header is "a", want "a,b" (missing column "b")`},
		{"a,b,c\n", `f.csv:1: header is "a,b,c", want "a,b" (extra column "c")`},
		{"a,x\n", `f.csv:1: header is "a,x", want "a,b" (column 2: unknown column "x", want "b")`},
		{"b,a\n", `f.csv:1: header is "b,a", want "a,b" (column 1: "b", want "a")`},
		{"a,b\n1,\"2\n", "f.csv:2: extraneous or missing \" in quoted-field"},
		{"a,b\n1,\"2\n3\n4\"x\n", "f.csv:2: extraneous or missing \" in quoted-field (the record starting here runs to line 4)"},
	}
	for _, tt := range tests {
		err := readAll(tt.in, header)
		if tt.want == "" {
			assert.NoError(t, err, "reading %q", tt.in)
		} else {
			assert.ErrorContains(t, err, tt.want, "reading %q", tt.in)
		}
	}
}

func readAll(in string, header []string) error {
	r, err := NewReader("f.csv", strings.NewReader(in), header)
	if err != nil {
		return err
	}
	for {
		if _, _, err := r.Read(); err == io.EOF {
			return nil
		} else if err != nil {
			return err
		}
	}
}

// TestValues: numbers and durations out of their range are refused.
func TestValues(t *testing.T) {
	for _, s := range []string{"NaN", "Inf", "-Inf", "+Inf", "-20", "1e16", "x", ""} {
		x, err := Float(s, 0, MaxCount)
		assert.Error(t, err, "Float(%q, 0, %g) = %g", s, float64(MaxCount), x)
	}
	x, err := Float("0.5", 0, 1)
	if assert.NoError(t, err, "Float(0.5, 0, 1)") {
		assert.Equal(t, 0.5, x, "Float(0.5, 0, 1)")
	}
	for _, s := range []string{"-1", "1.5", "1e3", "x", "2000000000000000"} {
		n, err := Int(s, 0, MaxCount)
		assert.Error(t, err, "Int(%q) = %d", s, n)
	}
	for _, s := range []string{"-1s", "745h", "x", "1"} {
		d, err := Duration(s)
		assert.Error(t, err, "Duration(%q) = %s", s, d)
	}
	d, err := Duration("744h")
	if assert.NoError(t, err, "Duration(744h)") {
		assert.Equal(t, 31*24*time.Hour, d, "Duration(744h)")
	}
}
