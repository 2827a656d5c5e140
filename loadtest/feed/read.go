package feed

import (
	"bytes"
	"cmp"
	"encoding/csv"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"testing"

	"github.com/gocarina/gocsv"
)

// maxRowErrors is how many bad rows an error lists before it counts the rest.
const maxRowErrors = 10

// bom is the UTF-8 byte order mark some editors put at a file's start.
const bom = "\ufeff"

// CSV reads a feed from the CSV file at path: a header line naming the
// columns, then one row per line, decoded with gocsv into Row, a struct
// whose fields name their columns with `csv` tags (`csv:"email"`; a field
// without one is named after the field, `csv:"-"` skips it). Every field
// needs its column; columns no field names are ignored. A UTF-8 byte
// order mark and CR LF line endings are accepted.
//
// The whole file is read, decoded and checked (Options.Validate) now: a
// bad row is an error of the form "file:line: what", listing the first
// ten bad rows.
func CSV[Row any](path string, opts Options[Row]) (*Feed[Row], error) {
	name := cmp.Or(opts.Name, path)
	if err := opts.check(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	rows, err := decodeCSV(name, data, opts.Validate)
	if err != nil {
		return nil, err
	}
	return newFeed(name, rows, opts), nil
}

// JSONL reads a feed from the JSON lines file at path: one JSON object
// per line, decoded with encoding/json into Row; blank lines are skipped,
// fields Row does not have are ignored. A UTF-8 byte order mark and CR LF
// line endings are accepted. Bad rows are reported as CSV's are.
func JSONL[Row any](path string, opts Options[Row]) (*Feed[Row], error) {
	name := cmp.Or(opts.Name, path)
	if err := opts.check(name); err != nil {
		return nil, err
	}
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("feed: %w", err)
	}
	rows, err := decodeJSONL(name, data, opts.Validate)
	if err != nil {
		return nil, err
	}
	return newFeed(name, rows, opts), nil
}

// Slice makes a feed of a copy of rows, checked with Options.Validate;
// errors name a row by its index ("rows[3]: what").
func Slice[Row any](rows []Row, opts Options[Row]) (*Feed[Row], error) {
	name := cmp.Or(opts.Name, "rows")
	if err := opts.check(name); err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, fmt.Errorf("feed %s: no rows", name)
	}
	var bad rowErrors
	if opts.Validate != nil {
		for i, row := range rows {
			if err := opts.Validate(row); err != nil {
				bad.add(fmt.Errorf("%s[%d]: %w", name, i, err))
			}
		}
	}
	if err := bad.err(); err != nil {
		return nil, err
	}
	return newFeed(name, slices.Clone(rows), opts), nil
}

// MustCSV is CSV that fails tb with the error, before any request.
func MustCSV[Row any](tb testing.TB, path string, opts Options[Row]) *Feed[Row] {
	tb.Helper()
	f, err := CSV(path, opts)
	return must(tb, f, err)
}

// MustJSONL is JSONL that fails tb with the error, before any request.
func MustJSONL[Row any](tb testing.TB, path string, opts Options[Row]) *Feed[Row] {
	tb.Helper()
	f, err := JSONL(path, opts)
	return must(tb, f, err)
}

// decodeCSV decodes the rows of a CSV file. encoding/csv reads the
// records and knows their lines; gocsv maps the header to Row's fields
// and decodes each record.
func decodeCSV[Row any](name string, data []byte, validate func(Row) error) ([]Row, error) {
	data = bytes.TrimPrefix(data, []byte(bom))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s:1: empty file: want a header line naming the columns, then the rows", name)
	}
	cr := csv.NewReader(bytes.NewReader(data))
	var zero Row
	um, err := gocsv.NewUnmarshaller(cr, zero)
	if err != nil {
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			return nil, parseError(name, pe)
		}
		return nil, fmt.Errorf("%s:1: %v (Row is %T)", name, err, zero)
	}
	if err := checkHeader(name, um); err != nil {
		return nil, err
	}
	rs := rowSet[Row]{name: name, validate: validate}
	bad := &rs.bad
	for {
		v, err := um.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			var pe *csv.ParseError
			if !errors.As(err, &pe) {
				line, _ := cr.FieldPos(0)
				bad.add(fmt.Errorf("%s:%d: %s", name, line, fieldError(um.Headers, err)))
				continue
			}
			bad.add(parseError(name, pe))
			if errors.Is(err, csv.ErrFieldCount) {
				continue // the next record is read as well
			}
			break
		}
		line, _ := cr.FieldPos(0)
		row := v.(Row)
		rs.keep(line, row)
	}
	return rs.result(fmt.Errorf("%s:2: no rows after the header", name))
}

// checkHeader refuses a header that repeats a column or lacks one of
// Row's fields.
func checkHeader(name string, um *gocsv.Unmarshaller) error {
	seen := make(map[string]int, len(um.Headers))
	for i, h := range um.Headers {
		if j, ok := seen[h]; ok {
			return fmt.Errorf("%s:1: column %q appears twice (columns %d and %d)", name, h, j+1, i+1)
		}
		seen[h] = i
	}
	if missing := um.MismatchedStructFields; len(missing) > 0 {
		q := make([]string, len(missing))
		for i, m := range missing {
			q[i] = fmt.Sprintf("%q", m)
		}
		return fmt.Errorf("%s:1: missing column %s: the header is %q", name, strings.Join(q, ", "), strings.Join(um.Headers, ","))
	}
	return nil
}

// fieldError says which column a gocsv decoding error is about. gocsv's
// text is "cannot assign field at <column index> to <type> through index
// chain [...]: <why>"; anything else is kept whole.
func fieldError(header []string, err error) string {
	msg := err.Error()
	var col int
	if _, serr := fmt.Sscanf(msg, "cannot assign field at %d ", &col); serr != nil || col < 0 || col >= len(header) {
		return msg
	}
	why := msg
	if _, after, ok := strings.Cut(msg, "]: "); ok {
		why = after
	}
	return fmt.Sprintf("column %q: %s", header[col], why)
}

// parseError is encoding/csv's error with the feed's name and the line
// the record starts on.
func parseError(name string, pe *csv.ParseError) error {
	if pe.StartLine != 0 && pe.StartLine != pe.Line {
		return fmt.Errorf("%s:%d: %v (the record starting here runs to line %d)", name, pe.StartLine, pe.Err, pe.Line)
	}
	return fmt.Errorf("%s:%d: %v", name, pe.Line, pe.Err)
}

// decodeJSONL decodes the rows of a JSON lines file.
func decodeJSONL[Row any](name string, data []byte, validate func(Row) error) ([]Row, error) {
	data = bytes.TrimPrefix(data, []byte(bom))
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, fmt.Errorf("%s:1: empty file: want one JSON object per line", name)
	}
	rs := rowSet[Row]{name: name, validate: validate}
	bad := &rs.bad
	for i, text := range bytes.Split(data, []byte("\n")) {
		text = bytes.TrimSuffix(text, []byte("\r"))
		if len(bytes.TrimSpace(text)) == 0 {
			continue
		}
		line := i + 1
		var row Row
		if err := json.Unmarshal(text, &row); err != nil {
			var se *json.SyntaxError
			if errors.As(err, &se) {
				bad.add(fmt.Errorf("%s:%d:%d: %v", name, line, se.Offset, err))
			} else {
				bad.add(fmt.Errorf("%s:%d: %v", name, line, err))
			}
			continue
		}
		rs.keep(line, row)
	}
	return rs.result(fmt.Errorf("%s:1: no rows", name))
}

// rowSet gathers a file's rows as they are decoded, and the errors of
// its bad ones.
type rowSet[Row any] struct {
	name     string
	validate func(Row) error
	rows     []Row
	bad      rowErrors
}

// keep keeps the row decoded from line, unless Validate refuses it.
func (rs *rowSet[Row]) keep(line int, row Row) {
	if rs.validate != nil {
		if err := rs.validate(row); err != nil {
			rs.bad.add(fmt.Errorf("%s:%d: %w", rs.name, line, err))
			return
		}
	}
	rs.rows = append(rs.rows, row)
}

// result returns the rows, or the bad rows' errors, or noRows when the
// file had none.
func (rs *rowSet[Row]) result(noRows error) ([]Row, error) {
	if err := rs.bad.err(); err != nil {
		return nil, err
	}
	if len(rs.rows) == 0 {
		return nil, noRows
	}
	return rs.rows, nil
}

// rowErrors gathers the errors of bad rows: the first maxRowErrors,
// and a count of the rest.
type rowErrors struct {
	errs []error
	more int
}

func (b *rowErrors) add(err error) {
	if len(b.errs) < maxRowErrors {
		b.errs = append(b.errs, err)
		return
	}
	b.more++
}

// err joins the errors, one a line; nil when there are none.
func (b *rowErrors) err() error {
	if b.more > 0 {
		return errors.Join(append(b.errs, fmt.Errorf("and %d more bad rows", b.more))...)
	}
	return errors.Join(b.errs...)
}
