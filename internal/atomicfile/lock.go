package atomicfile

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// ErrLocked is wrapped by Lock's error when another holder has the lock.
var ErrLocked = errors.New("locked by another run")

// held are the lock files this process holds: flock(2) locks belong to an
// open file, so a second Lock of the same path in this process must be
// refused here, not by the kernel.
var held sync.Map // absolute path → struct{}

// Lock takes an exclusive advisory lock on path (created if needed, with
// its directory), held until unlock is called or the process exits — a
// crash releases it. It does not wait: when another process, or another
// Lock in this one, holds it, the error wraps ErrLocked and names the
// holder's process id. The file is never removed, so two runs can never
// lock two different files of the same name.
func Lock(path string) (unlock func(), err error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if _, dup := held.LoadOrStore(abs, struct{}{}); dup {
		return nil, fmt.Errorf("lock %s: %w (this process, pid %d)", path, ErrLocked, os.Getpid())
	}
	release := func() { held.Delete(abs) }
	if err := os.MkdirAll(filepath.Dir(abs), 0o755); err != nil {
		release()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	f, err := os.OpenFile(abs, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		release()
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	if err := lockFile(f); err != nil {
		f.Close()
		release()
		if errors.Is(err, ErrLocked) {
			return nil, fmt.Errorf("lock %s: %w (pid %s)", path, ErrLocked, holder(abs))
		}
		return nil, fmt.Errorf("lock %s: %w", path, err)
	}
	// Record the holder for the next one's message; the lock, not the
	// content, is what excludes.
	if err := f.Truncate(0); err == nil {
		f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	}
	var once sync.Once
	return func() {
		once.Do(func() {
			unlockFile(f)
			f.Close()
			release()
		})
	}, nil
}

// holder reads the process id written in a lock file, or "unknown".
func holder(path string) string {
	b, err := os.ReadFile(path)
	if err != nil {
		return "unknown"
	}
	pid := strings.TrimSpace(string(b))
	if _, err := strconv.Atoi(pid); err != nil {
		return "unknown"
	}
	return pid
}

// LockWait is Lock, waiting up to wait while another holder has the lock:
// it tries again every 50 ms (flock(2) cannot wait with a deadline), and
// its error, once wait has passed, wraps ErrLocked.
func LockWait(path string, wait time.Duration) (unlock func(), err error) {
	deadline := time.Now().Add(wait)
	for {
		unlock, err := Lock(path)
		if !errors.Is(err, ErrLocked) {
			return unlock, err
		}
		left := time.Until(deadline)
		if left <= 0 {
			return nil, fmt.Errorf("%w; waited %s", err, wait)
		}
		time.Sleep(min(lockPoll, left))
	}
}

// lockPoll is how often LockWait tries again.
const lockPoll = 50 * time.Millisecond
