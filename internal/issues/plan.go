package issues

import (
	"cmp"
	"fmt"
	"slices"
	"strings"
)

// Existing is an open issue, as `gh issue list --json number,title` lists it.
type Existing struct {
	Number int    `json:"number"`
	Title  string `json:"title"`
}

// The actions of a plan.
const (
	Open    = "open"    // a new issue with Title and Body (and the label)
	Comment = "comment" // a comment of Body on issue Number
	Close   = "close"   // close issue Number with the comment Body
)

// Action is one step of a plan, written as a JSON line.
type Action struct {
	Action string `json:"action"`
	Number int    `json:"number,omitempty"` // the issue commented on or closed; 0 for Open
	Title  string `json:"title"`
	Body   string `json:"body"`
}

// Plan returns what to do with the issues: open one for each failing
// finding without an open issue of its title, comment on the open issue
// of each one that has it (the lowest number, if several), and close each
// open issue of this package's shape whose finding the results judged and
// found no more. Opens and comments come in title order, then the closes
// in number order. runURL, when given, links the run in each body.
func Plan(res *Results, existing []Existing, runURL string) []Action {
	open := map[string]int{} // title → the lowest number
	for _, e := range existing {
		if n, ok := open[e.Title]; !ok || e.Number < n {
			open[e.Title] = e.Number
		}
	}
	var plan []Action
	failing := map[string]bool{}
	for _, f := range merge(res.Failing) {
		title := f.Title()
		failing[title] = true
		if n, ok := open[title]; ok {
			plan = append(plan, Action{Action: Comment, Number: n, Title: title, Body: commentBody(f, runURL)})
			continue
		}
		plan = append(plan, Action{Action: Open, Title: title, Body: openBody(f, runURL)})
	}
	closes := slices.Clone(existing)
	slices.SortFunc(closes, func(a, b Existing) int { return cmp.Compare(a.Number, b.Number) })
	for _, e := range closes {
		if failing[e.Title] {
			continue
		}
		test, kind, ok := parseTitle(e.Title)
		if !ok {
			continue
		}
		if j, ran := res.Judged[test]; !ran || !j.judges(kind) {
			continue
		}
		plan = append(plan, Action{Action: Close, Number: e.Number, Title: e.Title, Body: closeBody(test, runURL)})
	}
	return plan
}

// merge joins the failing findings of one title (the same key found twice)
// into one, their details on separate lines.
func merge(fs []Failing) []Failing {
	var out []Failing
	for _, f := range fs {
		if n := len(out); n > 0 && out[n-1].Title() == f.Title() {
			out[n-1].Details += "\n" + f.Details
			continue
		}
		out = append(out, f)
	}
	return out
}

// parseTitle returns the test and kind of a title of Key.Title's shape:
// the test is its first word (Go test names have no spaces), the kind its
// last.
func parseTitle(title string) (test, kind string, ok bool) {
	rest, ok := strings.CutPrefix(title, TitlePrefix)
	if !ok {
		return "", "", false
	}
	words := strings.Fields(rest)
	if len(words) < 2 {
		return "", "", false
	}
	return words[0], words[len(words)-1], true
}

func runLine(f Failing, runURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "Run `%s`", f.Meta.RunID)
	if !f.Meta.Start.IsZero() {
		fmt.Fprintf(&b, ", started %s", f.Meta.Start.UTC().Format("2006-01-02 15:04 MST"))
	}
	if f.Meta.GitCommit != "" {
		fmt.Fprintf(&b, ", commit %s", f.Meta.GitCommit)
	}
	if runURL != "" {
		fmt.Fprintf(&b, ": %s", runURL)
	}
	return b.String() + "."
}

func openBody(f Failing, runURL string) string {
	what := strings.Join(slices.DeleteFunc([]string{f.Task, f.Metric}, func(s string) bool { return s == "" }), " ")
	if what != "" {
		what = " of `" + what + "`"
	}
	return fmt.Sprintf("**%s**%s in `%s`, env `%s`.\n\n```\n%s\n```\n\n%s\n\n"+
		"The nightly workflow keeps this issue: it comments each night the finding still fails and closes the issue the first night a complete run no longer finds it.\n",
		f.Kind, what, f.Test, f.Meta.Env, f.Details, runLine(f, runURL))
}

func commentBody(f Failing, runURL string) string {
	return fmt.Sprintf("Still failing.\n\n```\n%s\n```\n\n%s\n", f.Details, runLine(f, runURL))
}

func closeBody(test, runURL string) string {
	s := fmt.Sprintf("Cleared: a complete run of `%s` no longer finds it", test)
	if runURL != "" {
		s += " (" + runURL + ")"
	}
	return s + ".\n"
}
