package feed

import (
	"strings"
	"testing"
)

// fuzzRow has a field of each kind gocsv decodes differently.
type fuzzRow struct {
	ID    int     `csv:"id" json:"id"`
	Name  string  `csv:"name" json:"name"`
	Score float64 `csv:"score" json:"score"`
	OK    bool    `csv:"ok" json:"ok"`
}

// FuzzDecode: any file gives rows or an error naming the file, never a
// panic, and never both.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		"id,name,score,ok\n1,a,0.5,true\n",
		"\ufeffid,name,score,ok\r\n1,\"a\nb\",1e3,false\r\n",
		"id,name\n1,a\n",
		"id,name,score,ok,id\n",
		`{"id":1,"name":"a","score":0.5,"ok":true}` + "\n",
		"",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		for kind, decode := range map[string]func(string, []byte, func(fuzzRow) error) ([]fuzzRow, error){
			"csv": decodeCSV[fuzzRow], "jsonl": decodeJSONL[fuzzRow],
		} {
			rows, err := decode("f.txt", []byte(text), nil)
			switch {
			case err != nil && rows != nil:
				t.Errorf("%s decode(%q) = %d rows and error %v", kind, text, len(rows), err)
			case err != nil && !strings.HasPrefix(err.Error(), "f.txt:"):
				t.Errorf("%s decode(%q): error %q does not start with the file's name", kind, text, err)
			case err == nil && len(rows) == 0:
				t.Errorf("%s decode(%q): no rows and no error", kind, text)
			}
		}
	})
}
