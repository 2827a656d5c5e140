// Package feed hands rows of test data to a scenario's users: the rows of
// a CSV file, decoded with gocsv into the scenario's own struct, of a JSON
// lines file, or of a slice.
//
// A feed is read and checked whole when it is made, in the test before
// loadtest.Run, so that a bad row stops the test with its file and line
// before any request is sent. Its rows go out in the file's order through
// a cursor all users share (Sequential), at random from each user's
// u.Rand, reproducible with -loadtest.seed (Random), or one row per user,
// kept for the whole run (PerUser). Used up, a feed starts over (Cycle)
// or stops the load (Stop): Next returns an error wrapping
// loadtest.ErrStop, the task returns it, and the run ends as at the end
// of its Duration, its results written, the test not failed. Next takes
// no lock and allocates nothing beyond the row it returns.
//
// A complete scenario, with testdata/accounts.csv holding the header
// "email,password" and one account per line:
//
//	type account struct {
//		Email    string `csv:"email"`
//		Password string `csv:"password"`
//	}
//
//	func TestLogin(t *testing.T) {
//		accounts := feed.MustCSV(t, "testdata/accounts.csv", feed.Options[account]{
//			Order: feed.Sequential, End: feed.Stop, // each account logs in once
//			Validate: func(a account) error {
//				if !strings.Contains(a.Email, "@") {
//					return fmt.Errorf("email %q has no @", a.Email)
//				}
//				return nil
//			},
//		})
//		loadtest.Run(t, loadtest.Scenario{
//			Users: 5,
//			Wait:  loadtest.Between(1*time.Second, 3*time.Second),
//			Tasks: []loadtest.Task{{Name: "POST /login", Do: func(ctx context.Context, u *loadtest.User) error {
//				a, err := accounts.Next(u)
//				if err != nil {
//					return err // the feed ran out: the load stops, and the test passes
//				}
//				_, err = u.PostJSON(ctx, "/login", a)
//				return err
//			}}},
//		})
//	}
package feed
