package loadtest

import (
	"flag"
	"os"
	"sort"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// updateFlagsDoc rewrites ../docs/flags.md from the flag set instead of
// comparing with it.
var updateFlagsDoc = flag.Bool("update", false, "rewrite ../docs/flags.md from the -loadtest.* flags")

// flagsDocPath is the flags page, relative to this package.
const flagsDocPath = "../docs/flags.md"

// flagsDocHeader opens the generated flags page.
const flagsDocHeader = `# Flags

<!-- Generated from the flag set by TestFlagsDoc (loadtest/flagsdoc_test.go); do not edit.
     Refresh with: go test ./loadtest -run TestFlagsDoc -update -->

Every flag is registered by package ` + "`loadtest`" + `, prefixed ` + "`loadtest.`" + `, on the test binary's
command line, as package ` + "`testing`" + ` registers ` + "`test.*`" + `. Pass them after ` + "`-args`" + `, and name only the
package(s) holding scenarios: other test binaries do not know these flags and fail on them.

` + "```sh" + `
go test -tags loadtest -count=1 -v -timeout 20m . -args -loadtest.rate=10
` + "```" + `

Every flag is also read from its environment variable, ` + "`STEADYLOAD_`" + ` and the flag's name after
` + "`loadtest.`" + ` in capitals, dashes as underscores (` + "`-loadtest.auth-header-env`" + ` is
` + "`STEADYLOAD_AUTH_HEADER_ENV`" + `). Test binaries without scenarios ignore the environment, so it
configures a ` + "`go test ./...`" + ` over many packages:

` + "```sh" + `
STEADYLOAD_HOST=https://staging.example.com STEADYLOAD_RATE=10 go test -tags loadtest -count=1 ./...
` + "```" + `

A flag given on the command line wins over its variable; a variable set to the empty string counts as
unset. A variable's value is taken as the flag's would be, and one the flag refuses is an error naming
the variable, before any request. A flag that takes a list (` + "`-loadtest.threshold`" + `) takes it
comma-separated.

A flag that is set overrides the scenario's field (` + "`-loadtest.rate`" + ` overrides ` + "`Scenario.Rate`" + `); one
left unset leaves the field alone. A default of zero or blank means "not set": the scenario's field
applies, else the default its meaning names. What the flags do is told in the pages about
[scenarios](scenarios.md), [results](results.md), [the gate](gate.md),
[production](production.md) and [history and signals](history.md).

| flag | environment | default | meaning |
|---|---|---|---|
`

// TestFlagsDoc checks that docs/flags.md is the table of every -loadtest.*
// flag registered on the command line; -update rewrites it.
func TestFlagsDoc(t *testing.T) {
	got := renderFlagsDoc(flag.CommandLine)
	require.Contains(t, got, "`-loadtest.host URL`", "renderFlagsDoc: no -loadtest.host row; are the harness's flags still registered by package loadtest?")
	if *updateFlagsDoc {
		require.NoError(t, os.WriteFile(flagsDocPath, []byte(got), 0o644), "write flags page")
		t.Logf("wrote %s", flagsDocPath)
		return
	}
	want, err := os.ReadFile(flagsDocPath)
	require.NoError(t, err, "read flags page (create it with: go test ./loadtest -run TestFlagsDoc -update)")
	// The page's own line diff, not assert.Equal: testify's diff of two
	// long strings is hard to read and says nothing of how to refresh.
	if got != string(want) {
		t.Errorf("%s is not the table of the registered -loadtest.* flags; refresh it with: go test ./loadtest -run TestFlagsDoc -update\n%s",
			flagsDocPath, lineDiff(string(want), got))
	}
}

// renderFlagsDoc renders the -loadtest.* flags of fs as the flags page:
// the fixed header, then one table row per flag, sorted by name.
func renderFlagsDoc(fs *flag.FlagSet) string {
	var fls []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "loadtest.") {
			fls = append(fls, f)
		}
	})
	sort.Slice(fls, func(i, j int) bool { return fls[i].Name < fls[j].Name })

	var b strings.Builder
	b.WriteString(flagsDocHeader)
	for _, f := range fls {
		arg, usage := flag.UnquoteUsage(f)
		name := "-" + f.Name
		if arg != "" {
			name += " " + arg
		}
		def := ""
		if f.DefValue != "" {
			def = codeCell(f.DefValue)
		}
		b.WriteString("| " + codeCell(name) + " | " + codeCell(envVar(f.Name)) + " | " + def + " | " + textCell(usage) + " |\n")
	}
	return b.String()
}

// codeCell renders s as a code span in a table cell.
func codeCell(s string) string {
	return "`" + strings.ReplaceAll(s, "|", `\|`) + "`"
}

// textCell escapes the characters of s that Markdown or a table cell
// would otherwise take as syntax.
func textCell(s string) string {
	return strings.NewReplacer(
		`\`, `\\`,
		"|", `\|`,
		"<", `\<`,
		">", `\>`,
		"*", `\*`,
		"`", "\\`",
		"[", `\[`,
		"]", `\]`,
		"\n", " ",
	).Replace(s)
}

// lineDiff lists the lines only the file has (-) and those only the flag
// set renders (+), in their order.
func lineDiff(file, flagSet string) string {
	count := func(s string) map[string]int {
		n := map[string]int{}
		for _, l := range strings.Split(s, "\n") {
			n[l]++
		}
		return n
	}
	inFile, inSet := count(file), count(flagSet)
	var b strings.Builder
	for _, l := range strings.Split(file, "\n") {
		if inSet[l] > 0 {
			inSet[l]--
			continue
		}
		b.WriteString("- " + l + "\n")
	}
	for _, l := range strings.Split(flagSet, "\n") {
		if inFile[l] > 0 {
			inFile[l]--
			continue
		}
		b.WriteString("+ " + l + "\n")
	}
	return b.String()
}
