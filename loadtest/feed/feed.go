package feed

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/steadyload/steadyload/loadtest"
)

// Order is how a feed hands out its rows.
type Order int

const (
	// Sequential hands out the rows in the file's order, through one
	// cursor shared by all users: with End Cycle, each row once per cycle.
	Sequential Order = iota
	// Random hands out rows drawn at random, with replacement, each from
	// the asking user's u.Rand, so a run with the same -loadtest.seed
	// draws the same rows for each user.
	Random
	// PerUser hands user u row u.ID, every time: each user keeps its row
	// (an account, a session). A user without a row is an error naming
	// the feed and the counts.
	PerUser
)

// String names the order as in errors.
func (o Order) String() string {
	switch o {
	case Sequential:
		return "sequential"
	case Random:
		return "random"
	case PerUser:
		return "one row per user"
	}
	return fmt.Sprintf("Order(%d)", int(o))
}

// End is what a feed does when its rows are used up.
type End int

const (
	// Cycle starts over (the default).
	Cycle End = iota
	// Stop ends the run's load once the feed has handed out as many rows
	// as it holds: Next returns an error wrapping loadtest.ErrStop,
	// which ends the load as the end of the Duration does. It is not a
	// failure. With Random, the feed runs out after as many draws as it
	// has rows; PerUser rows are never used up, so Stop does not apply.
	Stop
)

// String names the policy as in errors.
func (e End) String() string {
	switch e {
	case Cycle:
		return "cycle"
	case Stop:
		return "stop"
	}
	return fmt.Sprintf("End(%d)", int(e))
}

// Options are a feed's settings; the zero value hands out the rows in
// order and cycles.
type Options[Row any] struct {
	Order Order
	End   End
	// Validate checks each row as it is read; its error is reported
	// with the row's file and line.
	Validate func(Row) error
	// Name names the feed in errors and the log; default the file's path
	// as given, or "rows" for a slice.
	Name string
}

// A Feed hands rows of test data to a scenario's users. It is read and
// checked whole when it is made, before any request, and is safe for
// concurrent use by all the users of a run. Make one per run: a
// sequential or stopping feed keeps its place.
type Feed[Row any] struct {
	name  string
	rows  []Row
	order Order
	end   End
	next  atomic.Uint64 // rows handed out so far (Sequential, Random with Stop)
	out   error         // wraps loadtest.ErrStop: the rows are used up
}

// check refuses options that do not go together.
func (opts *Options[Row]) check(name string) error {
	switch {
	case opts.Order < Sequential || opts.Order > PerUser:
		return fmt.Errorf("feed %s: unknown order %d", name, int(opts.Order))
	case opts.End < Cycle || opts.End > Stop:
		return fmt.Errorf("feed %s: unknown end %d", name, int(opts.End))
	case opts.Order == PerUser && opts.End == Stop:
		return fmt.Errorf("feed %s: one row per user is never used up: End Stop does not apply", name)
	}
	return nil
}

// newFeed makes a feed of rows, already read and validated.
func newFeed[Row any](name string, rows []Row, opts Options[Row]) *Feed[Row] {
	return &Feed[Row]{
		name: name, rows: rows, order: opts.Order, end: opts.End,
		out: fmt.Errorf("feed %s ran out after %d rows: %w", name, len(rows), loadtest.ErrStop),
	}
}

// Next returns the next row for user u. Its error is an error wrapping
// loadtest.ErrStop when the feed has run out (End Stop): return it from
// the task, and the load stops. With PerUser, a user whose ID has no row
// gets an error naming the feed and the counts, a failure of its task.
func (f *Feed[Row]) Next(u *loadtest.User) (Row, error) {
	n := uint64(len(f.rows))
	switch f.order {
	case PerUser:
		if u.ID >= len(f.rows) {
			var zero Row
			return zero, &countError{feed: f.name, rows: len(f.rows), user: u.ID}
		}
		return f.rows[u.ID], nil
	case Random:
		if f.end == Stop && f.next.Add(1) > n {
			var zero Row
			return zero, f.out
		}
		return f.rows[u.Rand.IntN(len(f.rows))], nil
	}
	i := f.next.Add(1) - 1
	if i >= n {
		if f.end == Stop {
			var zero Row
			return zero, f.out
		}
		i %= n
	}
	return f.rows[i], nil
}

// Len is the number of rows the feed holds: with PerUser, the most users
// it can serve.
func (f *Feed[Row]) Len() int { return len(f.rows) }

// countError is a PerUser feed asked for a row by a user it has none for.
type countError struct {
	feed       string
	rows, user int
}

func (e *countError) Error() string {
	return fmt.Sprintf("feed %s has %d rows, one per user, but user %d asks for row %d: give it at least as many rows as the run has users",
		e.feed, e.rows, e.user, e.user+1)
}

// must fails tb with err, or returns f.
func must[Row any](tb testing.TB, f *Feed[Row], err error) *Feed[Row] {
	tb.Helper()
	if err != nil {
		tb.Fatalf("loadtest/feed: %v", err)
	}
	return f
}
