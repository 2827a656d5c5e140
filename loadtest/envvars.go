package loadtest

import (
	"flag"
	"fmt"
	"sort"
	"strings"
	"sync"
)

// envVarPrefix begins the environment variable of every -loadtest.* flag.
const envVarPrefix = "STEADYLOAD_"

// envVar is the environment variable that gives the flag named name:
// "loadtest.auth-header-env" is STEADYLOAD_AUTH_HEADER_ENV.
func envVar(name string) string {
	return envVarPrefix + strings.ToUpper(strings.ReplaceAll(strings.TrimPrefix(name, "loadtest."), "-", "_"))
}

// envVars are the STEADYLOAD_* variables as the flags of one flag set
// read them: once, at the first run, before anything of the run is
// resolved.
type envVars struct {
	lookup func(key string) (string, bool) // os.LookupEnv, or a map in tests
	once   sync.Once
	err    error
}

// apply gives the flags of fs their values from the environment, once;
// it returns the same error every time. Nil reads nothing.
func (e *envVars) apply(fs *flag.FlagSet) error {
	if e == nil {
		return nil
	}
	e.once.Do(func() { e.err = setFromEnv(fs, e.lookup) })
	return e.err
}

// setFromEnv sets every -loadtest.* flag of fs that the command line left
// unset to the value of its variable (envVar), when that is there and not
// empty: a flag given on the command line wins, and a variable set to ""
// counts as unset, as CI systems pass an empty input. A flag so set
// counts as set (isSetIn): it overrides the scenario's field as the flag
// would. A value the flag refuses is an error naming the variable; every
// such variable is reported.
func setFromEnv(fs *flag.FlagSet, lookup func(string) (string, bool)) error {
	onCommandLine := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { onCommandLine[f.Name] = true })
	var names []string
	fs.VisitAll(func(f *flag.Flag) {
		if strings.HasPrefix(f.Name, "loadtest.") && !onCommandLine[f.Name] {
			names = append(names, f.Name)
		}
	})
	sort.Strings(names)
	var bad []string
	for _, name := range names {
		key := envVar(name)
		v, ok := lookup(key)
		if !ok || v == "" {
			continue
		}
		if err := fs.Set(name, v); err != nil {
			bad = append(bad, fmt.Sprintf("environment %s=%q: invalid value for -%s: %v", key, redact(v), name, err))
		}
	}
	if len(bad) > 0 {
		return fmt.Errorf("%s", strings.Join(bad, "\n"))
	}
	return nil
}
