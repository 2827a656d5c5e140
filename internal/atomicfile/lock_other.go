//go:build !unix

package atomicfile

import "os"

// Without flock(2), only the in-process exclusion of Lock applies.
func lockFile(*os.File) error { return nil }

func unlockFile(*os.File) {}
