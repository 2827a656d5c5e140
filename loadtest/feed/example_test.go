package feed_test

import (
	"errors"
	"fmt"
	"math/rand/v2"

	"github.com/steadyload/steadyload/loadtest"
	"github.com/steadyload/steadyload/loadtest/feed"
)

type account struct {
	Email    string `csv:"email"`
	Password string `csv:"password"`
}

// A feed of the accounts in testdata/accounts.csv, each handed out once:
// the task that asks for a fourth gets loadtest.ErrStop, returns it, and
// the load stops. In a scenario, feed.MustCSV(t, ...) fails the test with
// a bad row's file and line before any request (see the package's doc).
func Example() {
	accounts, err := feed.CSV("testdata/accounts.csv", feed.Options[account]{End: feed.Stop})
	if err != nil {
		fmt.Println(err)
		return
	}
	u := &loadtest.User{ID: 0, Rand: rand.New(rand.NewPCG(1, 0))} // as Run makes them
	for {
		a, err := accounts.Next(u)
		if errors.Is(err, loadtest.ErrStop) {
			fmt.Println(err)
			return
		}
		fmt.Println(a.Email)
	}
	// Output:
	// ana@example.com
	// bo@example.com
	// cy@example.com
	// feed testdata/accounts.csv ran out after 3 rows: load stopped
}
