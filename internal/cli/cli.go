// Package cli is the steadyload command: it works on stored files only,
// never sending load. It judges a results folder against a baseline
// (compare), draws and tests a stored history (history), renders a run's
// report (report), merges the results of the shards of one run (merge)
// and looks after baselines (baseline list, show, prune, record). It
// judges with the packages the harness judges with — runcheck, gatecheck,
// drift, reportsink — so a stored run gets the verdict its run gave.
//
// Main returns the exit code: 0 when every run passed, 1 when one failed
// (a regression, a failed check), 2 for a usage error or input that
// cannot be read (errors name the file and line).
//
//	os.Exit(cli.Main(os.Args[1:], os.Stdout, os.Stderr))
package cli

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"strings"
)

// The exit codes.
const (
	ExitPass  = 0 // every run passed
	ExitFail  = 1 // a run failed: a regression, a failed check
	ExitUsage = 2 // bad usage, or input that cannot be read
)

// command is one subcommand.
type command struct {
	name    string
	args    string // what follows the flags, for the usage line
	summary string
	run     func(e *env, args []string) int
}

// env is where a command writes.
type env struct {
	stdout, stderr io.Writer
	cmd            string // "compare", "baseline prune", …
}

func (e *env) printf(format string, args ...any) { fmt.Fprintf(e.stdout, format, args...) }

// usagef reports a usage error and returns ExitUsage.
func (e *env) usagef(fs *flag.FlagSet, format string, args ...any) int {
	fmt.Fprintf(e.stderr, "steadyload %s: %s\n", e.cmd, fmt.Sprintf(format, args...))
	if fs != nil {
		fmt.Fprintf(e.stderr, "run 'steadyload help %s' for usage\n", e.cmd)
	}
	return ExitUsage
}

// errorf reports input that cannot be used and returns ExitUsage.
func (e *env) errorf(format string, args ...any) int {
	fmt.Fprintf(e.stderr, "steadyload %s: %s\n", e.cmd, fmt.Sprintf(format, args...))
	return ExitUsage
}

func commands() []command {
	return []command{
		{"compare", "[flags] RESULTS...", "judge the runs of results folders against their baseline: the harness's checks, the gate, the history", runCompare},
		{"history", "[flags] HISTORY", "test a stored history (a history.csv or its folder) for drift and steps; print it and draw its chart", runHistory},
		{"report", "[flags] RESULTS...", "write the HTML report of the runs of results folders, judged as compare judges them", runReport},
		{"merge", "-o DIR SHARD-RESULTS...", "merge the results of the shards of one run into the results of the whole run", runMerge},
		{"baseline list", "[-baseline DIR]", "list the baselines under a baseline root", runBaselineList},
		{"baseline show", "BASELINE-DIR...", "show the runs recorded in a test's baseline directory", runBaselineShow},
		{"baseline prune", "-keep K BASELINE-DIR...", "keep only the newest K runs of a test's baseline", runBaselinePrune},
		{"baseline record", "[compare flags] RESULTS...", "record the runs of results folders into their baseline (compare -update)", runBaselineRecord},
	}
}

// Main runs the command line args (without the program's name) and
// returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	e := &env{stdout: stdout, stderr: stderr}
	if len(args) == 0 {
		help(stderr)
		return ExitUsage
	}
	switch args[0] {
	case "help", "-h", "-help", "--help":
		if len(args) > 1 {
			if c, ok := find(args[1:]); ok {
				e.cmd, e.stderr = c.name, stdout
				c.run(e, []string{"-h"})
				return ExitPass
			}
			fmt.Fprintf(stderr, "steadyload help: unknown command %q\n", strings.Join(args[1:], " "))
			return ExitUsage
		}
		help(stdout)
		return ExitPass
	}
	c, ok := find(args)
	if !ok {
		fmt.Fprintf(stderr, "steadyload: unknown command %q\n\n", strings.Join(args[:min(2, len(args))], " "))
		help(stderr)
		return ExitUsage
	}
	e.cmd = c.name
	return c.run(e, args[len(strings.Fields(c.name)):])
}

// find returns the command args start with.
func find(args []string) (command, bool) {
	for _, c := range commands() {
		words := strings.Fields(c.name)
		if len(args) >= len(words) && strings.Join(args[:len(words)], " ") == c.name {
			return c, true
		}
	}
	return command{}, false
}

func help(w io.Writer) {
	fmt.Fprint(w, `steadyload works on the files load test runs leave: results folders, baselines, histories.
It sends no load.

Usage:

	steadyload <command> [flags] [arguments]

Commands:

`)
	for _, c := range commands() {
		fmt.Fprintf(w, "\t%-16s %s\n", c.name, c.summary)
	}
	fmt.Fprint(w, `
Exit codes: 0 every run passed, 1 a run failed (a regression, a failed check),
2 a usage error or input that cannot be read.

Run 'steadyload help <command>' for a command's flags.
`)
}

// newFlagSet is a command's flag set; its usage names the command.
func (e *env) newFlagSet(args string, doc string) *flag.FlagSet {
	fs := flag.NewFlagSet("steadyload "+e.cmd, flag.ContinueOnError)
	fs.SetOutput(e.stderr)
	fs.Usage = func() {
		fmt.Fprintf(e.stderr, "usage: steadyload %s %s\n\n%s\n", e.cmd, args, doc)
		var b strings.Builder
		fs.SetOutput(&b)
		fs.PrintDefaults()
		fs.SetOutput(e.stderr)
		if b.Len() > 0 {
			fmt.Fprintf(e.stderr, "\nFlags:\n%s", b.String())
		}
	}
	return fs
}

// parse parses args into fs; done reports that the command ends here
// with code: help asked for (0) or a usage error (2).
func parse(fs *flag.FlagSet, args []string) (code int, done bool) {
	err := fs.Parse(args)
	switch {
	case errors.Is(err, flag.ErrHelp):
		return ExitPass, true
	case err != nil:
		return ExitUsage, true
	}
	return 0, false
}
