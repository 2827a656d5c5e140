package feed_test

import (
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/steadyload/steadyload/loadtest"
	"github.com/steadyload/steadyload/loadtest/feed"
)

// row is the test data of these tests.
type row struct {
	ID   int    `csv:"id" json:"id"`
	Name string `csv:"name" json:"name"`
}

// rows makes n rows, IDs from 0.
func rows(n int) []row {
	rs := make([]row, n)
	for i := range rs {
		rs[i] = row{ID: i, Name: fmt.Sprintf("r%d", i)}
	}
	return rs
}

// users makes n users as a run with seed would, each with its own Rand.
func users(n int, seed uint64) []*loadtest.User {
	us := make([]*loadtest.User, n)
	for i := range us {
		us[i] = &loadtest.User{ID: i, Rand: rand.New(rand.NewPCG(seed, uint64(i)))}
	}
	return us
}

// drain has every user ask f for up to n rows at once, each stopping at
// its first error; it returns each user's rows and error.
func drain(f *feed.Feed[row], us []*loadtest.User, n int) ([][]row, []error) {
	got := make([][]row, len(us))
	errs := make([]error, len(us))
	var wg sync.WaitGroup
	for i, u := range us {
		wg.Go(func() {
			for range n {
				r, err := f.Next(u)
				if err != nil {
					errs[i] = err
					return
				}
				got[i] = append(got[i], r)
				runtime.Gosched() // let the users interleave
			}
		})
	}
	wg.Wait()
	return got, errs
}

// counts is how many times each row ID was handed out, in all.
func counts(got [][]row, n int) []int {
	c := make([]int, n)
	for _, rs := range got {
		for _, r := range rs {
			c[r.ID]++
		}
	}
	return c
}

// repeat is n copies of v.
func repeat(v, n int) []int { return slices.Repeat([]int{v}, n) }

// TestOrders hands rows to several users at once, for every order and
// end policy.
func TestOrders(t *testing.T) {
	const nrows, nusers, each = 5, 4, 10 // 40 asked for: 8 cycles
	tests := []struct {
		name    string
		opts    feed.Options[row]
		newErr  string                                        // the error making the feed
		check   func(t *testing.T, got [][]row, errs []error) // rows and errors
		sameRun bool                                          // two runs with one seed hand each user the same rows
	}{{
		name: "sequential cycle",
		check: func(t *testing.T, got [][]row, errs []error) {
			assert.Equal(t, make([]error, nusers), errs, "errors")
			assert.Equal(t, repeat(nusers*each/nrows, nrows), counts(got, nrows), "times each row was handed out: once per cycle")
		},
	}, {
		name: "sequential stop",
		opts: feed.Options[row]{End: feed.Stop},
		check: func(t *testing.T, got [][]row, errs []error) {
			assert.Equal(t, repeat(1, nrows), counts(got, nrows), "times each row was handed out: once")
			for i, err := range errs {
				require.ErrorIs(t, err, loadtest.ErrStop, "user %d's error", i)
				assert.EqualError(t, err, "feed rows ran out after 5 rows: load stopped", "user %d's error", i)
			}
		},
	}, {
		name:    "random cycle",
		opts:    feed.Options[row]{Order: feed.Random},
		sameRun: true,
		check: func(t *testing.T, got [][]row, errs []error) {
			assert.Equal(t, make([]error, nusers), errs, "errors")
			c := counts(got, nrows)
			assert.Equal(t, nusers*each, sum(c), "rows handed out")
			assert.NotContains(t, c, 0, "a row never drawn in %d draws of %d: %v", nusers*each, nrows, c)
		},
	}, {
		name:    "random stop",
		opts:    feed.Options[row]{Order: feed.Random, End: feed.Stop},
		sameRun: false, // which user's draw is the last depends on the interleaving
		check: func(t *testing.T, got [][]row, errs []error) {
			assert.Equal(t, nrows, sum(counts(got, nrows)), "rows handed out: as many as the feed has")
			for i, err := range errs {
				require.ErrorIs(t, err, loadtest.ErrStop, "user %d's error", i)
			}
		},
	}, {
		name:    "per user cycle",
		opts:    feed.Options[row]{Order: feed.PerUser},
		sameRun: true,
		check: func(t *testing.T, got [][]row, errs []error) {
			assert.Equal(t, make([]error, nusers), errs, "errors")
			for i, rs := range got {
				assert.Equal(t, slices.Repeat([]row{{ID: i, Name: fmt.Sprintf("r%d", i)}}, each), rs, "user %d's rows: its own, every time", i)
			}
		},
	}, {
		name:   "per user stop",
		opts:   feed.Options[row]{Order: feed.PerUser, End: feed.Stop},
		newErr: "feed rows: one row per user is never used up: End Stop does not apply",
	}, {
		name:   "unknown order",
		opts:   feed.Options[row]{Order: 7},
		newErr: "feed rows: unknown order 7",
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := feed.Slice(rows(nrows), tt.opts)
			if tt.newErr != "" {
				assert.EqualError(t, err, tt.newErr, "Slice(%d rows, %+v)", nrows, tt.opts)
				return
			}
			require.NoError(t, err, "Slice(%d rows, %+v)", nrows, tt.opts)
			got, errs := drain(f, users(nusers, 42), each)
			tt.check(t, got, errs)
			if tt.sameRun {
				f2, err := feed.Slice(rows(nrows), tt.opts)
				require.NoError(t, err)
				again, _ := drain(f2, users(nusers, 42), each)
				assert.Equal(t, got, again, "the rows each user got, in a second run with the same seed")
			}
		})
	}
}

func sum(c []int) int {
	s := 0
	for _, x := range c {
		s += x
	}
	return s
}

// TestPerUserTooFewRows: a user without a row gets an error naming the
// feed and the counts, which is a failure, not a stop.
func TestPerUserTooFewRows(t *testing.T) {
	f, err := feed.Slice(rows(3), feed.Options[row]{Order: feed.PerUser, Name: "accounts.csv"})
	require.NoError(t, err)
	assert.Equal(t, 3, f.Len(), "Len()")
	us := users(5, 1)
	_, err = f.Next(us[2])
	require.NoError(t, err, "Next(user 2)")
	_, err = f.Next(us[3])
	require.Error(t, err, "Next(user 3)")
	assert.NotErrorIs(t, err, loadtest.ErrStop, "Next(user 3): a missing row is a failure, not a stop")
	assert.EqualError(t, err, "feed accounts.csv has 3 rows, one per user, but user 3 asks for row 4: give it at least as many rows as the run has users")
}

// TestNoAllocs: Next allocates nothing, whatever its order, and not when
// the feed has run out either.
func TestNoAllocs(t *testing.T) {
	for _, opts := range []feed.Options[row]{
		{}, {End: feed.Stop}, {Order: feed.Random}, {Order: feed.Random, End: feed.Stop}, {Order: feed.PerUser},
	} {
		f, err := feed.Slice(rows(3), opts)
		require.NoError(t, err)
		u := users(1, 1)[0]
		allocs := testing.AllocsPerRun(100, func() { _, _ = f.Next(u) })
		assert.Zero(t, allocs, "allocations per Next with %+v", opts)
	}
}

// write writes text to a file named name in a new temporary folder and
// returns its path.
func write(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	require.NoError(t, os.WriteFile(path, []byte(text), 0o644))
	return path
}

// TestCSV reads good and bad files: a bad one is an error with its file
// and line, made before any row is handed out.
func TestCSV(t *testing.T) {
	validate := func(r row) error {
		if r.Name == "" {
			return errors.New("name is empty")
		}
		return nil
	}
	tests := []struct {
		name, text string
		want       []row  // the rows, or
		err        string // the error, after the file's path
	}{
		{name: "good", text: "id,name\n0,r0\n1,r1\n", want: rows(2)},
		{name: "columns in any order, extra ignored", text: "name,extra,id\nr0,x,0\nr1,y,1\n", want: rows(2)},
		{name: "quoted field across lines", text: "id,name\n0,\"a\nb\"\n1,r1\n", want: []row{{0, "a\nb"}, {1, "r1"}}},
		{name: "blank lines skipped", text: "id,name\n\n0,r0\n\n1,r1\n", want: rows(2)},
		{name: "no final line ending", text: "id,name\n0,r0\n1,r1", want: rows(2)},
		{name: "BOM", text: "\ufeffid,name\n0,r0\n1,r1\n", want: rows(2)},
		{name: "CRLF", text: "id,name\r\n0,r0\r\n1,r1\r\n", want: rows(2)},
		{name: "CRLF bad row", text: "id,name\r\n0,r0\r\nx,r1\r\n", err: `:3: column "id": strconv.ParseInt: parsing "x": invalid syntax`},
		{name: "wrong type", text: "id,name\n0,r0\nx,r1\n", err: `:3: column "id": strconv.ParseInt: parsing "x": invalid syntax`},
		{name: "wrong type after a record across lines", text: "id,name\n0,\"a\nb\"\n1,r1\ny,r2\n", err: `:5: column "id": strconv.ParseInt: parsing "y": invalid syntax`},
		{name: "missing column", text: "id\n0\n", err: `:1: missing column "name": the header is "id"`},
		{name: "column named with a space", text: "id, name\n0,r0\n", err: `:1: missing column "name": the header is "id, name"`},
		{name: "repeated column", text: "id,name,id\n0,r0,1\n", err: `:1: column "id" appears twice (columns 1 and 3)`},
		{name: "wrong number of fields", text: "id,name\n0,r0\n1,r1,extra\n2\n", err: ":3: wrong number of fields\n" + "NAME:4: wrong number of fields"},
		{name: "bare quote", text: "id,name\n0,r\"0\n", err: `:2: bare " in non-quoted-field`},
		{name: "empty file", text: "", err: ":1: empty file: want a header line naming the columns, then the rows"},
		{name: "blank file", text: "\n\n", err: ":1: empty file: want a header line naming the columns, then the rows"},
		{name: "BOM only", text: "\ufeff", err: ":1: empty file: want a header line naming the columns, then the rows"},
		{name: "header only", text: "id,name\n", err: ":2: no rows after the header"},
		{name: "invalid row", text: "id,name\n0,r0\n1,\n", err: ":3: name is empty"},
		{name: "every bad row, up to ten", text: "id,name\n" + strings.Repeat("x,a\n", 12), err: tenBad()},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, "users.csv", tt.text)
			f, err := feed.CSV(path, feed.Options[row]{Validate: validate})
			if tt.err != "" {
				require.Error(t, err, "CSV(%q)", tt.text)
				assert.Equal(t, path+strings.ReplaceAll(tt.err, "NAME", path), err.Error(), "CSV(%q)", tt.text)
				return
			}
			require.NoError(t, err, "CSV(%q)", tt.text)
			assert.Equal(t, tt.want, drainAll(t, f), "CSV(%q) rows", tt.text)
		})
	}
}

// TestJSONL reads good and bad JSON lines files.
func TestJSONL(t *testing.T) {
	validate := func(r row) error {
		if r.Name == "" {
			return errors.New("name is empty")
		}
		return nil
	}
	tests := []struct {
		name, text string
		want       []row
		err        string
	}{
		{name: "good", text: `{"id":0,"name":"r0"}` + "\n" + `{"id":1,"name":"r1"}` + "\n", want: rows(2)},
		{name: "unknown field ignored", text: `{"id":0,"name":"r0","x":1}` + "\n", want: rows(1)},
		{name: "blank lines and no final line ending", text: "\n" + `{"id":0,"name":"r0"}` + "\n\n" + `{"id":1,"name":"r1"}`, want: rows(2)},
		{name: "BOM and CRLF", text: "\ufeff" + `{"id":0,"name":"r0"}` + "\r\n" + `{"id":1,"name":"r1"}` + "\r\n", want: rows(2)},
		{name: "wrong type", text: `{"id":0,"name":"r0"}` + "\n" + `{"id":"x","name":"r1"}` + "\n", err: ":2: json: cannot unmarshal string into Go struct field row.id of type int"},
		{name: "syntax", text: `{"id":0,"name":"r0"}` + "\n\n" + `{"id":1,"name":"r1"` + "\n", err: ":3:19: unexpected end of JSON input"},
		{name: "two values on a line", text: `{"id":0,"name":"r0"} {"id":1}` + "\n", err: ":1:22: invalid character '{' after top-level value"},
		{name: "empty file", text: "", err: ":1: empty file: want one JSON object per line"},
		{name: "invalid row", text: `{"id":0}` + "\n", err: ":1: name is empty"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := write(t, "users.jsonl", tt.text)
			f, err := feed.JSONL(path, feed.Options[row]{Validate: validate})
			if tt.err != "" {
				require.Error(t, err, "JSONL(%q)", tt.text)
				assert.Equal(t, path+tt.err, err.Error(), "JSONL(%q)", tt.text)
				return
			}
			require.NoError(t, err, "JSONL(%q)", tt.text)
			assert.Equal(t, tt.want, drainAll(t, f), "JSONL(%q) rows", tt.text)
		})
	}
}

// TestName: the option names the feed in its errors.
func TestName(t *testing.T) {
	path := write(t, "users.csv", "id\n0\n")
	_, err := feed.CSV(path, feed.Options[row]{Name: "users"})
	assert.EqualError(t, err, `users:1: missing column "name": the header is "id"`)
	_, err = feed.CSV(filepath.Join(t.TempDir(), "none.csv"), feed.Options[row]{})
	assert.ErrorIs(t, err, os.ErrNotExist, "CSV of a file that is not there")
	_, err = feed.Slice([]row{{0, ""}, {1, "a"}, {2, ""}}, feed.Options[row]{Name: "people", Validate: func(r row) error {
		if r.Name == "" {
			return errors.New("no name")
		}
		return nil
	}})
	assert.EqualError(t, err, "people[0]: no name\npeople[2]: no name")
	_, err = feed.Slice([]row{}, feed.Options[row]{})
	assert.EqualError(t, err, "feed rows: no rows")
}

// fakeTB records the failure of a Must function, which ends the
// goroutine it runs in as t.Fatal does.
type fakeTB struct {
	testing.TB
	fatal string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.fatal = fmt.Sprintf(format, args...)
	runtime.Goexit()
}

// TestMust: MustCSV and MustJSONL fail the test with the error.
func TestMust(t *testing.T) {
	run := func(f func(tb testing.TB)) string {
		tb := &fakeTB{TB: t}
		done := make(chan struct{})
		go func() {
			defer close(done)
			f(tb)
		}()
		<-done
		return tb.fatal
	}
	csvPath := write(t, "users.csv", "id,name\nx,a\n")
	assert.Equal(t, "loadtest/feed: "+csvPath+`:2: column "id": strconv.ParseInt: parsing "x": invalid syntax`,
		run(func(tb testing.TB) { feed.MustCSV(tb, csvPath, feed.Options[row]{}) }), "MustCSV of a bad file")
	jsonPath := write(t, "users.jsonl", "{}\n")
	assert.Empty(t, run(func(tb testing.TB) { feed.MustJSONL(tb, jsonPath, feed.Options[row]{}) }), "MustJSONL of a good file")
	emptyPath := write(t, "users.jsonl", "")
	assert.Equal(t, "loadtest/feed: "+emptyPath+":1: empty file: want one JSON object per line",
		run(func(tb testing.TB) { feed.MustJSONL(tb, emptyPath, feed.Options[row]{}) }), "MustJSONL of an empty file")
}

// drainAll returns a sequential stopping copy's rows: every row, in order.
func drainAll(t *testing.T, f *feed.Feed[row]) []row {
	t.Helper()
	var got []row
	u := users(1, 1)[0]
	for range f.Len() {
		r, err := f.Next(u)
		require.NoError(t, err)
		got = append(got, r)
	}
	return got
}

// tenBad is the error of a file of twelve bad rows, after its path.
func tenBad() string {
	var s string
	for line := 2; line < 12; line++ {
		if line > 2 {
			s += "\nNAME"
		}
		s += fmt.Sprintf(`:%d: column "id": strconv.ParseInt: parsing "x": invalid syntax`, line)
	}
	return s + "\nand 2 more bad rows"
}
