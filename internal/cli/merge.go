package cli

import (
	"path/filepath"
	"sort"

	"github.com/steadyload/steadyload/internal/runfiles"
	"github.com/steadyload/steadyload/internal/shard"
	"github.com/steadyload/steadyload/loadtest/result"
)

const mergeDoc = `Merge reads the results of the N shards of one run (-loadtest.shard=i/N, one results
folder each) and writes the results of the whole run into -o: the same files a run writes,
with requests, failures and histograms summed (percentiles exact to the histograms'
precision), windows aligned by their place in the run (their quantiles approximate).
Every run found in the folders is merged, by name. Judge the merged run with compare.`

func runMerge(e *env, args []string) int {
	fs := e.newFlagSet("-o DIR SHARD-RESULTS...", mergeDoc)
	out := fs.String("o", "", "`dir`ectory for the merged results (required; not one of the shards')")
	if code, done := parse(fs, args); done {
		return code
	}
	switch {
	case *out == "":
		return e.usagef(fs, "-o is required: name the folder for the merged results")
	case fs.NArg() == 0:
		return e.usagef(fs, "name the shards' results folders")
	}
	for _, d := range fs.Args() {
		if filepath.Clean(d) == filepath.Clean(*out) {
			return e.usagef(fs, "-o %s is one of the shards' folders: the merge would overwrite a shard", *out)
		}
	}
	byName := map[string][]string{} // run name → folders holding it
	for _, d := range fs.Args() {
		names, err := runfiles.Names(d)
		if err != nil {
			return e.errorf("%v", err)
		}
		for _, n := range names {
			byName[n] = append(byName[n], d)
		}
	}
	if len(byName) == 0 {
		return e.errorf("no run in %v: no <name>_meta.csv", fs.Args())
	}
	names := make([]string, 0, len(byName))
	for n := range byName {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		var runs []*result.Run
		for _, d := range byName[n] {
			r, err := runfiles.Read(d, n)
			if err != nil {
				return e.errorf("%v", err)
			}
			runs = append(runs, r)
		}
		merged, err := shard.Merge(runs)
		if err != nil {
			return e.errorf("%s: %v", n, err)
		}
		if _, err := runfiles.Write(*out, n, merged); err != nil {
			return e.errorf("%v", err)
		}
		e.printf("%s: merged %d shards of run %s: %d requests, %d failures, %s; written to %s\n",
			n, len(runs), merged.Meta.RunID, merged.Total.Requests, merged.Total.Failures, merged.Meta.Shape(), *out)
	}
	return ExitPass
}
