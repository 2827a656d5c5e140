package pipeline

import (
	"fmt"

	"github.com/steadyload/steadyload/internal/atomicfile"
)

// ProbeDir checks, before any request, that a part can create files in
// dir, with probe, or atomicfile.Probe when nil (tests inject failures).
// what names the directory's role in the message; the probe's error
// names the directory.
func ProbeDir(probe func(dir string) error, what, dir string) error {
	if probe == nil {
		probe = atomicfile.Probe
	}
	if err := probe(dir); err != nil {
		return fmt.Errorf("%s: %w; nothing would record this run's outcome", what, err)
	}
	return nil
}
