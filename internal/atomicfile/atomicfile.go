// Package atomicfile writes files so that a reader, or a crash at any point,
// sees either the old content or the new one, never a torn file.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
)

// Write writes the output of fill to path atomically: to a temporary file in
// the same directory, synced, then renamed over path. The directory is created
// if needed. On any error the temporary file is removed and path is untouched.
func Write(path string, fill func(w io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	f, err := os.CreateTemp(dir, tempPattern(filepath.Base(path)))
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err := fill(f); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	SyncDir(dir) // persist the rename
	return nil
}

// WriteBytes writes data to path atomically.
func WriteBytes(path string, data []byte) error {
	return Write(path, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// tempPattern is the name pattern of Write's temporary files for a file
// named base: hidden, ".<base>.tmp-<random>".
func tempPattern(base string) string { return "." + base + ".tmp-*" }

// RemoveTemps removes what Write left behind for path when its process
// died mid-write: the hidden temporaries beside it. The base name of path
// may be a filepath.Match pattern ("otava-*.csv"), to clean up after
// several files at once. Call it only under the lock that every writer of
// those files holds, or it may remove the temporary of a write under way.
func RemoveTemps(path string) error {
	dir := filepath.Dir(path)
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("remove temporary files: %w", err)
	}
	pattern := tempPattern(filepath.Base(path))
	var errs []error
	for _, e := range entries {
		if ok, _ := filepath.Match(pattern, e.Name()); !ok || e.IsDir() {
			continue
		}
		if err := os.Remove(filepath.Join(dir, e.Name())); err != nil && !errors.Is(err, fs.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("remove temporary files: %w", err)
	}
	return nil
}

// SyncDir makes the renames and removals in dir durable, best effort: a
// file system that cannot sync a directory is not an error.
func SyncDir(dir string) {
	if d, err := os.Open(dir); err == nil {
		d.Sync()
		d.Close()
	}
}

// ProbePrefix starts the name of Probe's temporary files.
const ProbePrefix = ".write-probe-"

// Probe checks, before anything is written, that files can be created in
// dir: it creates and removes a hidden temporary file (ProbePrefix) there
// or, when dir does not exist yet, in its nearest existing parent, where
// dir would be created. The error names the directory at fault.
func Probe(dir string) error { return probe(dir, os.CreateTemp) }

func probe(dir string, create func(dir, pattern string) (*os.File, error)) error {
	at := dir
	for {
		fi, err := os.Stat(at)
		if err == nil && !fi.IsDir() {
			if at == dir {
				return fmt.Errorf("%s is a file, not a directory", dir)
			}
			return fmt.Errorf("%s cannot be created: %s is a file, not a directory", dir, at)
		}
		if err == nil {
			break
		}
		// ENOTDIR: a parent is a file, found further up.
		if !errors.Is(err, fs.ErrNotExist) && !errors.Is(err, syscall.ENOTDIR) {
			return fmt.Errorf("cannot write in %s: %w", dir, err)
		}
		up := filepath.Dir(at)
		if up == at {
			return fmt.Errorf("cannot write in %s: %w", dir, err)
		}
		at = up
	}
	f, err := create(at, ProbePrefix+"*")
	if pe := (*fs.PathError)(nil); errors.As(err, &pe) {
		err = pe.Err // the directory is named below
	}
	if err != nil {
		if at != dir {
			return fmt.Errorf("cannot create %s: cannot write in %s: %w", dir, at, err)
		}
		return fmt.Errorf("cannot write in %s: %w", dir, err)
	}
	name := f.Name()
	f.Close()
	if err := os.Remove(name); err != nil {
		return fmt.Errorf("cannot write in %s: %w", at, err)
	}
	return nil
}
